"""Concurrent reviewers against a real server process on PostgreSQL.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mastercopy_bench_load .venv/bin/python bench/load.py

A throwaway test_<name> database is created (as bench/review.py does) and dropped at the end. The app runs
under gunicorn as the Docker image runs it (3 workers, here with 4 threads each) when gunicorn is installed
(`pip install -e '.[production]'`), else `manage.py runserver --noreload` (`--server` chooses), on a free
loopback port with DEBUG=1 (so the session and CSRF cookies are not Secure-only over plain HTTP). 20
cataloguers log in through the login form (CSRF) and, in 20 threads for --seconds (default 60), loop:
start reviewing -> GET the item -> POST a decision (cycling through every kind). Bounded: loopback only,
at most --max-requests requests, stops by itself. Checks: no 5xx or connection error, and no pair has
more than one effective (duplicate/related/distinct, not flagged, not corrected) decision.
Exit 0 only when the checks hold.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-key-not-a-secret-0123456789")

PASSWORD = secrets.token_urlsafe(16)  # throwaway users in a throwaway database
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _bench_review():
    spec = importlib.util.spec_from_file_location("bench_review", REPO / "bench" / "review.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stats:
    def __init__(self, max_requests):
        self.lock = threading.Lock()
        self.latencies = []
        self.codes = collections.Counter()
        self.errors = []
        self.max_requests = max_requests

    def budget_left(self):
        with self.lock:
            return len(self.latencies) + len(self.errors) < self.max_requests


def reviewer(base, username, stats, deadline, kinds, offset):
    import requests

    session = requests.Session()

    def call(method, path, **kwargs):
        started = time.perf_counter()
        try:
            response = session.request(method, base + path, allow_redirects=False, timeout=30, **kwargs)
        except requests.RequestException as exc:
            with stats.lock:
                stats.errors.append(f"{method} {path}: {exc}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with stats.lock:
            stats.latencies.append(elapsed)
            stats.codes[response.status_code] += 1
        return response

    page = call("GET", "/accounts/login/")
    if page is None or page.status_code != 200:
        return
    token = TOKEN.search(page.text).group(1)
    done = call(
        "POST",
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/accounts/login/"},
    )
    if done is None or done.status_code != 302:
        with stats.lock:
            stats.errors.append(f"login failed for {username}: {done and done.status_code}")
        return
    n = offset
    location = None
    empty_starts = 0
    while time.monotonic() < deadline and stats.budget_left():
        if not location or not location.startswith("/review/items/"):
            page = call("GET", "/review/")
            if page is None or page.status_code != 200:
                return
            token = TOKEN.search(page.text).group(1)
            started = call("POST", "/review/start/", data={"csrfmiddlewaretoken": token})
            if started is None:
                return
            location = started.headers.get("Location", "")
            if not location.startswith("/review/items/"):
                empty_starts += 1
                if empty_starts >= 3:
                    return  # the queue is empty for this reviewer
                time.sleep(0.2)
                continue
            empty_starts = 0
        page = call("GET", location)
        if page is None or page.status_code != 200:
            location = None
            continue
        match = TOKEN.search(page.text)
        item_pk = int(location.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        decided = call(
            "POST",
            f"/review/items/{item_pk}/decide/",
            data={"csrfmiddlewaretoken": match.group(1) if match else "", "decision": kinds[n % len(kinds)]},
        )
        n += 1
        location = decided.headers.get("Location", "") if decided is not None else None


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(args, bench_review):
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from catalogue.roles import CATALOGUER, ensure_roles
    from review import services
    from review.models import ReviewItem

    bench_review.build(args.pairs)
    services.sync_queue()
    ensure_roles()
    group = Group.objects.get(name=CATALOGUER)
    usernames = [f"load-cataloguer-{n:02d}" for n in range(args.users)]
    for name in usernames:
        User.objects.create_user(name, password=PASSWORD).groups.add(group)
    items = ReviewItem.objects.count()
    connection.close()

    database = settings.DATABASES["default"]
    url = urlparse(os.environ["DATABASE_URL"])
    child_env = {
        **os.environ,
        "DATABASE_URL": urlunparse(url._replace(path="/" + database["NAME"])),
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    child_env.pop("PYTEST_VERSION", None)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    if args.server == "gunicorn":
        # As the Docker image runs it (3 workers), plus threads so 20 clients are not queued behind 3.
        command = [sys.executable, "-m", "gunicorn", "mastercopy.wsgi", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "3", "--threads", "4", "--timeout", "120"]
    else:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        if args.nothreading:
            command.insert(-1, "--nothreading")
    server = subprocess.Popen(
        command,
        cwd=REPO,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start", file=sys.stderr)
                    return None
                time.sleep(0.2)
        print(f"{items} review items, {args.users} cataloguers, server at {base} ({args.server}, DEBUG=1)")
        stats = Stats(args.max_requests)
        kinds = bench_review.DECISIONS
        started = time.monotonic()
        stop = started + args.seconds
        threads = [
            threading.Thread(target=reviewer, args=(base, name, stats, stop, kinds, n), daemon=True)
            for n, name in enumerate(usernames)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 60)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return stats, elapsed, items


def check_decisions():
    from django.db.models import Count

    from review.models import Decision, ReviewItem

    effective = (
        Decision.objects.filter(
            kind__in=[Decision.Kind.DUPLICATE, Decision.Kind.RELATED, Decision.Kind.DISTINCT],
            flagged=False,
            corrections__isnull=True,
        )
        .values("pair")
        .annotate(n=Count("id"))
    )
    twice = [row["pair"] for row in effective if row["n"] > 1]
    decided = ReviewItem.objects.filter(status=ReviewItem.Status.DECIDED).count()
    return twice, decided, Decision.objects.filter(actor__isnull=False).count()


def main(args):
    import django
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("bench/load.py needs PostgreSQL: set DATABASE_URL=postgresql://...", file=sys.stderr)
        return 2
    bench_review = _bench_review()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        outcome = run(args, bench_review)
        if outcome is None:
            return 1
        stats, elapsed, items = outcome
        twice, decided, decisions = check_decisions()
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(old, verbosity=0)

    total = len(stats.latencies)
    server_errors = sum(count for code, count in stats.codes.items() if code >= 500)
    rps = total / elapsed if elapsed else 0.0
    p50, p95, p99 = (percentile(stats.latencies, f) if total else 0.0 for f in (0.5, 0.95, 0.99))
    print(f"requests {total} in {elapsed:.1f} s: {rps:.1f} req/s; status {dict(sorted(stats.codes.items()))}")
    print(
        f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {max(stats.latencies, default=0):.1f}"
    )
    print(
        f"decisions by people {decisions}; items decided {decided}/{items}; pairs decided twice {len(twice)}"
    )
    for error in stats.errors[:5]:
        print("error:", error)
    ok = total > 0 and server_errors == 0 and not stats.errors and not twice
    print(
        f"summary: {args.users} reviewers, {rps:.1f} req/s, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
        f"5xx {server_errors}, errors {len(stats.errors)}, double decisions {len(twice)}: "
        + ("OK" if ok else "FAILED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--nothreading", action="store_true", help="single-threaded runserver")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "runserver"],
        default="gunicorn" if importlib.util.find_spec("gunicorn") else "runserver",
        help="gunicorn (the production server, pip install -e '.[production]') when installed",
    )
    sys.exit(main(parser.parse_args()))
