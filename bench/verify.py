"""Verification throughput: Mastercopy's import + find_duplicates against imagededup on the same files.

Run from the repository root (one command; the corpus is built once into bench/.cache/verify-corpus/):

    .venv/bin/python bench/verify.py

imagededup is a bench-only comparison, installed in its own virtual environment (it needs torch, which the
project does not), once:

    python3.11 -m venv bench/.cache/imagededup-venv
    bench/.cache/imagededup-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 imagededup

(torch 2.14.1 and torchvision 0.29.1 lie on this machine's disk; elsewhere pip downloads them. Another
interpreter: IMAGEDEDUP_PYTHON=/path/to/python.) Without it the bench says so and exits 2.

The corpus: 150 archive-size JPEGs made with catalogue/variants.py from ../shared/data/photos: 75 photos
scaled with Lanczos to 1,500-3,500 px on the long side (the archive's originals), and for 25 of them three
copies each: recompressed, resized and cropped (75 + 75 = 150 files, 25 groups of four).

In the same run, one after the other, on the same files (the page cache warmed first):
  ours        import_collection + find_duplicates (fingerprints, pair search, verification, groups) in a
              fresh SQLite database, in a fresh process (migrations and module imports not timed, as
              imagededup's imports are not), with the machine's cores
  imagededup  PHash().encode_images + find_duplicates (max_distance_threshold 10), in one process
Then, per worker process (find_duplicates --workers 1), verification alone:
  exact copies   a mirror merge: the same files imported again into a second collection, so every image
                 has a byte-identical twin; pairs per second settling those pairs (no decoding)
  near copies    pairs per second verifying the corpus's near-duplicate pairs (compared and inferred)

Goal: ours <= 0.5 x imagededup. Prints both times and the ratio; exits 1 when the goal fails.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
CORPUS = REPO / "bench" / ".cache" / "verify-corpus"
IMAGEDEDUP_PYTHON = Path(
    os.environ.get("IMAGEDEDUP_PYTHON", REPO / "bench" / ".cache" / "imagededup-venv" / "bin" / "python")
)
ORIGINALS, WITH_COPIES, COPIES = 75, 25, ("recompressed", "resized", "cropped")
GOAL = 0.5
SEED = 12


def build_corpus():
    sys.path.insert(0, str(REPO))
    from PIL import Image

    from catalogue.variants import make_variant

    marker = CORPUS / "done.json"
    if marker.exists():
        return sorted(CORPUS.glob("*.jpg"))
    CORPUS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    photos = []
    for path in sorted(PHOTOS.iterdir()):
        try:
            with Image.open(path) as image:
                if image.format == "JPEG" and max(image.size) >= 480:
                    photos.append(path)
        except OSError:
            continue
    chosen = rng.sample(photos, ORIGINALS)
    for n, photo in enumerate(chosen):
        with Image.open(photo) as image:
            long_side = max(image.size)
        target = rng.randint(1500, 3500)
        original = make_variant(photo, "resized", rng=random.Random(n), scale=target / long_side, quality=90)
        (CORPUS / f"p{n:03d}.jpg").write_bytes(original.data)
        if n < WITH_COPIES:
            for kind in COPIES:
                copy = make_variant(original.data, kind, rng=random.Random(f"{n}:{kind}"))
                (CORPUS / f"p{n:03d}-{kind}.jpg").write_bytes(copy.data)
    files = sorted(CORPUS.glob("*.jpg"))
    marker.write_text(json.dumps({"files": len(files)}))
    return files


IMAGEDEDUP_SCRIPT = r"""
import json, sys, time
from imagededup.methods import PHash
folder = sys.argv[1]
hasher = PHash(verbose=False)
started = time.perf_counter()
encodings = hasher.encode_images(image_dir=folder)
duplicates = hasher.find_duplicates(encoding_map=encodings, max_distance_threshold=10)
seconds = time.perf_counter() - started
pairs = sum(len(v) for v in duplicates.values()) // 2
print(json.dumps({"seconds": seconds, "images": len(encodings), "pairs": pairs}))
"""


def run_imagededup(folder):
    if not IMAGEDEDUP_PYTHON.exists():
        return None, f"no interpreter at {IMAGEDEDUP_PYTHON} (install imagededup as the top says)"
    done = subprocess.run(
        [str(IMAGEDEDUP_PYTHON), "-c", IMAGEDEDUP_SCRIPT, str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"imagededup did not run ({last})"
    return json.loads(done.stdout.strip().splitlines()[-1]), None


def run_ours(folder, workers=None, mirror=False):
    """One fresh process and data directory: the timings of import + find_duplicates, as JSON."""
    with tempfile.TemporaryDirectory(prefix="mc-bench-verify-") as data:
        env = {
            **os.environ,
            "MASTERCOPY_DATA_DIR": data,
            "DEBUG": "1",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "MASTERCOPY_AUDIT_KEY": "bench-only-audit-key-" + "y" * 40,
        }
        env.pop("DATABASE_URL", None)
        args = [sys.executable, __file__, "--ours", str(folder)]
        if workers:
            args += ["--workers", str(workers)]
        if mirror:
            args.append("--mirror")
        done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit("our pipeline failed (above)")
        return json.loads(done.stdout.strip().splitlines()[-1])


def ours_child(folder, workers, mirror):
    """In the child: Django on a fresh SQLite database; time the two commands."""
    import io

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from dedup import verification
    from dedup.models import CandidatePair

    call_command("migrate", verbosity=0)
    # The modules the two commands load, imported before the clock starts, as imagededup's script imports
    # its own (torch among them) before its clock: a long-lived worker has them loaded; the first import
    # took ~1 s of import_collection's time here (dedup.signals, dedup.tasks with Celery, cv2, numba).
    import catalogue.management.commands.import_collection  # noqa: F401
    import dedup.management.commands.find_duplicates  # noqa: F401
    import dedup.tasks  # noqa: F401
    import dedup.verify  # noqa: F401

    quiet = {"no_progress": True, "stdout": io.StringIO(), "stderr": io.StringIO()}
    dup_options = {**quiet, **({"workers": workers} if workers else {})}
    started = time.perf_counter()
    call_command("import_collection", str(folder), collection="Bench", **quiet)
    imported = time.perf_counter()
    verification.STATS.clear()
    out = io.StringIO()
    call_command("find_duplicates", **{**dup_options, "stdout": out})
    finished = time.perf_counter()
    result = {
        "import": imported - started,
        "find_duplicates": finished - imported,
        "seconds": finished - started,
        "pairs": CandidatePair.objects.count(),
        "inferred": CandidatePair.objects.filter(inferred=True).count(),
        "tiers": dict(CandidatePair.objects.values_list("tier").annotate(n=django.db.models.Count("id"))),
        "stats": dict(verification.STATS),
        "phases": [line for line in out.getvalue().splitlines() if line.startswith("Seconds:")],
    }
    if mirror:
        call_command("import_collection", str(folder), collection="Mirror", **quiet)
        verification.STATS.clear()
        call_command("find_duplicates", **dup_options)
        result["mirror_stats"] = dict(verification.STATS)
        result["exact_pairs"] = CandidatePair.objects.filter(same_bytes=True).count()
    print(json.dumps(result))


def rate(stats, kind):
    n, seconds = stats.get(f"{kind}_pairs", 0), stats.get(f"{kind}_seconds", 0.0)
    return (n / seconds if seconds else float("nan")), n


def main():
    files = build_corpus()
    folder = CORPUS
    for path in files:  # the page cache warm for both
        path.read_bytes()
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"corpus: {len(files)} JPEGs, {size:.0f} MB, in {folder}")

    theirs, problem = run_imagededup(folder)
    ours = run_ours(folder)
    single = run_ours(folder, workers=1, mirror=True)

    print(
        f"ours: import_collection {ours['import']:.1f} s + find_duplicates {ours['find_duplicates']:.1f} s "
        f"= {ours['seconds']:.1f} s; {ours['pairs']} pairs ({ours['inferred']} inferred), "
        f"tiers {ours['tiers']}"
    )
    print(f"  find_duplicates {' '.join(ours['phases'])}; one worker process: {' '.join(single['phases'])}")
    near, n_near = rate(single["stats"], "compared")
    inferred, n_inf = rate(single["stats"], "inferred")
    exact, n_exact = rate(single["mirror_stats"], "exact")
    print(
        f"per worker process: exact copies {exact:,.0f} pairs/s ({n_exact} pairs, no decoding); "
        f"near duplicates compared {near:.1f} pairs/s ({n_near} pairs), "
        f"inferred {inferred:,.0f} pairs/s ({n_inf} pairs)"
    )
    if theirs is None:
        print(f"imagededup: NOT MEASURED: {problem}")
        print("goal not checked: imagededup is needed for the comparison")
        return 2
    ratio = ours["seconds"] / theirs["seconds"]
    print(f"imagededup: encode_images + find_duplicates {theirs['seconds']:.1f} s ({theirs['pairs']} pairs)")
    print(f"ratio ours / imagededup = {ratio:.2f} (goal <= {GOAL}): {'met' if ratio <= GOAL else 'NOT MET'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ours":
        workers = int(sys.argv[sys.argv.index("--workers") + 1]) if "--workers" in sys.argv else None
        ours_child(sys.argv[2], workers, "--mirror" in sys.argv)
    else:
        sys.exit(main())
