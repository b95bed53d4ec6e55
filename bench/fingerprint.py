"""Fingerprinting throughput bench for dedup.signals.

Run from the repository root:

    .venv/bin/python bench/fingerprint.py            # all goals, ~2-3 minutes
    .venv/bin/python bench/fingerprint.py --corpus   # only build/refresh the cached corpus

The corpus (bench/.cache/corpus/, gitignored) is built once from ../shared/data/photos: ~300 JPEGs
resized with Lanczos to 1,500-3,500 px on the long side (q90, mean ~4.5 MP, like archive scans) plus a few
TIFFs. Every rate below is measured in the same process, one after the other, so the printed ratios are
comparable even on a noisy shared machine:

  (a)  compute_signals(derivatives=False)
  (a') compute_signals(derivatives=True)  (1600 px preview + 256 px thumbnail JPEGs)
  (b)  imagededup PHash().encode_images on the same files (one process, like (a))
  (c)  the naive way: imagehash phash/dhash/whash/colorhash each re-opening the file + sha256 of the bytes
  (d)  the floor: Pillow draft("RGB", (256, 256)) + load() alone
  (e)  the floor of (a'): the decode compute_signals needs for a 1600 px preview (draft to a long side
       >= 1280 px, usually 1/2 scale) + load() alone; e / b bounds a' / b whatever the rest costs
  (a2) (a) with two worker processes

Goals (exit 0 only if all hold): a >= 0.5 d, a' >= 3 b, a2 >= 1.7 a.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import multiprocessing as mp
import random
import sys
import time
import types
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PHOTOS = REPO.parent / "shared" / "data" / "photos"
CORPUS = REPO / "bench" / ".cache" / "corpus"
N_JPEG = 300
N_TIFF = 12
SEED = 20240501


def _target_long_side(rng: random.Random) -> int:
    return rng.randint(1500, 3500)


def _make_one(job: tuple[str, str, int]) -> None:
    src, dst, long_side = job
    with Image.open(src) as im:
        im = im.convert("RGB")
        scale = long_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)
        if dst.endswith(".tif"):
            im.save(dst, compression="tiff_lzw" if len(dst) % 2 else None)
        else:
            im.save(dst, quality=90)


def build_corpus() -> list[Path]:
    """Create (or reuse) the cached corpus; returns the JPEG paths then the TIFF paths."""
    names = sorted(p.name for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rng = random.Random(SEED)
    picked = rng.sample(names, N_JPEG + N_TIFF)
    jobs = []
    for i, name in enumerate(picked):
        ext = ".jpg" if i < N_JPEG else ".tif"
        dst = CORPUS / f"{i:04d}_{Path(name).stem}{ext}"
        jobs.append((str(PHOTOS / name), str(dst), _target_long_side(rng)))
    todo = [j for j in jobs if not Path(j[1]).exists()]
    if todo:
        CORPUS.mkdir(parents=True, exist_ok=True)
        print(f"building corpus: {len(todo)} files into {CORPUS} ...", flush=True)
        with mp.Pool(2) as pool:
            pool.map(_make_one, todo, chunksize=4)
    return [Path(j[1]) for j in jobs]


def _import_imagededup_hashing():
    """Import imagededup.methods.hashing without running the package __init__ files.

    imagededup/methods/__init__.py imports the CNN module (torch) and imagededup/utils/__init__.py imports
    matplotlib and torch; neither is installed nor wanted here, so we register bare package modules that
    only carry __path__ and let the submodules load normally.
    """
    root = Path(importlib.util.find_spec("imagededup").origin).parent
    for sub in ("methods", "utils"):
        name = f"imagededup.{sub}"
        if name not in sys.modules:
            pkg = types.ModuleType(name)
            pkg.__path__ = [str(root / sub)]
            sys.modules[name] = pkg
    from imagededup.methods.hashing import PHash

    assert not [m for m in sys.modules if m.startswith(("torch", "imagededup.methods.cnn"))]
    return PHash


def _signals_only(path: Path) -> None:
    from dedup.signals import compute_signals

    compute_signals(path, derivatives=False)


def _signals_with_derivatives(path: Path) -> None:
    from dedup.signals import compute_signals

    compute_signals(path, derivatives=True)


def _naive(path: Path) -> None:
    import imagehash

    for fn in (imagehash.phash, imagehash.dhash, imagehash.whash, imagehash.colorhash):
        with Image.open(path) as im:
            fn(im)
    hashlib.sha256(path.read_bytes()).hexdigest()


def _floor(path: Path) -> None:
    with Image.open(path) as im:
        im.draft("RGB", (256, 256))
        im.load()


def _preview_floor(path: Path) -> None:
    from dedup.signals import PREVIEW_DRAFT_FRACTION

    with Image.open(path) as im:
        k = max(im.size) / (1600 * PREVIEW_DRAFT_FRACTION)
        im.draft("RGB", (max(1, int(im.width / k)), max(1, int(im.height / k))))
        im.load()


def _rate(fn, files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        fn(f)
    return len(files) / (time.perf_counter() - start)


def _rate_pool(fn, files: list[Path], workers: int) -> float:
    with mp.get_context("fork").Pool(workers) as pool:
        pool.map(fn, files[:4])  # warm up the workers (imports) outside the timing
        start = time.perf_counter()
        pool.map(fn, files, chunksize=4)
        return len(files) / (time.perf_counter() - start)


def _rate_imagededup(files: list[Path]) -> float:
    phash = _import_imagededup_hashing()()
    phash.verbose = False
    view = CORPUS.parent / "jpeg_only"
    if not view.exists():
        view.mkdir()
        for f in files:
            (view / f.name).symlink_to(f)
    start = time.perf_counter()
    encoded = phash.encode_images(image_dir=str(view), num_enc_workers=0)
    rate = len(files) / (time.perf_counter() - start)
    assert len(encoded) == len(files), "imagededup skipped files"
    return rate


def run(files: list[Path]) -> bool:
    jpegs = [f for f in files if f.suffix == ".jpg"]
    tiffs = [f for f in files if f.suffix == ".tif"]
    _floor(jpegs[0])
    _signals_with_derivatives(jpegs[0])  # imports and first-call costs outside the timings
    r = {}
    r["d"] = _rate(_floor, jpegs)
    r["e"] = _rate(_preview_floor, jpegs)
    r["a"] = _rate(_signals_only, jpegs)
    r["a'"] = _rate(_signals_with_derivatives, jpegs)
    r["b"] = _rate_imagededup(jpegs)
    r["c"] = _rate(_naive, jpegs[:30])
    r["a1"] = _rate_pool(_signals_only, jpegs, 1)
    r["a2"] = _rate_pool(_signals_only, jpegs, 2)
    r["tiff"] = _rate(_signals_with_derivatives, tiffs)
    labels = {
        "d": "(d)  floor: draft(256)+load", "e": "(e)  floor of (a'): draft(>=1280)+load",
        "a": "(a)  compute_signals, no derivatives",
        "a'": "(a') compute_signals + preview + thumbnail", "b": "(b)  imagededup PHash.encode_images",
        "c": "(c)  naive imagehash x4 + sha256 (30 files)", "a1": "(a)  1 worker process",
        "a2": "(a)  2 worker processes", "tiff": f"(a') on {len(tiffs)} TIFFs",
    }
    print(f"corpus: {len(jpegs)} JPEGs, {len(tiffs)} TIFFs in {CORPUS}")
    for key, label in labels.items():
        print(f"{label:<46} {r[key]:7.1f} img/s")
    goals = [
        ("a / d", r["a"] / r["d"], 0.5),
        ("a' / b", r["a'"] / r["b"], 3.0),
        ("a(2 workers) / a(1 worker)", r["a2"] / r["a1"], 1.7),
    ]
    ok = True
    for name, value, need in goals:
        ok &= value >= need
        print(f"ratio {name:<28} {value:5.2f}  (goal >= {need})  {'ok' if value >= need else 'MISSED'}")
    a_prime = r["a'"]
    print(f"bound: a' / b can be at most e / b = {r['e'] / r['b']:.2f} (the preview's decode alone); "
          f"a' / e = {a_prime / r['e']:.2f}")
    print(f"also: a / c = {r['a'] / r['c']:.1f}x, a' / c = {r['a' + chr(39)] / r['c']:.1f}x")
    print("SUMMARY: " + ("all goals met" if ok else "some goals missed") + " | " + ", ".join(
        f"{n}={v:.2f} (>={g})" for n, v, g in goals))
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", action="store_true", help="only build the cached corpus")
    args = ap.parse_args()
    corpus = build_corpus()
    if args.corpus:
        sys.exit(0)
    sys.exit(0 if run(corpus) else 1)
