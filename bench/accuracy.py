"""Accuracy of the whole pipeline on real photos and archive-style variants, against a plain pHash baseline.

Run:  .venv/bin/python bench/accuracy.py [--full | --originals 24 --distractors 60] [--keep] [--verbose]

Corpus: from ../shared/data/photos, `--originals` photos (a mix of sources; UKBench objects bring
their other shots along as hard negatives) each get one variant of every kind below, made by
catalogue/variants.py (see its docstring for the parameter ranges); `--distractors` further photos are
added unchanged, among them whole UKBench groups (different shots of one object) and video frames,
which must stay apart. The real pipeline then runs through the commands, on a scratch data dir
(SQLite, local files): import_collection -> find_duplicates -> export_candidates.

Each variant is stored, at random, in a folder imported before or after its original (a/ or z/ around
m/), so the original is Left in about half of its pairs and Right in the others: direction and labels
are measured both ways round.

Printed: per-variant recall (the variant paired with its original, in any tier), review-queue
precision (pairs in the review tier that are two copies of one photograph), false automatic merges
(pairs settled automatically whose files are neither byte-identical nor pixel-identical after EXIF
orientation, checked on the files),
whether every byte- or pixel-identical copy was settled automatically, crop-label accuracy, the
pipeline's seconds; per kind, the share of (original, variant) pairs whose suggested master (the
export's suggested_master, i.e. dedup.policy.suggest_master) is the original, and the share whose relation
has the kind's label (and, for crops, borders and caption strips, none of the other two); and the
same recall/precision for a plain pHash <= 10 baseline (imagehash on each file as stored) in the same
run. The last line is a one-line summary; exit 0 only if every goal holds. --verbose lists every miss
(pairs not found, wrong labels, wrong masters) instead of the first ten, with the pair's sides and verdict.
"""

import argparse
import csv
import io
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import imagehash  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from catalogue.variants import make_variant  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"
GROUPS = REPO.parent / "shared" / "data" / "groups.csv"
# Kinds with a recall goal of 98%, and the crop (90%); exact copies must be settled automatically.
HIGH_RECALL = (
    "resized",
    "recompressed",
    "format-changed",
    "colour-changed",
    "greyscale",
    "rotated-90",
    "mirrored",
    "bordered",
    "skewed",
    "caption-strip",
    "exif-rotated",
)
EXACT = ("identical", "metadata-stripped", "pixel-identical-png", "format-tiff")
# One-way changes: the original is the source, and the suggested master must be the original
# (>= 99% over these kinds, no kind below 97%).
UPSCALES = ("upscaled-lanczos", "upscaled-bicubic", "upscaled-sharpened")
DIRECTED = (
    "resized",
    "downscaled",
    *UPSCALES,
    "recompressed",
    "greyscale",
    "cropped",
    "bordered",
    "caption-strip",
    "skewed",
)
KINDS = EXACT + HIGH_RECALL + ("cropped", "downscaled", *UPSCALES)
SEP = "__"
# The label each kind must carry (the variant's parameters decide for resized and recompressed).
_LABEL = {
    "identical": "identical",
    "metadata-stripped": "pixel-identical",
    "pixel-identical-png": "pixel-identical",
    "format-tiff": "pixel-identical",
    "format-changed": "format-changed",
    "colour-changed": "colour-changed",
    "greyscale": "greyscale",
    "rotated-90": "rotated",
    "mirrored": "mirrored",
    "bordered": "bordered",
    "skewed": "skewed",
    "caption-strip": "overlay",
    "cropped": "cropped",
    "downscaled": "resized",
    **{kind: "upscaled" for kind in UPSCALES},
}
FRAMES = {"cropped", "bordered", "overlay"}  # crop, border and caption strip must be told apart


def expected_label(kind, params, source_format):
    if kind == "resized":
        return "upscaled" if params.get("scale", 1) > 1 else "resized"
    if kind == "recompressed":
        return "recompressed" if source_format == "JPEG" else "format-changed"
    return _LABEL.get(kind)


