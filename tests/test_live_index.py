"""Pair search through each worker's long-lived index: a batch reads only what was committed since the
index last looked, and the pairs are those of a brute-force comparison however the archive is split."""

import random

import pytest

from catalogue.models import Collection, ImageFile
from dedup.fingerprinting import ensure_fingerprints, pending_ids
from dedup.models import CandidatePair, Fingerprint
from dedup.search import live_index, search_images
from tests import test_pairs
from tests.test_pairs import brute_force, pair_set, run
from tests.worker import Workers, import_photos, shared_broker, wait_for

archive = test_pairs.archive  # the same eight photos and variants
PAIR_COLUMNS = ("image_a", "image_b", "phash_distance", "orientation_distance", "crop_distance", "score")


def fingerprint_new():
    ids = pending_ids()
    ensure_fingerprints(ids)
    return ids


@pytest.mark.django_db
def test_a_batch_reads_only_the_fingerprints_committed_since_the_index_last_looked(archive, tmp_path):
    run("import_collection", str(archive), collection="Archive", no_progress=True)
    first = fingerprint_new()
    search_images(first)
    index = live_index()
    assert index.images == len(first) == 16
    more = tmp_path / "more"
    more.mkdir()
    for path in sorted(archive.iterdir())[:4]:
        (more / f"again-{path.name}").write_bytes(path.read_bytes())
    run("import_collection", str(more), collection="Second", no_progress=True)
    second = fingerprint_new()

    read = index.refresh()
    added = search_images(second)

    assert read == 4 and index.images == 20
    assert index.refresh() == 0  # nothing new: a batch then costs its own query only
    assert added >= 4  # each copy pairs with its original at least
    assert set(Fingerprint.objects.values_list("searched", flat=True)) == {True}
    assert pair_set() == brute_force()


@pytest.mark.django_db
def test_an_index_whose_database_was_restored_reloads_it(archive):
    run("import_collection", str(archive), collection="Archive", no_progress=True)
    Collection.objects.update(policy={"auto_settle": False})  # no decisions, so the pairs can be dropped
    run("find_duplicates", no_progress=True)
    index = live_index()
    assert index.images == 16
    # A restore from an older backup: the fingerprints are made again and get the same seq numbers.
    CandidatePair.objects.all().delete()
    Fingerprint.objects.all().delete()
    ImageFile.objects.update(state=ImageFile.State.PENDING)
    ids = pending_ids()
    random.Random(5).shuffle(ids)
    for image_id in ids[:12]:  # in another order, so the seq numbers name other images
        ensure_fingerprints([image_id])

    search_images(ids[:12])

    assert index.images == 12  # read again from the start: not 16, not 28
    assert pair_set() == brute_force()


@pytest.mark.django_db
@pytest.mark.parametrize("shards", [2, 4])
def test_the_same_pairs_with_the_index_in_one_two_or_four_shards(archive, shards):
    run("import_collection", str(archive), collection="Archive", no_progress=True)
    Collection.objects.update(policy={"auto_settle": False})  # no decisions, so the pairs can be dropped
    ids = fingerprint_new()
    search_images(ids)
    whole = set(CandidatePair.objects.values_list(*PAIR_COLUMNS))
    CandidatePair.objects.all().delete()
    Fingerprint.objects.update(searched=False, shards_searched=0)
    random.Random(shards).shuffle(ids)

    for start in range(0, len(ids), 5):
        batch = ids[start : start + 5]
        for shard in reversed(range(shards)):
            assert not Fingerprint.objects.filter(image_id__in=batch, searched=True).exists()
            search_images(batch, shard, shards)

    assert set(CandidatePair.objects.values_list(*PAIR_COLUMNS)) == whole
    assert set(Fingerprint.objects.values_list("searched", "shards_searched")) == {(True, 2**shards - 1)}
    assert sum(live_index(k, shards).images for k in range(shards)) == len(ids)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_shards_each_on_its_own_worker_find_exactly_the_pairs_brute_force_finds(
    photos, tmp_path, redis_url, _storage, settings, on_postgres
):
    broker = shared_broker()
    settings.MASTERCOPY_INDEX_SHARDS = 2
    settings.MASTERCOPY_BATCH_SIZE = 4
    workers = Workers(broker, _storage.parent, tmp_path)
    try:
        for queues in ("mastercopy", "mastercopy-index-0", "mastercopy-index-1"):
            workers.start(queues=queues, MASTERCOPY_INDEX_SHARDS=2, MASTERCOPY_BATCH_SIZE=4)
        chosen = [p for p in photos if p.name.startswith("ukbench")][:10]
        copies = [(f"copy-of-{p.name}", p.read_bytes()) for p in chosen]
        import_photos(chosen + copies, tmp_path / "archive", "Sharded")

        wait_for(
            lambda: Fingerprint.objects.filter(searched=True).count() == 20, 180, message="searched images"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.logs()}") from exc
    finally:
        workers.stop()

    assert pair_set() == brute_force()
    assert set(Fingerprint.objects.values_list("shards_searched", flat=True)) == {3}
    assert CandidatePair.objects.filter(same_bytes=True).count() == 10
    logs = "\n".join(w.output() for w in workers.started[1:])
    assert "shard 0 of 2" in logs and "shard 1 of 2" in logs


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_shard_worker_that_dies_is_replaced_and_nothing_is_lost_or_doubled(
    photos, tmp_path, redis_url, _storage, settings, on_postgres
):
    broker = shared_broker()
    settings.MASTERCOPY_INDEX_SHARDS = 2
    settings.MASTERCOPY_BATCH_SIZE = 2
    env = {"MASTERCOPY_INDEX_SHARDS": 2, "MASTERCOPY_BATCH_SIZE": 2}
    workers = Workers(broker, _storage.parent, tmp_path)
    try:
        workers.start(queues="mastercopy-index-0", **env)
        workers.start(queues="mastercopy-index-1", **env).kill()  # shard 1's only worker dies
        chosen = [p for p in photos if p.name.startswith("ukbench")][:8]
        copies = [(f"copy-of-{p.name}", p.read_bytes()) for p in chosen]
        import_photos(chosen + copies, tmp_path / "archive", "Sharded")
        workers.start(queues="mastercopy", **env)
        searched_by_shard_0 = Fingerprint.objects.filter(shards_searched=1)
        wait_for(lambda: searched_by_shard_0.count() == 16, 240, message="shard 0's searches")
        # Shard 1's batches wait in Redis for a worker: nothing is searched, nothing verified yet.
        assert not Fingerprint.objects.filter(searched=True).exists()
        assert not CandidatePair.objects.filter(verified=True).exists()
        workers.start(queues="mastercopy-index-1", **env)  # a new machine joins for shard 1

        wait_for(
            lambda: Fingerprint.objects.filter(searched=True).count() == 16, 240, message="searched images"
        )
        wait_for(lambda: not CandidatePair.objects.filter(verified=False).exists(), 240, message="verified")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.logs()}") from exc
    finally:
        workers.stop()

    assert pair_set() == brute_force()
    pairs = list(CandidatePair.objects.values_list("image_a", "image_b"))
    assert len(pairs) == len(set(pairs))
    assert set(Fingerprint.objects.values_list("shards_searched", flat=True)) == {3}
