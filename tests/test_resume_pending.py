"""dedup.tasks.resume_pending and publish: work whose message never reached the broker is found again.

In-process, tasks run eagerly; tests/test_failure_recovery.py does the same with real processes.
"""

import logging
import random
from contextlib import contextmanager
from unittest import mock

import pytest
from kombu.exceptions import OperationalError as BrokerError

from catalogue.models import ImageFile
from catalogue.variants import make_variant
from dedup import tasks
from dedup.fingerprinting import ensure_fingerprints
from dedup.models import CandidatePair, Fingerprint
from tests.test_pairs import brute_force, pair_set, run

# Committed transactions, so the import's and the tasks' on_commit hand-offs really happen.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def archive(photos, tmp_path):
    """Four photos (two of them one UKBench object) and an exact, a rotated, a bordered, a resized copy."""
    rng = random.Random(5)
    chosen = [p for p in photos if p.name.startswith("ukbench")][:2] + [
        p for p in photos if not p.name.startswith("ukbench")
    ][:2]
    root = tmp_path / "archive"
    root.mkdir()
    for photo, kind in zip(chosen, ("identical", "rotated-90", "bordered", "resized"), strict=True):
        (root / photo.name).write_bytes(photo.read_bytes())
        variant = make_variant(photo, kind, rng=random.Random(rng.random()))
        (root / variant.filename).write_bytes(variant.data)
    return root


@contextmanager
def broker_refuses(task):
    """Publishing this task fails as it does once the publish retries are spent on an absent broker."""
    refused = BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with mock.patch.object(type(task._get_current_object()), "delay", side_effect=refused) as delay:
        yield delay


def assert_everything_done():
    assert not ImageFile.objects.exclude(state=ImageFile.State.READY).exists()
    assert not Fingerprint.objects.filter(searched=False).exists()
    assert not CandidatePair.objects.filter(verified=False).exists()
    assert pair_set() == brute_force()


def test_an_import_while_the_broker_is_away_is_stored_and_fingerprinted_by_the_next_resume(
    archive, caplog, settings
):
    settings.MASTERCOPY_BATCH_SIZE = 2
    with broker_refuses(tasks.fingerprint_batch) as delay, caplog.at_level(logging.WARNING, "dedup.tasks"):
        run("import_collection", str(archive), collection="Archive", no_progress=True)

    assert delay.call_count == 1  # not once per batch: each attempt waits through the publish retries
    assert "broker unreachable, dedup.tasks.fingerprint_batch not enqueued" in caplog.text
    assert ImageFile.objects.filter(state=ImageFile.State.PENDING).count() == 8

    counts = tasks.resume_pending.delay().get()

    assert counts == {"images to fingerprint": 8, "images to search": 0, "pairs to verify": 0}
    assert_everything_done()


def test_fingerprints_whose_search_message_was_lost_are_searched_and_verified_by_the_next_resume(archive):
    with broker_refuses(tasks.search_batch):
        run("import_collection", str(archive), collection="Archive", no_progress=True)
    assert Fingerprint.objects.filter(searched=False).count() == 8
    assert not CandidatePair.objects.exists()

    counts = tasks.resume_pending.delay().get()

    assert counts["images to search"] == 8
    assert_everything_done()
    assert CandidatePair.objects.filter(same_bytes=True, tier=CandidatePair.Tier.AUTO).count() == 1


def test_pairs_whose_verification_message_was_lost_are_verified_by_the_next_resume(archive):
    with broker_refuses(tasks.verify_batch):
        run("import_collection", str(archive), collection="Archive", no_progress=True)
    waiting = CandidatePair.objects.filter(verified=False).count()
    assert waiting > 0

    counts = tasks.resume_pending.delay().get()

    assert counts == {"images to fingerprint": 0, "images to search": 0, "pairs to verify": waiting}
    assert_everything_done()


def test_a_resume_with_nothing_stranded_changes_nothing(archive):
    run("import_collection", str(archive), collection="Archive", no_progress=True)
    assert_everything_done()
    pairs = sorted(CandidatePair.objects.values_list("pk", "tier", "updated_at"))

    counts = tasks.resume_pending.delay().get()

    assert counts == {"images to fingerprint": 0, "images to search": 0, "pairs to verify": 0}
    assert sorted(CandidatePair.objects.values_list("pk", "tier", "updated_at")) == pairs


def test_a_missing_original_holds_up_neither_its_batch_nor_later_resumes(archive, _storage):
    with broker_refuses(tasks.fingerprint_batch):
        run("import_collection", str(archive), collection="Archive", no_progress=True)
    unique = [
        i for i in ImageFile.objects.order_by("pk") if ImageFile.objects.filter(sha256=i.sha256).count() == 1
    ]
    missing = unique[0]
    stored = _storage / missing.storage_key
    original = stored.read_bytes()
    stored.unlink()

    with pytest.raises(FileNotFoundError):
        ensure_fingerprints(list(ImageFile.objects.values_list("pk", flat=True)))

    missing.refresh_from_db()
    assert missing.state == ImageFile.State.PENDING
    assert missing.last_error.startswith("storage error, will be retried")
    assert ImageFile.objects.filter(state=ImageFile.State.READY).count() == 7
    stored.write_bytes(original)  # the storage is back

    tasks.resume_pending.delay().get()

    assert_everything_done()


def test_a_sharded_index_gets_each_fingerprinted_batch_straight_on_its_shard_queues(archive, settings):
    """No dispatching task on the default queue, where it would wait behind verify batches."""
    settings.MASTERCOPY_INDEX_SHARDS = 2
    task = type(tasks.search_batch._get_current_object())
    sent, original = [], task.apply_async

    def apply_async(self, args=None, kwargs=None, **options):
        sent.append((tuple(args[0]), args[1], options.get("queue")))
        return original(self, args, kwargs, **options)

    dispatched = AssertionError("a search batch was sent to the default queue")
    with (
        mock.patch.object(task, "apply_async", apply_async),
        mock.patch.object(task, "delay", side_effect=dispatched),
    ):
        run("import_collection", str(archive), collection="Archive", no_progress=True)

    fingerprinted = sorted(Fingerprint.objects.values_list("image_id", flat=True))
    assert len(fingerprinted) == 8
    for shard in (0, 1):
        mine = [(ids, queue) for ids, k, queue in sent if k == shard]
        assert {queue for _, queue in mine} == {f"mastercopy-index-{shard}"}
        assert sorted(i for ids, _ in mine for i in ids) == fingerprinted  # every image, once per shard
    assert set(Fingerprint.objects.values_list("shards_searched", flat=True)) == {3}
    assert_everything_done()
