"""Archive scale end to end: a new import must cost about the same in an archive of a million images as in
an empty one.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mastercopy_scale \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/scale.py

Options: --sizes 0,100000,1000000 (archive sizes N), --photos 1000 (real photos imported; each picture
gets a few archive-style variants on top), --shards S (index shards, each on its own worker process;
default: 1 up to 250k images, then one shard per 250k). No bench-only dependency: PostgreSQL and Redis
must answer (it says so and exits 2 when they do not).

For each N: a database holding N seeded fingerprints (real codes of ../shared/data/photos with random bit
flips, half of them, and uniform codes, the other half) and N seeded pairs (triangles of three images),
made once as the template database <name>_tpl_<N> and copied for every run (CREATE DATABASE ... TEMPLATE:
seconds, where seeding takes minutes); then real Celery workers on Redis (one for fingerprinting and
verification, one per index shard), which load their index once when they start (reported, and waited for
before the clock starts: a long-lived worker pays it once, not per import), and an import of the same
photos and variants, timed until every image is fingerprinted, searched, verified and grouped. Printed
per N: search seconds per batch (median and max, from the workers' own log lines), regroup seconds per
verify batch, the search workers' peak RSS, the end-to-end time; last T(largest N) / T(0).

Goals (exit 1 when one fails): ratio <= 1.5; search batch at the largest N <= 2 s; regroup per verify
batch <= 0.5 s; every worker's peak RSS <= 3 GB; the pairs among the imported images equal a
brute-force comparison of their fingerprints. Pairs of an imported image with a seeded one (real pHashes
cluster: a seed 20+ bits from another photo's can still be near) are verified against the seeds' one
stored original, a photo that is not imported, and counted.
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
CACHE = REPO / "var" / "bench"
GOALS = {"ratio": 1.5, "search_s": 2.0, "regroup_s": 0.5, "rss_mb": 3 * 1024}
IMAGES_PER_SHARD = 250_000  # ~2.2 GB of index per shard worker (measured: bench/scale.py --sizes 250000)
VARIANT_KINDS = ("recompressed", "resized", "cropped")
# Every seeded image's original: one real photo that is not imported (a seed that pairs with an imported
# image is then verified, and rejected, as an archive's hard negative is).
PLACEHOLDER = "seed/placeholder.jpg"
DEADLINE = 3600  # seconds an import may take before the bench gives up


def fail(message, code=2):
    print(f"scale: {message}", file=sys.stderr)
    sys.exit(code)


def preflight():
    db, broker = os.environ.get("DATABASE_URL", ""), os.environ.get("CELERY_BROKER_URL", "")
    if not db.startswith("postgresql://"):
        fail("set DATABASE_URL=postgresql://... (a database name this bench may drop and create)")
    if not broker.startswith("redis://"):
        fail("set CELERY_BROKER_URL=redis://... (use a Redis db number nothing else uses)")
    if not PHOTOS.is_dir():
        fail(f"the shared photos are not at {PHOTOS}")
    import socket

    for url, port in ((db, 5432), (broker, 6379)):
        parsed = urlparse(url)
        try:
            socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or port), timeout=2).close()
        except OSError:
            fail(f"nothing answers at {parsed.hostname}:{parsed.port or port} ({url})")
    return db


def with_db(url, name):
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


def admin(url, *statements):
    import psycopg

    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def exists(url, name):
    import psycopg

    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def child(mode, url, *args, env=None, capture=True):
    """This script in a fresh process against one database (Django's settings are per process)."""
    environment = {**os.environ, "DATABASE_URL": url, **(env or {})}
    cmd = [sys.executable, *(["-S"] if sys.flags.no_site else []), __file__, f"--_{mode}", *map(str, args)]
    done = subprocess.run(cmd, env=environment, cwd=REPO, capture_output=capture, text=True, check=False)
    if done.returncode:
        fail(f"{mode} failed:\n{done.stderr[-3000:] if capture else ''}", 1)
    return json.loads(done.stdout.strip().splitlines()[-1]) if capture else None


# ----------------------------------------------------------------------------------- in a child: Django


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
    os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-scale-audit-key-not-a-secret-0123456789")
    os.environ.setdefault("SECRET_KEY", "bench-scale-secret-key-not-a-secret-0123456789")
    os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-key-not-a-secret-0123456789")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def real_codes():
    """(primary, variant) code arrays of a sample of the shared photos, cached in var/bench."""
    import numpy as np

    path = CACHE / "scale_codes.npz"
    if path.exists():
        data = np.load(path)
        return data["primary"], data["variant"]
    from dedup.signals import compute_signals

    primary, variant = [], []
    for photo in sorted(PHOTOS.iterdir(), reverse=True)[:200]:  # from the end: the corpus takes the first
        with open(photo, "rb") as fileobj:
            s = compute_signals(fileobj)[0]
        primary.append(s.phash)
        variant.append(list(s.orient_phashes[1:]) + list(s.crop_hashes))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, primary=np.array(primary, np.uint64), variant=np.array(variant, np.uint64))
    return real_codes()


