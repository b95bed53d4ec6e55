"""Failures with real processes: Redis restarted and PostgreSQL refusing connections in the middle of a run.

Each run must end, after recovery and with nobody stepping in, with every image fingerprinted exactly once,
exactly the candidate pairs brute force finds (none lost, none doubled), every pair verified and every
record still there. The SIGKILLed worker is in test_worker_integration.py.
"""

import random
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connections
from psycopg import sql

from catalogue.models import CatalogueRecord, ImageFile
from catalogue.variants import make_variant
from dedup.fingerprinting import derivative_key
from dedup.models import CandidatePair, Fingerprint
from tests.conftest import REPO, need
from tests.worker import RedisServer, Workers, import_photos, process_env, shared_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KINDS = ("identical", "resized", "recompressed", "rotated-90", "mirrored", "bordered", "greyscale", "cropped")
# Small batches, so a run is many tasks and a failure lands between some of them and inside others.
BATCH_SIZE = 3
# The worker looks for stranded work this often (production default: 60 s).
RESUME_SECONDS = 3


@pytest.fixture
def corpus(photos):
    """Twelve photos (four of them one UKBench object: hard negatives) and a variant of eight of them."""
    rng = random.Random(11)
    chosen = [p for p in photos if p.name.startswith("ukbench")][:4] + [
        p for p in photos if not p.name.startswith("ukbench") and p.stat().st_size > 100_000
    ][:8]
    files = [(p.name, p.read_bytes()) for p in chosen]
    for photo, kind in zip(chosen, KINDS, strict=False):
        variant = make_variant(photo, kind, rng=random.Random(rng.random()))
        files.append((variant.filename, variant.data))
    return files


@pytest.fixture
def workers(_storage, tmp_path):
    started = []

    def start(broker_url, **options):
        group = Workers(broker_url, _storage.parent, tmp_path / f"workers{len(started)}")
        group.log_dir.mkdir()
        started.append(group)
        return group

    yield start
    for group in started:
        group.stop()


def settled():
    """Nothing left to do: every image fingerprinted, searched, and every pair verified."""
    return (
        not ImageFile.objects.filter(state=ImageFile.State.PENDING).exists()
        and not Fingerprint.objects.filter(searched=False).exists()
        and not CandidatePair.objects.filter(verified=False).exists()
    )


def assert_complete(corpus, storage):
    from tests.test_pairs import brute_force, pair_set

    names = sorted(name for name, _ in corpus)
    assert sorted(ImageFile.objects.values_list("source_path", flat=True)) == names
    assert sorted(CatalogueRecord.objects.values_list("images__source_path", flat=True)) == names
    assert not ImageFile.objects.exclude(state=ImageFile.State.READY).exists()
    assert Fingerprint.objects.count() == len(names)
    assert Fingerprint.objects.values("image").distinct().count() == len(names)
    pairs = list(CandidatePair.objects.values_list("image_a", "image_b"))
    assert len(pairs) == len(set(pairs))
    assert pair_set() == brute_force()
    assert CandidatePair.objects.filter(same_bytes=True).count() == 1  # the identical copy
    expected = {
        derivative_key(sha, kind)
        for sha in ImageFile.objects.values_list("sha256", flat=True)
        for kind in ("preview", "thumbnail")
    }
    on_disk = {str(p.relative_to(storage)) for p in (storage / "derivatives").rglob("*.jpg")}
    assert on_disk == expected  # nothing orphaned, nothing missing


def wait_settled(group, timeout):
    try:
        wait_for(settled, timeout, message="the run to settle after recovery")
    except AssertionError:
        print(group.logs())
        raise


@pytest.fixture
def private_redis(tmp_path):
    need(shutil.which("redis-server"), "redis-server is not installed")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("outage", "batch_size"),
    [
        # Many small tasks; publishing retries through the outage.
        (3, BATCH_SIZE),
        # Longer than the publish retries (~10 s): messages the worker meant to send are never sent, and only
        # the worker's own resume finds that work again.
        (15, BATCH_SIZE),
        # One batch of everything: a task in flight while the consumer waits for more, the case that made
        # celery 5.7.0's worker die instead of reconnecting (mastercopy.celery.Consumer).
        (3, 100),
    ],
    ids=["short-outage", "long-outage", "one-batch-in-flight"],
)
def test_a_redis_restart_mid_run_loses_no_work_and_doubles_none(
    corpus, private_redis, workers, _storage, tmp_path, outage, batch_size
):
    group = workers(private_redis.url)
    # Production's visibility timeout: a message stranded in Redis's unacknowledged set by the restart would
    # wait an hour for redelivery; the worker's own resume must find that work.
    group.start(
        concurrency=2,
        visibility_timeout=3600,
        MASTERCOPY_RESUME_SECONDS=RESUME_SECONDS,
        MASTERCOPY_BATCH_SIZE=batch_size,
    )
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name, data in corpus:
        (incoming / name).write_bytes(data)
    # A separate process imports, as the web server or the command would, and publishes to the private Redis.
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_collection",
            str(incoming),
            "--collection",
            "Archive",
            "--no-progress",
        ],
        cwd=REPO,
        env=process_env(private_redis.url, _storage.parent, MASTERCOPY_BATCH_SIZE=batch_size),
        check=True,
        capture_output=True,
    )

    wait_for(lambda: Fingerprint.objects.count() >= 3, 60, interval=0.05, message="the first fingerprints")
    private_redis.kill()
    assert not settled(), "the run finished before Redis died; the test proves nothing"
    time.sleep(outage)
    private_redis.start()

    wait_settled(group, 90)
    assert_complete(corpus, _storage)


@pytest.fixture
def refuse_connections(on_postgres, settings):
    """A context that makes PostgreSQL refuse (and drop) connections to the test database only."""
    db = settings.DATABASES["default"]
    params = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    name = sql.Identifier(db["NAME"])

    def allow(admin, allowed):
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(name, sql.Literal(allowed)))

    @contextmanager
    def refusing():
        with psycopg.connect(**params) as admin:
            allow(admin, False)
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [db["NAME"]],
                )
                yield
            finally:
                allow(admin, True)
        connections.close_all()  # this test's own connection was dropped too

    return refusing


def test_postgresql_refusing_connections_mid_run_loses_no_work_and_doubles_none(
    corpus, refuse_connections, redis_url, workers, _storage, tmp_path, settings
):
    settings.MASTERCOPY_BATCH_SIZE = BATCH_SIZE
    group = workers(shared_broker())
    group.start(concurrency=2, MASTERCOPY_RESUME_SECONDS=RESUME_SECONDS)
    import_photos(corpus, tmp_path / "incoming", "Archive")

    wait_for(lambda: Fingerprint.objects.count() >= 3, 60, interval=0.05, message="the first fingerprints")
    assert not settled(), "the run finished before PostgreSQL refused connections; the test proves nothing"
    with refuse_connections():
        time.sleep(6)

    # Retries back off with jitter: after ~6 failures a batch may wait up to a minute for its next try.
    wait_settled(group, 180)
    assert_complete(corpus, _storage)
