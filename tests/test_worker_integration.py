"""The pipeline with real processes: a Celery worker on Redis, sharing the test database and storage."""

import pytest

from catalogue.models import ImageFile
from dedup.fingerprinting import derivative_key
from dedup.models import CandidatePair, Fingerprint
from tests.worker import Workers, import_photos, shared_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(redis_url):
    return shared_broker()


@pytest.fixture
def worker(broker, _storage, tmp_path):
    workers = Workers(broker, _storage.parent, tmp_path)
    yield workers.start
    workers.stop()


def test_an_import_is_fingerprinted_by_a_real_worker(photos, tmp_path, worker):
    worker()

    import_photos(photos[:12], tmp_path / "incoming", "Integration")

    wait_for(lambda: not ImageFile.objects.filter(state="pending").exists(), 120, message="fingerprints")
    assert Fingerprint.objects.count() == 12
    assert not ImageFile.objects.filter(state="failed").exists()
    assert all(f.preview_key and f.thumbnail_key for f in Fingerprint.objects.all())


def test_four_concurrent_workers_find_exactly_the_pairs_brute_force_finds(photos, tmp_path, worker, settings):
    from tests.test_pairs import brute_force, pair_set

    settings.MASTERCOPY_BATCH_SIZE = 3  # many small tasks, so the four processes really interleave
    worker(concurrency=4)
    chosen = [p for p in photos if p.name.startswith("ukbench")][:12]
    copies = [(f"copy-of-{p.name}", p.read_bytes()) for p in chosen]
    import_photos(chosen + copies, tmp_path / "archive", "Parallel")

    wait_for(lambda: Fingerprint.objects.filter(searched=True).count() == 24, 180, message="searched images")

    assert pair_set() == brute_force()
    assert CandidatePair.objects.filter(same_bytes=True, tier="auto").count() == 12


def test_a_worker_killed_mid_batch_leaves_every_image_fingerprinted_exactly_once(
    photos, tmp_path, worker, _storage
):
    big = [p for p in photos if p.stat().st_size > 150_000][:30]
    first = worker()
    import_photos(big, tmp_path / "incoming", "Integration")
    total = ImageFile.objects.count()

    wait_for(lambda: Fingerprint.objects.count() >= 3, 120, interval=0.1, message="the first fingerprints")
    first.kill()
    done_at_kill = Fingerprint.objects.count()
    assert done_at_kill < total, "the batch finished before the kill; the test proves nothing"
    worker()

    wait_for(lambda: Fingerprint.objects.count() == total, 180, message="all fingerprints after the restart")
    assert not ImageFile.objects.exclude(state="ready").exists()
    assert Fingerprint.objects.values("image").distinct().count() == total
    expected = {
        derivative_key(sha, kind)
        for sha in ImageFile.objects.values_list("sha256", flat=True)
        for kind in ("preview", "thumbnail")
    }
    on_disk = {str(p.relative_to(_storage)) for p in (_storage / "derivatives").rglob("*.jpg")}
    assert on_disk == expected  # nothing orphaned, nothing missing