def build_corpus(root, originals, distractors, seed):
    rng = random.Random(seed)
    groups = defaultdict(list)
    with open(GROUPS, newline="") as fileobj:
        for row in csv.DictReader(fileobj):
            groups[row["group_id"]].append(row["filename"])
    group_ids = sorted(groups)
    rng.shuffle(group_ids)
    chosen, extra = [], []
    for gid in group_ids:
        members = sorted(groups[gid])
        if len(chosen) < originals:
            chosen.append(members[0])
            extra.extend(members[1:])  # the other shots of the same object or scene: hard negatives
        elif len(extra) < distractors:
            extra.extend(members)
    truth = {}
    (root / "m").mkdir()
    (root / "a").mkdir()
    (root / "z").mkdir()
    for name in chosen + extra:
        (root / "m" / name).write_bytes((PHOTOS / name).read_bytes())
        truth[f"m/{name}"] = (f"m/{name}", "original", {}, None)
    for name in chosen:
        with Image.open(PHOTOS / name) as image:
            source_format = image.format
        for kind in KINDS:
            params = {"area": round(rng.uniform(0.70, 0.72), 3)} if kind == "cropped" else {}
            variant = make_variant(PHOTOS / name, kind, rng=random.Random(rng.random()), **params)
            folder = rng.choice("az")  # imported before or after its original
            filename = f"{folder}/{Path(name).stem}{SEP}{kind}{Path(variant.filename).suffix}"
            (root / filename).write_bytes(variant.data)
            truth[filename] = (
                f"m/{name}",
                kind,
                variant.params,
                expected_label(kind, variant.params, source_format),
            )
    return truth


def run_pipeline(root, data_dir):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "PYTEST_VERSION")
    }
    env.update(DEBUG="1", MASTERCOPY_DATA_DIR=str(data_dir))

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode:
            sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    manage("migrate", "-v0")
    started = time.perf_counter()
    manage("import_collection", str(root), "--collection", "Accuracy", "--no-progress")
    manage("find_duplicates", "--no-progress")
    seconds = time.perf_counter() - started
    rows = list(csv.DictReader(io.StringIO(manage("export_candidates", "--format", "csv"))))
    return rows, seconds


def same_photo(truth, a, b):
    return truth[a][0] == truth[b][0]


def _pixels(path):
    with Image.open(path) as image:
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGBA" if "A" in upright.getbands() else "RGB").tobytes(), upright.size


def truly_exact(root, left, right):
    a, b = (root / left).read_bytes(), (root / right).read_bytes()
    return a == b or _pixels(root / left) == _pixels(root / right)


