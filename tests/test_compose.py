import re
import shutil
import subprocess

from tests.conftest import REPO, need


def test_the_compose_file_is_valid_and_workers_can_scale(tmp_path):
    need(shutil.which("docker-compose"), "docker-compose (Debian's package) is not installed")
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")

    result = subprocess.run(
        ["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    services = result.stdout.split("services:\n", 1)[1].split("\nversion:")[0]
    assert re.findall(r"^  (\w+):$", services, re.M) == ["db", "redis", "web", "worker"]
    worker = services.split("\n  worker:\n", 1)[1]
    assert "ports:" not in worker  # no fixed host port, so `--scale worker=N` works
    assert (
        "redis://redis:6379/0" in worker and "postgresql://mastercopy:change-me@db:5432/mastercopy" in worker
    )


def test_every_service_restarts_after_a_crash_or_reboot(tmp_path):
    need(shutil.which("docker-compose"), "docker-compose (Debian's package) is not installed")
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")

    result = subprocess.run(
        ["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    services = result.stdout.split("services:\n", 1)[1].split("\nvolumes:")[0]
    blocks = re.split(r"^  (\w+):$", services, flags=re.M)[1:]
    restart = {
        name: re.search(r"^    restart: (\S+)$", body, re.M)
        for name, body in zip(blocks[::2], blocks[1::2], strict=True)
    }
    assert {name: m and m.group(1) for name, m in restart.items()} == dict.fromkeys(
        ["db", "redis", "web", "worker"], "unless-stopped"
    )
