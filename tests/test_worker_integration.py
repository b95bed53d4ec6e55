"""The pipeline with real processes: a Celery worker on Redis, sharing the test database and storage."""

import io
import os
import shutil

import pytest
from django.core.management import call_command

from catalogue.models import ImageFile
from dedup.fingerprinting import derivative_key
from dedup.models import CandidatePair, Fingerprint
from mastercopy.celery import app
from tests.worker import Worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(redis_url):
    from tests.conftest import need

    need(
        os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
        "integration tests need CELERY_BROKER_URL=redis://... (the in-process app sends to it)",
    )
    app.control.purge()  # nothing left over from an earlier, interrupted run
    return os.environ["CELERY_BROKER_URL"]


@pytest.fixture
def worker(broker, _storage, tmp_path):
    started = []

    def start(**options):
        w = Worker(broker, _storage.parent, tmp_path / f"worker{len(started)}.log", **options).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def import_photos(photos, tmp_path, count):
    root = tmp_path / "incoming"
    root.mkdir()
    for path in photos[:count]:
        shutil.copy(path, root / path.name)
    call_command(
        "import_collection", str(root), collection="Integration", no_progress=True, stdout=io.StringIO()
    )


def test_an_import_is_fingerprinted_by_a_real_worker(photos, tmp_path, worker):
    worker()

    import_photos(photos, tmp_path, 12)

    wait_for(lambda: not ImageFile.objects.filter(state="pending").exists(), 120, message="fingerprints")
    assert Fingerprint.objects.count() == 12
    assert not ImageFile.objects.filter(state="failed").exists()
    assert all(f.preview_key and f.thumbnail_key for f in Fingerprint.objects.all())


def test_four_concurrent_workers_find_exactly_the_pairs_brute_force_finds(photos, tmp_path, worker, settings):
    from tests.test_pairs import brute_force, pair_set

    settings.MASTERCOPY_BATCH_SIZE = 3  # many small tasks, so the four processes really interleave
    worker(concurrency=4)
    root = tmp_path / "archive"
    root.mkdir()
    for photo in [p for p in photos if p.name.startswith("ukbench")][:12]:
        shutil.copy(photo, root / photo.name)
        shutil.copy(photo, root / f"copy-of-{photo.name}")
    call_command(
        "import_collection", str(root), collection="Parallel", no_progress=True, stdout=io.StringIO()
    )

    wait_for(lambda: Fingerprint.objects.filter(searched=True).count() == 24, 180, message="searched images")

    assert pair_set() == brute_force()
    assert CandidatePair.objects.filter(same_bytes=True, tier="auto").count() == 12


def test_a_worker_killed_mid_batch_leaves_every_image_fingerprinted_exactly_once(
    photos, tmp_path, worker, _storage
):
    big = [p for p in photos if p.stat().st_size > 150_000][:30]
    first = worker()
    import_photos(big, tmp_path, len(big))
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
