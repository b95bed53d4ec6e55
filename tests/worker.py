"""Real processes for integration tests: Celery workers sharing the test database and storage, a private
Redis server that a test may kill and restart, and the helpers that wait for them."""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

from django.conf import settings
from django.core.management import call_command

from tests.conftest import REPO


def database_url():
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(broker_url, data_dir, **extra):
    """The environment of a project process that shares this test's database, broker and storage."""
    return {
        **{k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"},
        "SECRET_KEY": "integration-test-worker",
        # The worker records automatic decisions: they must be signed with the key the tests verify with.
        "MASTERCOPY_AUDIT_KEY": settings.MASTERCOPY_AUDIT_KEY,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "MASTERCOPY_DATA_DIR": str(data_dir),
        **{k: str(v) for k, v in extra.items()},
    }


class Worker:
    """`celery worker` in its own process group, so SIGKILL takes its pool children too."""

    def __init__(
        self, broker_url, data_dir, log_path, concurrency=1, visibility_timeout=5, queues=None, **env
    ):
        self.log_path = log_path
        self.queues = queues  # comma-separated queue names; Celery's default queue when None
        self.env = process_env(broker_url, data_dir, CELERY_VISIBILITY_TIMEOUT=visibility_timeout, **env)
        self.concurrency = concurrency
        self.process = None

    def start(self, timeout=60):
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mastercopy",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                *([f"--queues={self.queues}"] if self.queues else []),
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.output()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.output()}")

    def kill(self):
        """SIGKILL the worker and its pool: no clean shutdown, no acknowledgement."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if not self.log.closed:
            self.log.close()

    def output(self):
        return self.log_path.read_text(errors="replace")[-4000:]


class Workers:
    """The workers a test started, all stopped at its end; a failing wait shows their logs."""

    def __init__(self, broker_url, data_dir, log_dir):
        self.broker_url, self.data_dir, self.log_dir = broker_url, data_dir, log_dir
        self.started = []

    def start(self, **options):
        log_path = self.log_dir / f"worker{len(self.started)}.log"
        worker = Worker(self.broker_url, self.data_dir, log_path, **options).start()
        self.started.append(worker)
        return worker

    def stop(self):
        for worker in self.started:
            worker.stop()

    def logs(self):
        return "\n".join(f"--- {w.log_path.name} (tail) ---\n{w.output()}" for w in self.started)


def shared_broker():
    """The broker the settings name (Redis), emptied of anything an earlier, interrupted run left."""
    from mastercopy.celery import app
    from tests.conftest import need

    url = os.environ.get("CELERY_BROKER_URL", "")
    need(
        url.startswith("redis://"),
        "integration tests need CELERY_BROKER_URL=redis://... (the in-process app sends to it)",
    )
    app.control.purge()
    return url


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port, persisted as production should be (append-only file,
    fsync on every write), so a test can kill it and start it again on the same port and data."""

    def __init__(self, folder, executable="redis-server"):
        self.folder, self.executable = folder, executable
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self, timeout=20):
        self.log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - kept open for the process's life
        options = {
            "port": self.port,
            "bind": "127.0.0.1",
            "dir": self.folder,
            "appendonly": "yes",
            "appendfsync": "always",
            "save": "",  # the append-only file is the persistence; no RDB snapshots
        }
        self.process = subprocess.Popen(
            [self.executable, *(arg for name, value in options.items() for arg in (f"--{name}", str(value)))],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.answers, timeout, interval=0.1, message=f"redis-server on port {self.port}")
        return self

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL: no shutdown save, no goodbye to clients; only what the append-only file holds survives."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.kill()


def wait_for(condition, timeout, interval=0.5, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def import_photos(paths, folder, collection, **options):
    """Import copies of the given files (paths, or (name, bytes) pairs) through the import command."""
    folder.mkdir()
    for item in paths:
        if isinstance(item, tuple):
            (folder / item[0]).write_bytes(item[1])
        else:
            shutil.copy(item, folder / item.name)
    call_command(
        "import_collection", str(folder), collection=collection, no_progress=True, stdout=io.StringIO()
    )
