#!/usr/bin/env python3
"""Replay the Dockerfile's install and build steps in a clean virtualenv, without Docker, so a change
that breaks the production image (a static file collectstatic refuses, a missing dependency, a
deploy check) fails CI instead of the first `docker build`.

The Dockerfile itself is read, so CI follows it as it changes: ENV, WORKDIR, COPY and RUN are replayed
in a temporary folder that stands for the image's root (absolute paths in ENV and WORKDIR are moved
under it), with a fresh venv's bin first on PATH as the image's python. COPY honours .dockerignore
(exact names, globs, `**/`, and `!` exceptions). A RUN right after a `# ci: skip (why)` comment is a
system step (a user account) that CI must not do to its host; every other RUN is replayed. FROM, USER,
EXPOSE and CMD are not replayed, but CMD's program must exist in the venv. Afterwards, with DEBUG off
and a real secret, `manage.py check --deploy` must report nothing.

Usage: python3 .ci/dockerfile-steps.py [--keep]   (--keep leaves the temporary folder for a look)
"""

import fnmatch
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def instructions(text):
    """(keyword, argument, skipped) per instruction; continuation lines joined."""
    out, current, skip_next = [], "", False
    for line in text.splitlines():
        stripped = line.strip()
        if not current and stripped.startswith("#"):
            skip_next = skip_next or stripped.lower().startswith("# ci: skip")
            continue
        if not stripped and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, argument = current.partition(" ")
        out.append((keyword.upper(), argument.strip(), skip_next))
        current, skip_next = "", False
    return out


def ignore_patterns():
    path = REPO / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def ignored(relative, patterns):
    """Docker's rule: the last matching pattern wins; a pattern also matches everything below it."""
    parts = relative.split("/")
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").lstrip("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatchcase(part, tail) for part in parts) or any(
                fnmatch.fnmatchcase(c, tail) for c in candidates
            )
        else:
            hit = any(fnmatch.fnmatchcase(c, pattern) for c in candidates)
        if hit:
            result = not negate
    return result


def context_files(source, patterns):
    """The build context's files under source (relative to the repo), as Docker would send them."""
    top = REPO / source
    if top.is_file():
        return [top]
    prune = not any(pattern.startswith("!") for pattern in patterns)  # no exception can re-include
    found = []
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        if prune:
            dirs[:] = [d for d in dirs if not ignored((here / d).relative_to(REPO).as_posix(), patterns)]
        found += [here / name for name in files]
    return [path for path in found if not ignored(path.relative_to(REPO).as_posix(), patterns)]


def copy(sources, dest, workdir, patterns):
    """Docker's COPY: a folder's contents go into dest; files go into dest/ when dest is a folder."""
    if dest.startswith("/"):
        raise SystemExit(f"dockerfile-steps: COPY to an absolute path ({dest}) is not replayed")
    into_folder = dest.endswith("/") or dest == "." or len(sources) > 1
    for source in sources:
        top = REPO / source
        for path in context_files(source, patterns):
            if top.is_dir():
                out = workdir / dest / path.relative_to(top)
            else:
                out = workdir / dest / path.name if into_folder else workdir / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)


def main():
    keep = "--keep" in sys.argv
    root = Path(tempfile.mkdtemp(prefix="mastercopy-image-"))
    started = time.monotonic()
    venv = root / "venv"
    print(f"dockerfile-steps: clean venv in {venv}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the CI job's own configuration leaks into the build: it sees the Dockerfile's ENV.
        if key in ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE") or key.startswith("PIP_")
    }
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    env["VIRTUAL_ENV"] = str(venv)
    workdir, patterns, cmd = root, ignore_patterns(), None
    try:
        for keyword, argument, skipped in instructions((REPO / "Dockerfile").read_text()):
            if keyword == "ENV":
                for item in shlex.split(argument):
                    key, _, value = item.partition("=")
                    env[key] = str(root) + value if value.startswith("/") else value
            elif keyword == "WORKDIR":
                workdir = root / argument.lstrip("/") if argument.startswith("/") else workdir / argument
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                *sources, dest = shlex.split(argument)
                copy(sources, dest, workdir, patterns)
            elif keyword == "RUN" and skipped:
                print(f"dockerfile-steps: skipped (system step): {argument}", flush=True)
            elif keyword == "RUN":
                print(f"dockerfile-steps: RUN {argument}", flush=True)
                subprocess.run(["/bin/sh", "-ec", argument], cwd=workdir, env=env, check=True)
            elif keyword == "CMD":
                cmd = json.loads(argument)
        if cmd and not (venv / "bin" / cmd[0]).exists():
            raise SystemExit(f"dockerfile-steps: CMD's {cmd[0]} is not installed by the Dockerfile")
        deploy = {
            **env,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "MASTERCOPY_AUDIT_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "mastercopy.example.org",
        }
        deploy.pop("DEBUG", None)
        print("dockerfile-steps: manage.py check --deploy --fail-level WARNING", flush=True)
        subprocess.run(
            ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=workdir,
            env=deploy,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        print(f"dockerfile-steps: FAILED ({error.cmd[-1]} exited {error.returncode})", file=sys.stderr)
        return 1
    finally:
        if keep:
            print(f"dockerfile-steps: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"dockerfile-steps: the production build passes ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