def flipped(rng, base, n, low=20, high=28):
    """n codes, each a random base code with low..high random bits flipped (pHash-like, and no copy)."""
    import numpy as np

    codes = base[rng.integers(0, len(base), n)]
    for _ in range(high):
        bit = rng.integers(0, 64, n).astype(np.uint64)
        codes ^= np.where(rng.random(n) < (low + high) / 2 / high, np.uint64(1) << bit, np.uint64(0))
    return codes


def seed(n):
    """N fingerprinted images in triangles of three, with their N pairs, in the current database."""
    import numpy as np
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if n == 0:
        print(json.dumps({"seeded": 0}))
        return
    rng = np.random.default_rng(n)
    base_p, base_v = real_codes()
    started = time.perf_counter()
    from catalogue.models import Collection

    collection = Collection.objects.create(name="Seeded archive", institution="Bench").pk
    fill(
        connection,
        "catalogue_catalogueRecord".lower(),
        n,
        {
            "collection_id": str(collection),
            "catalogue_number": "'SEED-' || i",
            "title": "'Seeded ' || i",
        },
    )
    with connection.cursor() as cur:
        cur.execute("SELECT min(id) FROM catalogue_cataloguerecord WHERE collection_id = %s", [collection])
        first_record = cur.fetchone()[0]
    fill(
        connection,
        "catalogue_imagefile",
        n,
        {
            "record_id": f"{first_record} + i - 1",
            "collection_id": str(collection),
            "storage_key": f"'{PLACEHOLDER}'",
            "original_filename": "'seed-' || i || '.jpg'",
            "source_path": "'seed-' || i || '.jpg'",
            "size": "100000",
            "sha256": "md5(i::text) || md5(i::text)",
            "format": "'JPEG'",
            "width": "2000",
            "height": "1500",
            "mode": "'RGB'",
            "state": "'ready'",
        },
    )
    with connection.cursor() as cur:
        cur.execute("SELECT min(id) FROM catalogue_imagefile WHERE collection_id = %s", [collection])
        first_image = cur.fetchone()[0]
        cur.execute(
            "CREATE TEMP TABLE seed_codes (i bigint, phash bigint, primary_codes bytea, variant_codes bytea)"
        )
        half = n // 2
        with cur.copy("COPY seed_codes FROM STDIN") as copy:
            for start in range(0, n, 50_000):
                k = min(50_000, n - start)
                real = np.arange(start, start + k) < half
                phash = np.where(
                    real, flipped(rng, base_p, k), rng.integers(0, 2**63, k).astype(np.uint64) * 2
                )
                # Region and orientation codes uniform: a seeded crop code near an imported pHash would be
                # a pair with a seeded image, whose original is not in storage.
                variant = rng.integers(0, 2**64 - 1, (k, base_v.shape[1]), dtype=np.uint64, endpoint=True)
                for j in range(k):
                    code = int(phash[j])
                    copy.write_row(
                        (
                            start + j + 1,
                            code - (1 << 64) if code >= 1 << 63 else code,
                            np.array([code], "<u8").tobytes(),
                            variant[j].astype("<u8").tobytes(),
                        )
                    )
        fill(
            connection,
            "dedup_fingerprint",
            n,
            {
                "image_id": f"{first_image} + i - 1",
                "phash": "s.phash",
                "dhash": "s.phash",
                "primary_codes": "s.primary_codes",
                "variant_codes": "s.variant_codes",
                "seq": "i",
                "width": "2000",
                "height": "1500",
                "searched": "true",
                "shards_searched": "-1",
            },
            join="JOIN seed_codes s ON s.i = g.i",
        )
        cur.execute("DROP TABLE seed_codes")
    triangles = n // 3
    for da, db in ((0, 1), (0, 2), (1, 2)):
        fill(
            connection,
            "dedup_candidatepair",
            triangles,
            {
                "image_a_id": f"{first_image} + 3 * (i - 1) + {da}",
                "image_b_id": f"{first_image} + 3 * (i - 1) + {db}",
                "phash_distance": "6",
                "dhash_distance": "8",
                "score": "0.8",
                "tier": "'review'",
                "verified": "true",
                "relation": "'recompressed'",
            },
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(json.dumps({"seeded": n, "pairs": 3 * triangles, "seconds": round(time.perf_counter() - started)}))


def fill(connection, table, n, exprs, join=""):
    """INSERT n rows (g.i = 1..n) into table: the given SQL expressions, every other column its model
    default (so a column a later migration adds is filled too)."""
    from django.apps import apps
    from django.db import models

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.attname in exprs:
            columns.append(field.column)
            values.append(re.sub(r"\bi\b", "g.i", exprs[field.attname]))
        elif isinstance(field, models.AutoField | models.BigAutoField):
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns.append(field.column)
            values.append("now()")
        elif field.has_default() or not field.null:
            columns.append(field.column)
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    cols = ", ".join(f'"{c}"' for c in columns)
    source = f"generate_series(1, {n}) g(i) {join}"
    sql = f"INSERT INTO {table} ({cols}) SELECT {', '.join(values)} FROM {source}"  # noqa: S608 - own SQL
    with connection.cursor() as cur:
        cur.execute(sql.replace("%", "%%").replace("%%s", "%s"), params)


def corpus(count):
    """The photos and their variants as files in var/bench/scale-corpus-<count> (made once)."""
    from catalogue.variants import make_variant

    folder = CACHE / f"scale-corpus-{count}"
    if (folder / ".done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count)
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:count]
    for n, photo in enumerate(photos):
        (folder / photo.name).write_bytes(photo.read_bytes())
        if n % 4 == 0:  # a quarter of the pictures get archive-style copies
            for kind in rng.sample(VARIANT_KINDS, 2):
                variant = make_variant(photo, kind, rng=random.Random(rng.random()))
                (folder / variant.filename).write_bytes(variant.data)
    (folder / ".done").write_text("")
    return folder


def measure(folder, shards, log_dir):
    """Import the corpus with real workers running and wait for the pipeline to finish."""
    from django.core.management import call_command

    from catalogue.models import ImageFile
    from mastercopy.celery import app

    app.control.purge()
    env = {**os.environ, "MASTERCOPY_INDEX_SHARDS": str(shards), "MASTERCOPY_RESUME_SECONDS": "0"}
    queues = ["mastercopy"] + ([f"mastercopy-index-{k}" for k in range(shards)] if shards > 1 else [])
    workers = []
    for n, queue in enumerate(queues):
        log = open(log_dir / f"worker{n}.log", "wb")  # noqa: SIM115 - kept open for the worker's life
        cmd = [
            sys.executable,
            *(["-S"] if sys.flags.no_site else []),
            "-m",
            "celery",
            "-A",
            "mastercopy",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            f"--queues={queue}",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"scale{n}@%h",
        ]
        workers.append(
            (
                subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                ),
                log_dir / f"worker{n}.log",
            )
        )
    try:
        for process, log in workers:
            while b" ready." not in log.read_bytes():
                if process.poll() is not None:
                    fail(f"a worker exited at start:\n{log.read_text()[-3000:]}", 1)
                time.sleep(0.2)
        # A worker loads its shard's index once, when its process starts (dedup.search.warm), and keeps it:
        # that is not part of an import's cost, so it is waited for and reported on its own.
        for _, log in workers[1:] if shards > 1 else workers:
            while b"index of shard" not in log.read_bytes():
                if any(p.poll() is not None for p, _ in workers):
                    fail("a worker died while loading its index:\n" + tails(workers), 1)
                time.sleep(0.5)
        seeded = set(ImageFile.objects.values_list("pk", flat=True))
        started = time.perf_counter()
        call_command("import_collection", str(folder), collection="Incoming", no_progress=True, verbosity=0)
        while not finished(workers):
            if time.perf_counter() - started > DEADLINE:
                fail(f"the pipeline did not finish in {DEADLINE} s:\n" + tails(workers), 1)
            if any(p.poll() is not None for p, _ in workers):
                fail("a worker died:\n" + tails(workers), 1)
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        time.sleep(1)  # the last verify batch's regroup
        rss = [peak_rss(p.pid) for p, _ in workers]
    finally:
        for process, _ in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in workers:
            process.wait(timeout=60)
    logs = "\n".join(log.read_text(errors="replace") for _, log in workers)
    return seeded, elapsed, rss, logs