def score_pipeline(root, truth, rows):
    found = {}
    for row in rows:
        found[frozenset((row["left"], row["right"]))] = row
    recall, labels, master, label_ok = {}, [], {}, {}
    for kind in KINDS:
        variants = [f for f, t in truth.items() if t[1] == kind]
        hits = [(f, found.get(frozenset((f, truth[f][0])))) for f in variants]
        hits_found = [(f, h) for f, h in hits if h]
        recall[kind] = len(hits_found) / len(variants)
        if kind == "cropped":
            labels = [h for _, h in hits_found]
        master[kind] = _share([_master_is_original(truth, f, h) for f, h in hits_found])
        label_ok[kind] = _share([_label_right(truth[f][3], h["relation"]) for f, h in hits_found])
    review = [r for r in rows if r["tier"] == "review"]
    auto = [r for r in rows if r["tier"] == "auto"]
    # An automatic merge is false unless the two files really are the same bytes or the same pixels after
    # EXIF orientation (checked here on the files themselves, not taken from the pipeline's verdict).
    false_auto = [r for r in auto if not truly_exact(root, r["left"], r["right"])]
    exact_settled = all(
        found.get(frozenset((f, truth[f][0])), {}).get("tier") == "auto"
        for f, t in truth.items()
        if t[1] in EXACT
    )
    precision = sum(1 for r in review if same_photo(truth, r["left"], r["right"])) / max(1, len(review))
    crop_labels = sum(1 for r in labels if "cropped" in r["relation"].split("+")) / max(1, len(labels))
    directed = [
        _master_is_original(truth, f, found[frozenset((f, t[0]))])
        for f, t in truth.items()
        if t[1] in DIRECTED and frozenset((f, t[0])) in found
    ]
    wrong = [
        (f, found[frozenset((f, t[0]))])
        for f, t in truth.items()
        if t[1] in DIRECTED
        and frozenset((f, t[0])) in found
        and not _master_is_original(truth, f, found[frozenset((f, t[0]))])
    ]
    unfound = [f for f, t in truth.items() if t[1] in KINDS and frozenset((f, t[0])) not in found]
    mislabelled = [
        (f, found[frozenset((f, t[0]))])
        for f, t in truth.items()
        if t[3]
        and frozenset((f, t[0])) in found
        and not _label_right(t[3], found[frozenset((f, t[0]))]["relation"])
    ]
    return {
        "recall": recall,
        "precision": precision,
        "false_auto": len(false_auto),
        "exact_settled": exact_settled,
        "crop_labels": crop_labels,
        "review": len(review),
        "auto": len(auto),
        "false_auto_rows": false_auto[:5],
        "master": master,
        "master_overall": _share(directed),
        "labels": label_ok,
        "wrong_master": wrong,
        "mislabelled": mislabelled,
        "unfound": unfound,
    }


def _share(flags):
    return sum(flags) / len(flags) if flags else float("nan")


def _master_is_original(truth, variant, row):
    """The pair's suggested master (left/right) is the variant's original."""
    side = row.get("suggested_master")
    master = row["left"] if side == "left" else row["right"] if side == "right" else None
    return master == truth[variant][0]


def _label_right(expected, relation):
    """The relation carries the kind's label and no other of crop / border / caption strip (overlay);
    an exact copy may be byte-identical or pixel-identical (a JPEG without metadata stripped is its
    own bytes)."""
    if expected is None:
        return True
    found = set(relation.split("+"))
    if expected in ("identical", "pixel-identical"):
        return bool(found & {"identical", "pixel-identical"})
    return expected in found and not ((found & FRAMES) - {expected})


