"""Findings 5 and 9 of the security review: guessing passwords, and API tokens that outlive them.

Each test names the attack. Login limits: every way of presenting a password is limited, per account
and per address separately, with the address believed from X-Forwarded-For only when a trusted proxy
sent it, and the counters shared by every process (Redis). Tokens: stored as digests, expiring, and
revoked when the password changes or the account is deactivated."""

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
import yaml
from django.apps import apps
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from mastercopy import auth
from tests.conftest import REPO

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(personas):
    user = personas["administrator"]
    user.is_staff = True
    user.save()
    return user


def page_login(client, username, password, **headers):
    return client.post(reverse("login"), {"username": username, "password": password}, **headers)


def admin_login(client, username, password, **headers):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, **headers
    )


def token_login(username, password, **headers):
    credentials = {"username": username, "password": password}
    return APIClient().post("/api/token/", credentials, format="json", **headers)


def signed_in(client):
    return "_auth_user_id" in client.session


# --- every login path ---------------------------------------------------------------------------------


def test_admin_login_is_limited(client, staff, settings):
    """Attack: guess an administrator's password at /admin/login/, which had no failure limit at all.
    After the limit, even the right password is refused there, with 429."""
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    for _attempt in range(3):
        assert admin_login(client, "administrator", "guess").status_code == 200
        assert not signed_in(client)

    locked = admin_login(client, "administrator", PASSWORD)

    assert locked.status_code == 429 and "Too many failed attempts" in locked.content.decode()
    assert not signed_in(client)


def test_failures_on_every_path_add_up_for_one_account(client, staff, settings):
    """Attack: spread the guesses over the login page, /admin/login/ and the token endpoint so that no
    single path sees many. They share one counter per account."""
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    page_login(client, "administrator", "guess-1")
    admin_login(client, "administrator", "guess-2")
    token_login("administrator", "guess-3")

    assert token_login("administrator", PASSWORD).status_code == 429
    assert page_login(client, "administrator", PASSWORD).status_code == 429
    assert admin_login(client, "administrator", PASSWORD).status_code == 429
    assert not signed_in(client)


def test_the_limit_holds_below_the_views(staff, settings):
    """Attack: any code path that calls authenticate() directly (a future view, a DRF basic-auth class)
    must be limited too: the backend itself refuses once the account is locked."""
    from django.contrib.auth import authenticate

    settings.MASTERCOPY_LOGIN_FAILURES = 2
    assert authenticate(None, username="administrator", password="x") is None
    assert authenticate(None, username="administrator", password="y") is None

    assert authenticate(None, username="administrator", password=PASSWORD) is None
    cache.clear()
    assert authenticate(None, username="administrator", password=PASSWORD) == staff


# --- per account and per address, separately -----------------------------------------------------------


def test_one_locked_account_does_not_lock_everyone_behind_the_same_address(client, personas, settings):
    """Attack (on availability): from an office or proxy that all staff share, exhaust one account's
    failures. Only that account is locked; a colleague at the same address still signs in."""
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    for _attempt in range(3):
        page_login(client, "cataloguer", "guess")

    assert page_login(client, "cataloguer", PASSWORD).status_code == 429
    colleague = page_login(client, "supervisor", PASSWORD)
    assert colleague.status_code == 302 and signed_in(client)


def test_one_address_trying_many_accounts_is_limited_by_address(client, personas, settings):
    """Attack: a few guesses at each of many accounts, staying under the per-account limit. The
    address's own counter (a larger limit) stops it, even for an account it never tried."""
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    settings.MASTERCOPY_LOGIN_ADDRESS_FAILURES = 6
    for name in ("cataloguer", "supervisor", "outsider"):
        for _attempt in range(2):
            page_login(client, name, "guess")

    assert page_login(client, "administrator", PASSWORD).status_code == 429
    elsewhere = page_login(client, "administrator", PASSWORD, REMOTE_ADDR="198.51.100.20")
    assert elsewhere.status_code == 302


# --- the client address and trusted proxies ------------------------------------------------------------