def tails(workers):
    return "\n".join(log.read_text(errors="replace")[-2000:] for _, log in workers)


def finished(workers):
    """Nothing waits in the database, and every verify batch a worker received has regrouped."""
    from catalogue.models import ImageFile
    from dedup.models import CandidatePair, Fingerprint

    if (
        ImageFile.objects.filter(state="pending").exists()
        or Fingerprint.objects.filter(searched=False).exists()
        or CandidatePair.objects.filter(verified=False).exists()
    ):
        return False
    logs = b"".join(log.read_bytes() for _, log in workers)
    received = re.findall(rb"dedup\.tasks\.verify_batch\[[^\]]+\] received", logs)
    return len(received) <= logs.count(b"regrouped after")


def peak_rss(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) // 1024


def check_pairs(seeded):
    """(pairs among imported == brute force, pairs linking an imported image to a seeded one)."""
    import itertools

    from django.db.models import Q

    from dedup.models import CandidatePair, Fingerprint
    from dedup.search import distances, items, thresholds, within

    imported = sorted(set(Fingerprint.objects.values_list("image_id", flat=True)) - seeded)
    codes = items(imported)
    reference = {
        (x, y)
        for x, y in itertools.combinations(imported, 2)
        if within(distances(codes[x], codes[y]), thresholds())
    }
    touching = CandidatePair.objects.filter(Q(image_a__in=imported) | Q(image_b__in=imported))
    found = {
        (a, b)
        for a, b in touching.values_list("image_a_id", "image_b_id")
        if a not in seeded and b not in seeded
    }
    mixed = sum(1 for a, b in touching.values_list("image_a_id", "image_b_id") if a in seeded or b in seeded)
    return found == reference, len(reference), mixed