def baseline(root, truth):
    hashes = {}
    for name in truth:
        with Image.open(root / name) as image:
            hashes[name] = imagehash.phash(image)
    pairs = {
        frozenset((a, b)) for a, b in itertools.combinations(sorted(hashes), 2) if hashes[a] - hashes[b] <= 10
    }
    recall = {}
    for kind in KINDS:
        variants = [f for f, t in truth.items() if t[1] == kind]
        recall[kind] = sum(1 for f in variants if frozenset((f, truth[f][0])) in pairs) / len(variants)
    precision = sum(1 for p in pairs if same_photo(truth, *p)) / max(1, len(pairs))
    return {"recall": recall, "precision": precision, "pairs": len(pairs)}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--originals", type=int, default=24)
    parser.add_argument("--distractors", type=int, default=60)
    parser.add_argument("--full", action="store_true", help="the full set: 40 originals, 120 distractors")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--verbose", action="store_true", help="list every miss, with both sides of the pair")
    args = parser.parse_args()
    if args.full:
        args.originals, args.distractors = 40, 120
    if not PHOTOS.is_dir():
        sys.exit(f"no photos at {PHOTOS}")
    scratch = Path(tempfile.mkdtemp(prefix="mastercopy-accuracy-"))
    corpus = scratch / "corpus"
    corpus.mkdir()
    truth = build_corpus(corpus, args.originals, args.distractors, args.seed)
    print(
        f"corpus: {len(truth)} files ({args.originals} originals x {len(KINDS)} variant kinds + distractors) "
        f"in {corpus}"
    )
    rows, seconds = run_pipeline(corpus, scratch / "data")
    ours, base = score_pipeline(corpus, truth, rows), baseline(corpus, truth)

    print(f"\n{'variant kind':22} {'pipeline':>9} {'pHash<=10':>10} {'master=original':>16} {'label':>7}")
    for kind in KINDS:
        note = "" if kind in DIRECTED else "  (no direction: keep-best)"
        print(
            f"{kind:22} {ours['recall'][kind]:9.1%} {base['recall'][kind]:10.1%} "
            f"{ours['master'][kind]:16.1%} {ours['labels'][kind]:7.1%}{note}"
        )
    print(f"suggested master is the original, over the one-way kinds: {ours['master_overall']:.1%}")
    shown = None if args.verbose else 10

    def sides(name, row):  # which side the original is on, for --verbose
        return f" [original {'left' if row['left'] == truth[name][0] else 'right'}: {truth[name][2]}]"

    for name, row in ours["wrong_master"][:shown]:
        extra = sides(name, row) if args.verbose else ""
        print(f"  master not the original: {name} ({row['relation']}; {row['master_reason']}){extra}")
    for name, row in ours["mislabelled"][:shown]:
        extra = f" (want {truth[name][3]})" + sides(name, row) if args.verbose else ""
        print(f"  label: {name}: {row['relation']}{extra}")
    if args.verbose:
        for name in ours["unfound"]:
            print(f"  not found: {name} ~ {truth[name][0]} ({truth[name][1]} {truth[name][2]})")
    print(
        f"\nreview queue: {ours['review']} pairs, precision {ours['precision']:.1%} "
        f"(baseline: {base['pairs']} pairs within pHash 10, precision {base['precision']:.1%})"
    )
    print(
        f"automatic: {ours['auto']} pairs settled, {ours['false_auto']} false automatic merges; "
        f"every exact copy settled automatically: {ours['exact_settled']}"
    )
    for row in ours["false_auto_rows"]:
        print(f"  false automatic merge: {row['left']} ~ {row['right']} ({row['relation']})")
    print(f"crop labels: {ours['crop_labels']:.1%} of found crops labelled 'cropped'")
    print(f"pipeline: {seconds:.1f} s for {len(truth)} files (import + find_duplicates)")

    goals = {
        "no false automatic merge": ours["false_auto"] == 0,
        "exact copies settled": ours["exact_settled"],
        "recall >= 98% per kind": all(ours["recall"][k] >= 0.98 for k in HIGH_RECALL),
        "crop recall >= 90%": ours["recall"]["cropped"] >= 0.90,
        "crop labels >= 90%": ours["crop_labels"] >= 0.90,
        "review precision >= 95%": ours["precision"] >= 0.95,
        "master = original >= 99% overall": ours["master_overall"] >= 0.99,
        "master = original >= 97% per one-way kind": all(ours["master"][k] >= 0.97 for k in DIRECTED),
        "labels >= 95% per kind": all(ours["labels"][k] >= 0.95 for k in KINDS if k != "exif-rotated"),
    }
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    missed = [name for name, ok in goals.items() if not ok]
    worst = min(HIGH_RECALL, key=lambda k: ours["recall"][k])
    print(
        f"SUMMARY accuracy: {'all goals met' if not missed else 'MISSED ' + ', '.join(missed)}; "
        f"min recall {ours['recall'][worst]:.1%} ({worst}), crop {ours['recall']['cropped']:.1%}, "
        f"precision {ours['precision']:.1%}, false auto {ours['false_auto']}, "
        f"master {ours['master_overall']:.1%} (lowest {min(ours['master'][k] for k in DIRECTED):.1%}), "
        f"labels lowest {min(ours['labels'][k] for k in KINDS if k != 'exif-rotated'):.1%}, {seconds:.0f} s"
    )
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
