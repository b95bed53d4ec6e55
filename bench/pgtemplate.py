"""Template databases for the benches on PostgreSQL: an archive seeded once and kept as a template
database, copied for every run (CREATE DATABASE ... TEMPLATE: seconds, where seeding takes minutes), the
copy dropped after it. bench/exact.py, groups.py, review.py and scale.py use it.

Names: each bench derives its databases' names from the one DATABASE_URL names (base_name): templates
<base>_tpl_..., run copies <base>_run... (scale: <base>_n<N>). Nothing here lists, drops or renames any
other database: the server holds other people's templates too.

A template is built as <template>_new and renamed only when complete, so a run stopped while seeding
(Ctrl-C, the OOM killer, a reboot) never leaves a half-seeded template that a later run would copy as if
whole; a <template>_new left behind is dropped and built again.

When DATABASE_URL does not name PostgreSQL, or PostgreSQL does not answer (or refuses the connection),
the bench says so in one line and exits 2 (require, admin).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

SCRATCH = "_new"  # suffix of a template being built
MAX_NAME = 63  # bytes of a PostgreSQL identifier: a longer name is cut, and the template never found again


def _bench():
    return f"bench/{Path(sys.argv[0]).name}"


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def with_db(url, name):
    """url naming database name instead."""
    return urlparse(url)._replace(path=f"/{name}").geturl()


def base_name(url, default):
    """The database url names (default when it names none): the stem of every name a bench makes."""
    return urlparse(url).path.lstrip("/") or default


def require(url):
    """url, when it names a PostgreSQL server that answers; else says which it is not and exits 2."""
    if not url.startswith(("postgres://", "postgresql://")):
        fail(f"{_bench()} measures PostgreSQL: set DATABASE_URL=postgresql://...")
    admin(url).close()
    return url


def admin(url):
    """An autocommit connection to the server's postgres database (CREATE and DROP DATABASE cannot run in
    a transaction, nor connected to the database they name). Exits 2 when PostgreSQL does not answer."""
    import psycopg

    try:
        return psycopg.connect(with_db(url, "postgres"), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        parsed = urlparse(url)
        where = f"{parsed.hostname or 'localhost'}:{parsed.port or 5432}"
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        fail(f"{_bench()}: cannot connect to PostgreSQL at {where} ({reason})")


def _name(name):
    from psycopg import sql

    if len(name.encode()) > MAX_NAME:
        fail(f"{_bench()}: the database name {name} is longer than {MAX_NAME} bytes (name a shorter one)")
    return sql.Identifier(name)


def _run(conn, statement, *names):
    from psycopg import sql

    conn.execute(sql.SQL(statement).format(*map(_name, names)))


def exists(url, name):
    with admin(url) as conn:
        return _exists(conn, name)


def _exists(conn, name):
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def newest(url, prefix):
    """The most recently made complete template whose name starts with prefix, or None."""
    with admin(url) as conn:
        row = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND right(datname, %s) <> %s "
            "ORDER BY oid DESC LIMIT 1",
            [prefix, len(SCRATCH), SCRATCH],
        ).fetchone()
    return row[0] if row else None


def ensure(url, template, fill, *, source=None, rebuild=False):
    """Make the database template unless it exists (rebuild: make it again), as <template>_new, empty or
    (source) a copy of database source, which fill(name) fills; renamed template when fill returns. When
    fill fails, what it built is dropped and the error raised. True when the template was made now."""
    scratch = template + SCRATCH
    _name(scratch)
    with admin(url) as conn:
        if _exists(conn, template):
            if not rebuild:
                return False
            _run(conn, "DROP DATABASE {}", template)
        _run(conn, "DROP DATABASE IF EXISTS {}", scratch)
        if source is None:
            _run(conn, "CREATE DATABASE {}", scratch)
        else:
            _run(conn, "CREATE DATABASE {} TEMPLATE {}", scratch, source)
        try:
            fill(scratch)
        except BaseException:
            release()
            _run(conn, "DROP DATABASE IF EXISTS {}", scratch)
            raise
        release()  # no connection may stay on a database renamed, or copied
        _run(conn, "ALTER DATABASE {} RENAME TO {}", scratch, template)
    return True


def copy(url, template, name):
    """A fresh database name, a copy of template (one of the same name before is dropped first)."""
    with admin(url) as conn:
        _run(conn, "DROP DATABASE IF EXISTS {}", name)
        _run(conn, "CREATE DATABASE {} TEMPLATE {}", name, template)
    return name


def drop(url, name):
    release()
    with admin(url) as conn:
        _run(conn, "DROP DATABASE IF EXISTS {}", name)


# --- Django in this process ---------------------------------------------------------------------------


def release():
    """Close this process's Django connections, if it has any (scale.py's parent has no Django)."""
    db = sys.modules.get("django.db")
    if db is not None and sys.modules["django.conf"].settings.configured:
        db.connections.close_all()


def use(name, migrate=False):
    """Point Django's default connection at database name (migrate: and apply the migrations there)."""
    from django.db import connections

    connections.close_all()
    connections["default"].settings_dict["NAME"] = name
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def vacuum():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def prepare(url, template, name, seed, *, rebuild=False, log=print):
    """A fresh copy name of template, Django pointed at it and migrated (a template made before a later
    migration gets it there); the template is seeded first when there is none (rebuild: always):
    migrated, seed() run on it, vacuumed and analysed. Returns name."""

    def fill(scratch):
        log(f"seeding {template} (once; later runs copy it)")
        use(scratch, migrate=True)
        seed()
        vacuum()

    ensure(url, template, fill, rebuild=rebuild)
    copy(url, template, name)
    use(name, migrate=True)
    return name