def run(photos, shards):
    django_setup()
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    folder = corpus(photos)
    if not default_storage.exists(PLACEHOLDER):
        jpegs = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
        default_storage.save(PLACEHOLDER, ContentFile(jpegs[-1].read_bytes()))
    with tempfile.TemporaryDirectory() as tmp:
        seeded, elapsed, rss, logs = measure(folder, shards, Path(tmp))
    search = [float(s) for s in re.findall(r"searched \d+ images \(shard \d+ of \d+\) in ([\d.]+) s", logs)]
    regroup = [float(s) for s in re.findall(r"regrouped [^\n]* in ([\d.]+) s", logs)]
    loads = [float(s) for s in re.findall(r"index of shard \d+ (?:loaded|ready): [^\n]* in ([\d.]+) s", logs)]
    exact, reference, mixed = check_pairs(seeded)
    print(
        json.dumps(
            {
                "elapsed": elapsed,
                "rss": rss,
                "search": search,
                "regroup": regroup,
                "load": loads,
                "pairs_exact": exact,
                "reference_pairs": reference,
                "mixed_pairs": mixed,
            }
        )
    )


# --------------------------------------------------------------------------------------------- driver


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,100000,1000000")
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=0)
    parser.add_argument("--_seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_run", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._seed is not None:
        django_setup()
        return seed(args._seed)
    if args._run:
        return run(*args._run)
    url = preflight()
    os.environ.setdefault("SECRET_KEY", "bench-scale-secret-key-not-a-secret-0123456789")
    os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-key-not-a-secret-0123456789")
    os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-scale-audit-key-not-a-secret-0123456789")
    base = urlparse(url).path.lstrip("/") or "mastercopy_scale"
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for n in sizes:
        template, target = f"{base}_tpl_{n}", f"{base}_n{n}"
        if not exists(url, template):
            print(f"seeding {n:,} fingerprints and pairs (once; kept as {template}) ...", flush=True)
            admin(url, f'CREATE DATABASE "{template}_new"')
            info = child("seed", with_db(url, f"{template}_new"), n)
            admin(url, f'ALTER DATABASE "{template}_new" RENAME TO "{template}"')
            print(f"  seeded in {info.get('seconds', 0)} s", flush=True)
        admin(url, f'DROP DATABASE IF EXISTS "{target}"', f'CREATE DATABASE "{target}" TEMPLATE "{template}"')
        shards = args.shards or max(1, -(-n // IMAGES_PER_SHARD))
        child("seed", with_db(url, target), 0)  # migrations a template made earlier lacks
        print(
            f"N = {n:,}: importing {args.photos} photos and variants, {shards} index shard(s) ...", flush=True
        )
        results[n] = child("run", with_db(url, target), args.photos, shards) | {"shards": shards}
        admin(url, f'DROP DATABASE IF EXISTS "{target}"')
        report_row(n, results[n])
    return verdict(sizes, results)


def report_row(n, r):
    search = r["search"] or [0.0]
    regroup = r["regroup"] or [0.0]
    print(
        f"  N = {n:>9,}: end to end {r['elapsed']:7.1f} s"
        f" | search per batch median {statistics.median(search):.2f} s,"
        f" max {max(search):.2f} s ({len(r['search'])} batches; index load {sum(r['load']):.1f} s)"
        f" | regroup per verify batch median {statistics.median(regroup):.3f} s, max {max(regroup):.3f} s"
        f" | peak RSS per worker {', '.join(f'{m:,} MB' for m in r['rss'])} ({r['shards']} shard(s))"
        f" | pairs among the import = brute force: {r['pairs_exact']} ({r['reference_pairs']}),"
        f" pairs with seeded images: {r['mixed_pairs']}",
        flush=True,
    )


def verdict(sizes, results):
    small, large = min(sizes), max(sizes)
    ratio = results[large]["elapsed"] / results[small]["elapsed"]
    checks = [
        (f"T({large:,}) / T({small:,}) = {ratio:.2f}", ratio <= GOALS["ratio"], f"<= {GOALS['ratio']}"),
        (
            f"search per batch at {large:,}: max {max(results[large]['search'] or [0]):.2f} s",
            max(results[large]["search"] or [0]) <= GOALS["search_s"],
            f"<= {GOALS['search_s']} s",
        ),
        (
            f"regroup per verify batch: max {max(max(r['regroup'] or [0]) for r in results.values()):.3f} s",
            all(max(r["regroup"] or [0]) <= GOALS["regroup_s"] for r in results.values()),
            f"<= {GOALS['regroup_s']} s",
        ),
        (
            f"peak worker RSS at {large:,}: {max(results[large]['rss']):,} MB",
            max(results[large]["rss"]) <= GOALS["rss_mb"],
            f"<= {GOALS['rss_mb']:,} MB",
        ),
        (
            "pairs equal to brute force at every N",
            all(r["pairs_exact"] for r in results.values()),
            "",
        ),
        ("a search batch ran at every N", all(r["search"] for r in results.values()), ""),
    ]
    failed = 0
    for text, ok, goal in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {text} {('(goal ' + goal + ')') if goal else ''}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
