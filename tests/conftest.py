"""Shared fixtures: personas, storage in a temporary folder, real photos, real services."""

import io
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_PHOTOS = REPO.parent / "shared" / "data" / "photos"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition, reason):
    """Skip with the reason when a service or file is absent; under CI=true that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def tcp_open(url, default_port):
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _django_loaded(request):
    # The pure-Python cores' tests also run with `-p no:django`; then there is nothing to configure.
    return request.config.pluginmanager.hasplugin("django")


@pytest.fixture(autouse=True)
def _storage(request, tmp_path):
    """Every test stores originals and derivatives in its own folder."""
    if not _django_loaded(request):
        return None
    settings = request.getfixturevalue("settings")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def _audit_checkpoints(request, tmp_path):
    """Every test notes the decision chain's head in its own file: each test has a new database, and a
    checkpoint left by another test's chain would read as events deleted from this one."""
    if not _django_loaded(request):
        return None
    path = tmp_path / "audit-checkpoints.jsonl"
    request.getfixturevalue("settings").MASTERCOPY_AUDIT_CHECKPOINTS = str(path)
    return path


@pytest.fixture(autouse=True)
def _fresh_search_index(request):
    """Each test's database is rolled back, and SQLite then hands out the same ids and sequence numbers
    again, which dedup.search's staleness check cannot tell apart: no process-wide search index may
    outlive the test that filled it."""
    yield
    if _django_loaded(request):
        from dedup import search

        with search._LIVE_LOCK:
            search._LIVE.clear()


@pytest.fixture(autouse=True)
def _english(request):
    """Every test starts in the default language: a test that switched the thread's language (a page in
    Chinese, a command run under a user's language) must not change the messages the next one reads."""
    if not _django_loaded(request):
        yield
        return
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """In-process tests run tasks eagerly; integration tests talk to a real worker instead."""
    if not _django_loaded(request):
        yield
        return
    from mastercopy.celery import app

    eager = request.node.get_closest_marker("integration") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def personas(db):
    from django.contrib.auth.models import Group, User

    from catalogue.roles import ADMINISTRATOR, CATALOGUER, SUPERVISOR, ensure_roles

    ensure_roles()
    people = {}
    for name, group in (
        ("administrator", ADMINISTRATOR),
        ("cataloguer", CATALOGUER),
        ("supervisor", SUPERVISOR),
        ("outsider", None),
    ):
        user = User.objects.create_user(name, password="correct horse battery staple")
        if group:
            user.groups.add(Group.objects.get(name=group))
        people[name] = user
    return people


@pytest.fixture
def client_for(client, personas):
    def login(name):
        client.force_login(personas[name])
        return client

    return login


@pytest.fixture
def collection(db):
    from catalogue.models import Collection

    return Collection.objects.create(name="Harbour Photographs", institution="City Archive")


def jpeg_bytes(size=(64, 48), color=(200, 30, 30), quality=90, pattern=True):
    image = Image.new("RGB", size, color)
    if pattern:
        for x in range(0, size[0], 8):
            for y in range(0, size[1], 8):
                if (x // 8 + y // 8) % 2:
                    image.putpixel((x, y), (x % 256, y % 256, 128))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(size=(64, 48), color=(10, 120, 200)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def photos():
    """Real photographs from ../shared (never copied into the repository)."""
    need(SHARED_PHOTOS.is_dir(), f"the shared photos are not at {SHARED_PHOTOS}")
    return sorted(SHARED_PHOTOS.iterdir())


@pytest.fixture
def redis_url():
    url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    need(url.startswith("redis://"), "CELERY_BROKER_URL does not name a Redis server")
    need(tcp_open(url, 6379), f"Redis is not answering at {url}")
    return url


@pytest.fixture
def on_postgres(settings):
    need(
        settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql",
        "this test needs PostgreSQL (set DATABASE_URL=postgresql://...)",
    )
