"""Settling exact copies (a mirror merge: byte-identical pairs) per worker process, on PostgreSQL: the bulk
path (dedup.verification.settle_exact, review.exact) against the per-pair path it replaced
(settle_exact_one for each pair), in the same run.

Run from the repository root (PostgreSQL on 127.0.0.1):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mc_exact_bench .venv/bin/python bench/exact.py

The first run seeds a template database <name>_tpl_<pairs>_v<SEED> and keeps it (--rebuild seeds again);
each run copies it, measures on the copy and drops it. The archive: --pairs byte-identical pairs waiting
for verification, as pair search leaves a mirror merge, and as many settled before (seeded by the bulk
path): every picture of the archive has its
copy in the mirror (same owner, so the pair settles), and one picture in ten a second mirror copy (three
pairs: groups of three, later pairs between records merged earlier in the batch); fingerprints with
quality facts, as the keep-best rule reads them.

Measured, one process, verify_pairs in batches of --batch pair ids (1,000: the verify tasks' batch of
clusters of exact copies, verification.verify_batches):
  bulk      every pair but the sample: pairs per second
  per pair  --sample pairs (their own pictures) through the per-pair path: pairs per second
  task      --task-pairs more pairs through the whole verify task (verify_pairs, then the regroup of
            their components), for the record
Then the audit chain is verified and every pair checked settled with one system decision.
Goal: bulk >= 1,000 pairs/s per worker process (a million pairs in under 17 minutes); exits 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench import pgtemplate  # noqa: E402 (the repository on the path first)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-" + "y" * 40)
# The regroup task a settling decision enqueues goes to an in-process queue: published, never run here.
os.environ["CELERY_BROKER_URL"] = "memory://"
# The chain's checkpoints of this run's database only (a checkpoint of another run's chain would read as
# a rewritten event).
os.environ["MASTERCOPY_AUDIT_CHECKPOINTS"] = os.path.join(
    tempfile.mkdtemp(prefix="mc-bench-exact-"), "audit-checkpoints.jsonl"
)

GOAL = 1000.0
SEED = 2


def log(text):
    print(text, flush=True)


def seed(pairs):
    """Pictures with one mirror copy each, one in ten with a second (three pairs): ~pairs pairs waiting,
    and as many settled before (an archive that has merged a mirror already: the decision log and the
    licensing states are not empty, and the planner's statistics know it; on empty tables PostgreSQL
    plans the foreign-key checks of each commit as scans of tables that then grow, a cost that grows
    with every batch until autovacuum analyzes them)."""
    from dedup.verification import verify_batches, verify_pairs

    earlier = _seed_pairs(2 * pairs)
    started = time.perf_counter()
    for batch in verify_batches(50, image_ids=earlier):
        verify_pairs(batch)
    log(f"  half of them settled before the bench, in {time.perf_counter() - started:.0f} s")


def _seed_pairs(pairs):
    """The images, records, fingerprints and waiting pairs; returns the images of the first half."""
    from django.db import connection, transaction

    from bench.review import insert
    from catalogue.models import CatalogueRecord, Collection, ImageFile
    from dedup.models import CandidatePair, Fingerprint

    archive = Collection.objects.create(name="Bench archive", institution="Bench Archive")
    mirror = Collection.objects.create(name="Bench mirror", institution="Bench Archive")
    second = Collection.objects.create(name="Bench second mirror", institution="Bench Archive")
    pictures = pairs * 10 // 12  # 9 of 10 pictures give one pair, 1 of 10 gives three
    extra = pictures // 10
    started = time.perf_counter()
    # Image ids: 1..P the archive, P+1..2P the mirror, 2P+1..2P+E the second mirror's copies of the
    # pictures 10, 20, ... (picture g = 10 e).
    spans = (
        (archive, "A", "g", f"generate_series(1, {pictures}) AS g"),
        (mirror, "M", f"g - {pictures}", f"generate_series({pictures + 1}, {2 * pictures}) AS g"),
        (second, "S", f"(g - {2 * pictures}) * 10",
         f"generate_series({2 * pictures + 1}, {2 * pictures + extra}) AS g"),
    )  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        for collection, prefix, picture, source in spans:
            insert(
                cursor,
                CatalogueRecord,
                {"id": "g", "collection_id": str(collection.pk), "catalogue_number": f"'{prefix}-' || g"},
                source,
            )
            insert(
                cursor,
                ImageFile,
                {
                    "id": "g",
                    "record_id": "g",
                    "collection_id": str(collection.pk),
                    "storage_key": f"'originals/bench/' || ({picture})",
                    "original_filename": "g || '.jpg'",
                    "source_path": f"'{prefix}/' || g || '.jpg'",
                    "size": f"2000000 + ({picture}) % 977",
                    "sha256": f"md5(({picture})::text) || md5((({picture}) + 1)::text)",
                    "format": "'JPEG'",
                    "width": "3000",
                    "height": "2000",
                    "mode": "'RGB'",
                    "state": "'ready'",
                },
                source,
            )
            insert(
                cursor,
                Fingerprint,
                {
                    "image_id": "g",
                    "phash": f"({picture})::bigint * 2654435761",
                    "dhash": f"({picture})::bigint * 40503",
                    "width": "3000",
                    "height": "2000",
                    "quality": '\'{"lossless": false, "jpeg_quality": 90, "sharpness": 0.4}\'::jsonb',
                    "searched": "true",
                    "seq": "g",
                },
                source,
            )
        exact = {"phash_distance": "0", "dhash_distance": "0", "score": "1.0", "same_bytes": "true"}
        insert(cursor, CandidatePair, {**exact, "image_a_id": "g", "image_b_id": f"g + {pictures}"},
               f"generate_series(1, {pictures}) AS g")  # fmt: skip
        for a, b in (("e * 10", f"{2 * pictures} + e"), (f"{pictures} + e * 10", f"{2 * pictures} + e")):
            insert(cursor, CandidatePair, {**exact, "image_a_id": a, "image_b_id": b},
                   f"generate_series(1, {extra}) AS e")  # fmt: skip
        for table in ("catalogue_cataloguerecord", "catalogue_imagefile", "dedup_candidatepair"):
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            cursor.execute(sql)
    seconds = time.perf_counter() - started
    log(f"  {2 * pictures + extra:,} images, {CandidatePair.objects.count():,} pairs in {seconds:.0f} s")
    # The first half of the pictures: the archive's and mirror's images of pictures 1 .. P/2 and the
    # second mirror's copies of them.
    half = pictures // 2
    first = [*range(1, half + 1), *range(pictures + 1, pictures + half + 1)]
    return first + [2 * pictures + e for e in range(1, extra + 1) if e * 10 <= half]


def prepare(url, pairs, rebuild):
    """A fresh copy of the template of this size (seeded once). Returns the copy's name."""
    base = pgtemplate.base_name(url, "mc_exact_bench")
    template, copy = f"{base}_tpl_{pairs}_v{SEED}", f"{base}_run_{pairs}"
    return pgtemplate.prepare(url, template, copy, lambda: seed(pairs), rebuild=rebuild, log=log)