def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, personas, settings):
    """Attack: send a new X-Forwarded-For with every guess to look like a new address each time. With no
    trusted proxy configured the header is not believed: the peer's address is counted."""
    settings.MASTERCOPY_LOGIN_FAILURES = 100
    settings.MASTERCOPY_LOGIN_ADDRESS_FAILURES = 4
    for n in range(4):
        page_login(client, f"nobody-{n}", "guess", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert page_login(client, "cataloguer", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(client, personas, settings):
    """Attack (on availability): everyone reaches the app through one reverse proxy. One client's
    failures must not lock the others out, so their addresses come from the proxy's X-Forwarded-For."""
    settings.MASTERCOPY_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.MASTERCOPY_LOGIN_FAILURES = 100
    settings.MASTERCOPY_LOGIN_ADDRESS_FAILURES = 4
    for n in range(4):
        page_login(client, f"nobody-{n}", "guess", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert page_login(client, "cataloguer", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    other = page_login(client, "cataloguer", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 302


def test_behind_a_trusted_proxy_a_forged_forwarded_for_entry_does_not_help(client, personas, settings):
    """Attack: behind the proxy, prepend invented addresses to X-Forwarded-For (the proxy appends the
    real one). The rightmost address not of a trusted proxy is the one counted."""
    settings.MASTERCOPY_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    settings.MASTERCOPY_LOGIN_FAILURES = 100
    settings.MASTERCOPY_LOGIN_ADDRESS_FAILURES = 4
    for n in range(4):
        forged = f"192.0.2.{n}, 203.0.113.5, 10.1.2.3"
        page_login(client, f"nobody-{n}", "guess", HTTP_X_FORWARDED_FOR=forged)

    forged = "192.0.2.77, 203.0.113.5, 10.1.2.3"
    again = page_login(client, "cataloguer", PASSWORD, HTTP_X_FORWARDED_FOR=forged)
    assert again.status_code == 429


def test_the_address_is_the_last_untrusted_hop(rf, settings):
    settings.MASTERCOPY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5, 10.9.9.9")
    assert auth.client_address(request) == "203.0.113.5"
    direct = rf.get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert auth.client_address(direct) == "198.51.100.1"
    garbage = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert auth.client_address(garbage) == "10.0.0.2"


# --- shared counters -----------------------------------------------------------------------------------


def test_docker_compose_gives_the_web_processes_a_shared_redis_cache():
    """Attack: with a per-process cache, each of gunicorn's workers counts failures on its own, so the
    limit is multiplied by the number of workers. docker-compose must point the cache at Redis."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("web", "worker"):
        assert services[name]["environment"]["CACHE_URL"].startswith("redis://redis:6379/"), name
    assert services["web"]["environment"]["CACHE_URL"] != services["web"]["environment"]["CELERY_BROKER_URL"]


@pytest.mark.integration
def test_failures_in_separate_processes_count_together_through_redis(redis_url, settings, tmp_path):
    """Two processes (as two gunicorn workers) each record failures through CACHE_URL; this process
    then finds the account locked, so the limit is not per process."""
    cache_url = redis_url
    redis_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": cache_url}
    settings.CACHES = {"default": redis_cache}
    settings.MASTERCOPY_LOGIN_FAILURES = 2
    name = f"shared-{uuid.uuid4().hex}"
    code = f"from mastercopy import auth; auth.record_failure(auth.failure_keys({name!r}, '203.0.113.8'))"
    env = {**os.environ, "CACHE_URL": cache_url, "MASTERCOPY_DATA_DIR": str(tmp_path), "DEBUG": "1"}
    for _process in range(2):
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    try:
        assert auth.locked_out(auth.failure_keys(name, "198.51.100.1"))
    finally:
        cache.delete_many(auth.failure_keys(name, "203.0.113.8"))


# --- API tokens ----------------------------------------------------------------------------------------


def _token(username="cataloguer"):
    response = token_login(username, PASSWORD)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _works(token):
    return APIClient(headers={"Authorization": f"Token {token}"}).get("/api/collections/").status_code == 200


def test_tokens_are_stored_only_as_digests(personas):
    """Attack: read the token table (a backup, a read-only database account) and use what is there.
    Only a one-way digest is stored; the token itself appears nowhere in the database."""
    token = _token()

    stored = AuthToken.objects.get(user=personas["cataloguer"])
    assert stored.digest != token and token not in stored.digest
    assert not _works(stored.digest) and _works(token)
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                assert token not in " ".join(map(str, row)), (table, columns)


def test_a_token_expires(personas, settings):
    """Attack: use a token found in an old script or log, long after it was issued."""
    token = _token()
    response = token_login("cataloguer", PASSWORD).json()
    assert timezone.now() + timedelta(days=29) < timezone.datetime.fromisoformat(response["expiry"])

    AuthToken.objects.filter(user=personas["cataloguer"]).update(expiry=timezone.now() - timedelta(seconds=1))

    assert not _works(token)


def test_changing_the_password_revokes_the_tokens(personas):
    """Attack: a token obtained with a password that has since been changed (because it leaked)."""
    token = _token()
    assert _works(token)
    user = User.objects.get(username="cataloguer")

    user.set_password("a completely new passphrase")
    user.save()

    assert not _works(token)
    assert AuthToken.objects.filter(user=user).count() == 0


def test_signing_in_again_does_not_revoke_the_tokens(client, personas):
    """The revocation must not fire on every save of the user (each sign-in saves last_login)."""
    token = _token()
    assert page_login(client, "cataloguer", PASSWORD).status_code == 302
    user = User.objects.get(username="cataloguer")
    user.first_name = "Ada"
    user.save()

    assert _works(token)


def test_deactivating_the_account_revokes_the_tokens_for_good(personas):
    """Attack: a departed colleague's token, used after the account is switched off, or after it is
    switched back on for someone else's inspection."""
    token = _token()
    user = User.objects.get(username="cataloguer")

    user.is_active = False
    user.save()
    refused_while_inactive = _works(token)
    user.is_active = True
    user.save()

    assert not refused_while_inactive
    assert not _works(token)


def test_existing_plain_text_tokens_are_hashed_and_keep_working(personas):
    """Upgrade: tokens that rest_framework.authtoken stored in plain text become knox digests with an
    expiry; the plain copies are deleted, and the clients holding them carry on."""
    key = "a" * 40
    user = personas["supervisor"]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, timezone.now(), user.pk])
    migration = __import__("api.migrations.0001_hash_existing_tokens", fromlist=["carry_over"])

    migration.carry_over(apps, connection.schema_editor())

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
        cursor.execute("DROP TABLE authtoken_token")
    stored = AuthToken.objects.get(user=user)
    assert stored.digest != key and stored.expiry > timezone.now()
    assert _works(key)
