"""Settings come from the environment; production refuses to start insecurely."""

import os
import subprocess
import sys

from tests.conftest import REPO


def manage(*args, **env):
    # The browser test sets DJANGO_ALLOW_ASYNC_UNSAFE for its own process; production never has it.
    unwanted = ("PYTEST_VERSION", "DEBUG", "SECRET_KEY", "MASTERCOPY_AUDIT_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in unwanted}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage("check", MASTERCOPY_DATA_DIR=str(tmp_path))

    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_check_deploy_passes_with_production_settings(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("k" * 20 + "-production-secret-key-with-enough-entropy-1234567890")
    audit_key_file = tmp_path / "audit-key"
    audit_key_file.write_text("a" * 20 + "-production-audit-key-kept-out-of-the-database")

    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        MASTERCOPY_DATA_DIR=str(tmp_path),
        SECRET_KEY_FILE=str(key_file),
        MASTERCOPY_AUDIT_KEY_FILE=str(audit_key_file),
        ALLOWED_HOSTS="archive.example.org",
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_database_and_broker_default_to_zero_setup_and_follow_the_environment(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME']);"
        "print(s.CELERY_BROKER_URL, s.STORAGES['default']['BACKEND'])"
    )
    default = manage(
        "shell",
        "-v",
        "0",
        "-c",
        code,
        DEBUG="1",
        MASTERCOPY_DATA_DIR=str(tmp_path),
        DATABASE_URL="",
        CELERY_BROKER_URL="",
    )
    configured = manage(
        "shell",
        "-v",
        "0",
        "-c",
        code,
        DEBUG="1",
        MASTERCOPY_DATA_DIR=str(tmp_path),
        DATABASE_URL="postgresql://u@db.example:5432/archive",
        CELERY_BROKER_URL="redis://cache:6379/1",
        MASTERCOPY_S3_BUCKET="originals",
    )

    assert default.stdout.split() == [
        "django.db.backends.sqlite3",
        str(tmp_path / "mastercopy.sqlite3"),
        "filesystem://",
        "django.core.files.storage.FileSystemStorage",
    ], default.stderr
    assert configured.stdout.split() == [
        "django.db.backends.postgresql",
        "archive",
        "redis://cache:6379/1",
        "storages.backends.s3.S3Storage",
    ], configured.stderr


def test_postgresql_sessions_run_without_jit_unless_asked(on_postgres, db, tmp_path):
    """JIT compiled a decision's record-group query for 23 ms on 600k pairs: off for the app's sessions."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
    code = "from django.conf import settings as s; print(s.DATABASES['default'].get('OPTIONS'))"
    url = "postgresql://u@db.example:5432/archive"
    asked = manage("shell", "-v", "0", "-c", code, DEBUG="1", MASTERCOPY_DATA_DIR=str(tmp_path),
                   DATABASE_URL=url, MASTERCOPY_PG_JIT="1")
    assert asked.stdout.strip() in ("{}", "None"), asked.stderr