def _per_pair(pairs, on_progress=None):
    from dedup import verification

    for pair in pairs:
        verification.settle_exact_one(pair)


def _timed(ids, batch, verify):
    """Wall seconds and this process's CPU seconds (the database server's are not in it)."""
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(ids), batch):
        verify(ids[start : start + batch])
    return time.perf_counter() - started, time.process_time() - cpu


def _rate(what, n, timed):
    wall, cpu = timed
    per = 1000 * cpu / n
    log(f"{what}: {n:,} pairs in {wall:.1f} s = {n / wall:,.0f} pairs/s (CPU here {per:.2f} ms a pair)")
    return n / wall


def measure(options):
    from django.core.management import call_command

    from dedup import tasks, verification
    from dedup.models import CandidatePair
    from dedup.verification import clusters, unverified
    from review.models import Decision

    waiting = CandidatePair.objects.filter(verified=False)
    rows = waiting.order_by("pk").values_list("pk", "image_a", "image_b")
    groups = clusters(rows)  # a picture's pairs together, as the pipeline batches them

    def take(n):
        taken = []
        while groups and len(taken) < n:
            taken += groups.pop(0)
        return taken

    sample, task = take(options.sample), take(options.task_pairs)
    rest = take(len(rows))
    batch = options.batch
    verification.EXACT_CHUNK = options.chunk or verification.EXACT_CHUNK

    real = verification.settle_exact
    verification.settle_exact = _per_pair
    try:
        one = _rate("per-pair path", len(sample), _timed(sample, batch, verification.verify_pairs))
    finally:
        verification.settle_exact = real
    bulk = _rate("bulk path", len(rest), _timed(rest, batch, verification.verify_pairs))
    _rate("verify task (bulk settling, then regroup)", len(task), _timed(task, batch, tasks.verify_batch))

    left = unverified()
    measured = sample + rest + task
    settled = CandidatePair.objects.filter(pk__in=measured, tier="auto", verified=True).count()
    mine = Decision.objects.filter(pair__in=measured)
    decided = mine.filter(automatic=True, kind="duplicate").values("pair").distinct().count()
    total = mine.count()
    out = __import__("io").StringIO()
    call_command("verify_audit", stdout=out)
    audit = out.getvalue().strip().splitlines()[-1] if out.getvalue().strip() else ""
    log(f"checks: {len(left)} pairs left unverified; {settled:,} settled, {decided:,} with a system decision "
        f"({total:,} decisions); verify_audit: {audit}")  # fmt: skip
    ok = not left and settled == decided == len(sample) + len(rest) + len(task) == total
    return bulk, one, ok


def main(options):
    import django

    url = pgtemplate.require(os.environ.get("DATABASE_URL", ""))  # the bench copies a template there
    django.setup()
    from dedup import verification

    copy = prepare(url, options.pairs, options.rebuild)
    try:
        load = os.getloadavg()
        log(
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; batches of {options.batch} pairs, "
            f"transactions of {options.chunk or verification.EXACT_CHUNK}"
        )
        bulk, one, ok = measure(options)
    finally:
        pgtemplate.drop(url, copy)
    ratio = bulk / one
    met = bulk >= GOAL
    log(f"bulk / per-pair = {ratio:.1f}x; a million pairs in {1e6 / bulk / 60:.1f} min "
        f"(per pair: {1e6 / one / 3600:.1f} h)")  # fmt: skip
    log(f"goal >= {GOAL:,.0f} pairs/s per worker process: {'met' if met else 'NOT MET'}"
        + ("" if ok else "; OUTCOME CHECKS FAILED"))  # fmt: skip
    return 0 if met and ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--sample", type=int, default=300, help="pairs through the per-pair path")
    parser.add_argument("--task-pairs", type=int, default=1000, help="pairs through the whole verify task")
    parser.add_argument(
        "--batch", type=int, default=1000, help="pair ids per verify_pairs call (verification.EXACT_BATCH)"
    )
    parser.add_argument(
        "--chunk", type=int, default=0, help="pairs per transaction (default verification.EXACT_CHUNK)"
    )
    parser.add_argument("--rebuild", action="store_true", help="seed the template database again")
    sys.exit(main(parser.parse_args()))
