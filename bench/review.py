"""Pages at archive scale: server time of every listing and counting page with 1M images and 1M pairs.

Run from the repository root (PostgreSQL on 127.0.0.1):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mastercopy_bench_review .venv/bin/python bench/review.py

The first run seeds a template database <name>_tpl_<images>_<pairs>_v<SEED>_<digest of the migration
files> in SQL (generate_series INSERT ... SELECT, no Python rows: a few minutes at 1M) and keeps it;
every run copies it into <name>_run (CREATE DATABASE ... TEMPLATE, seconds), VACUUM ANALYZEs, measures,
and drops the copy. After a change to the migrations the newest template is copied and migrated
forward (or, when that fails, a new one seeded); --rebuild seeds afresh. Old templates are left for
you to drop (psql -c 'DROP DATABASE ...').

The seeded archive: 6 collections (one restricted to a group the bench users are not in, so every
page filters by visible collections), records with one or two images, 2 % of the images waiting and 1 %
failed, 1M candidate pairs (30 % settled automatically, 10 % rejected, 60 % in the review queue), and a
decision log of ~650,000 decisions over a year (automatic ones, eight cataloguers' duplicate / related /
distinct / skip / escalate decisions, undos, reverts, proposals waiting for approval), re-review samples
and import batches. No files are read by the pages measured.

Then, through Django's test client in-process, every page in catalogue/urls.py and review/urls.py that
lists or counts is requested --repeat times (after warming), as the role that uses it, and a
cataloguer works the queue (item screen GET and decision POST, --items times). Prints p50/p95 server
time and queries per request for each page against its goal: p95 <= 150 ms for the pages, <= 50 ms for
the item screen and the decision POST. Exits 1 when any page misses its goal.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench import pgtemplate  # noqa: E402 (the repository on the path first)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-key-not-a-secret-0123456789")
os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-" + "y" * 40)
# The seeded decisions carry made-up hashes (the chain walk is not a page measured here): a migration
# that re-keys the chain must not refuse them.
os.environ.setdefault("MASTERCOPY_AUDIT_REKEY_BROKEN", "1")
# The test client speaks plain HTTP; production's redirect to HTTPS is not what is measured here.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

PAGE_GOAL_MS = 150.0
ITEM_GOAL_MS = 50.0
# Bump when the seeded data changes shape: old templates are then left alone and a new one is built.
SEED = 2
DECISIONS = ("keep-left", "related", "distinct", "keep-right", "skip", "escalate")
COLLECTIONS = 6
CATALOGUERS = 8
RELATIONS = ("resized+recompressed", "cropped", "greyscale", "rotated", "bordered")


# --- seeding ------------------------------------------------------------------------------------------


def _columns(model, exprs):
    """(column list, select list, params) for an INSERT ... SELECT filling every concrete column of model:
    the given SQL expressions, else NULL, the field's default, or now() for auto timestamps. Built from
    the model so that a column added later by a migration is filled with its default, not missed."""
    from django.db import connection, models

    columns, selects, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.attname in exprs:
            columns.append(field.column)
            selects.append(exprs[field.attname])
        elif isinstance(field, models.AutoField | models.BigAutoField):
            continue
        elif field.db_default is not models.NOT_PROVIDED:
            continue  # the database fills it
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns.append(field.column)
            selects.append("now()")
        elif field.has_default() or not field.null:
            columns.append(field.column)
            selects.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        else:
            columns.append(field.column)
            selects.append("NULL")
    return ", ".join(f'"{c}"' for c in columns), ", ".join(selects), params


def _escaped(sql):
    """Literal % (SQL modulo, LIKE text) doubled; %s placeholders kept."""
    return re.sub(r"%(?!s)", "%%", sql)


def insert(cursor, model, exprs, source, params=()):
    exprs = {name: _escaped(sql) for name, sql in exprs.items()}
    source = _escaped(source)
    columns, selects, defaults = _columns(model, exprs)
    # exprs carry no placeholders: the defaults' %s are the SELECT list's, then the source's.
    cursor.execute(
        # The SQL is the bench's own constants and model metadata; values go as parameters.
        f'INSERT INTO "{model._meta.db_table}" ({columns}) SELECT {selects} FROM {source}',  # noqa: S608
        [*defaults, *params],
    )
    return cursor.rowcount


def _collection_of_record(column, ids, records):
    """Half the archive in the first collection, the rest spread; the last 2,000 records restricted."""
    spread = ",".join(str(ids[n]) for n in (0, 0, 0, 0, 0, 1, 1, 2, 3, 4))
    # A multiplicative hash of the record id picks the collection, so that collections are not
    # correlated with the decision kinds and tiers (chosen by the pair id modulo 10).
    return (
        f"CASE WHEN {column} > {records} - 2000 THEN {ids[5]} "
        f"ELSE (ARRAY[{spread}])[1 + ({column}::bigint * 2654435761) % 1000 / 100] END"
    )


def seed(images, pairs, log):
    """The archive, in SQL. Returns nothing; the caller ANALYZEs."""
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction

    from catalogue.models import CatalogueRecord, Collection, ImageFile, ImportBatch, PolicyChange
    from catalogue.roles import ADMINISTRATOR, CATALOGUER, SUPERVISOR, ensure_roles
    from dedup.models import CandidatePair, Fingerprint
    from review.models import Decision, ReviewItem
    from review.rereview import ReReview, ReReviewItem

    ensure_roles()
    partners = Group.objects.create(name="Bench partners")
    collections = [
        Collection.objects.create(name=f"Bench collection {n}", institution="Bench Archive")
        for n in range(1, COLLECTIONS + 1)
    ]
    collections[-1].restricted_to.add(partners)
    admin = User.objects.create_user("bench-admin", password="x" * 20)
    admin.groups.add(Group.objects.get(name=ADMINISTRATOR))
    supervisor = User.objects.create_user("bench-supervisor", password="x" * 20)
    supervisor.groups.add(Group.objects.get(name=SUPERVISOR))
    cataloguers = []
    for n in range(CATALOGUERS):
        user = User.objects.create_user(f"bench-cataloguer-{n}", password="x" * 20)
        user.groups.add(Group.objects.get(name=CATALOGUER))
        cataloguers.append(user.pk)
    ids = [c.pk for c in collections]
    records = images * 4 // 5  # a fifth of the records have a second image

    def step(label, call):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            n = call(cursor)
        log(f"  {label}: {n:,} rows in {time.perf_counter() - started:.1f} s")

    def fill_imports(cursor):
        n = 0
        for collection in collections:
            n += insert(
                cursor,
                ImportBatch,
                {
                    "collection_id": str(collection.pk),
                    "source": "'folder'",
                    "root": "'/archive/scans'",
                    "started_at": "now() - g * interval '1 day'",
                    "finished_at": "now() - g * interval '1 day' + interval '1 hour'",
                    "stored": "1000 + g",
                    "skipped": "g % 7",
                    "rejected": "g % 3",
                },
                "generate_series(1, 40) AS g",
            )
        return n

    step("import batches", fill_imports)
    step(
        "records",
        lambda cursor: insert(
            cursor,
            CatalogueRecord,
            {
                "id": "g",
                "collection_id": _collection_of_record("g", ids, records),
                "catalogue_number": "'B-' || lpad(g::text, 7, '0')",
                "title": "CASE WHEN g % 2 = 1 THEN 'Harbour view ' || g ELSE '' END",
                "creator": "'Harbour Board'",
                "credit_line": "CASE WHEN g % 3 > 0 THEN 'Gift of the Harbour Board' ELSE '' END",
            },
            "generate_series(1::bigint, %s) AS g",
            [records],
        ),
    )
    step(
        "images",
        lambda cursor: insert(
            cursor,
            ImageFile,
            {
                "id": "g",
                "record_id": f"1 + (g - 1) % {records}",
                "collection_id": _collection_of_record(f"(1 + (g - 1) % {records})", ids, records),
                "storage_key": "'originals/bench/' || g",
                "original_filename": "g || '.tif'",
                "source_path": "'scans/' || g || '.tif'",
                "size": "30000000 + g",
                "sha256": "md5(g::text) || md5((g + 1)::text)",
                "format": "CASE WHEN g % 2 = 1 THEN 'TIFF' ELSE 'JPEG' END",
                "width": "CASE WHEN g % 2 = 1 THEN 4000 ELSE 2000 END",
                "height": "CASE WHEN g % 2 = 1 THEN 3000 ELSE 1500 END",
                "mode": "'RGB'",
                "icc_profile": "'sRGB IEC61966-2.1'",
                "state": "CASE WHEN g % 50 = 0 THEN 'pending' WHEN g % 97 = 0 THEN 'failed' ELSE 'ready' END",
            },
            "generate_series(1::bigint, %s) AS g",
            [images],
        ),
    )
    step(
        "fingerprints",
        lambda cursor: insert(
            cursor,
            Fingerprint,
            {
                "image_id": "i.id",
                "phash": "i.id",
                "dhash": "i.id * 3",
                "width": "i.width",
                "height": "i.height",
                "preview_key": "'derivatives/bench/' || i.id || '/preview.jpg'",
                "thumbnail_key": "'derivatives/bench/' || i.id || '/thumbnail.jpg'",
                "computed_at": "now() - (i.id % 1000) * interval '1 hour'",
                "searched": "true",
            },
            "catalogue_imagefile i WHERE i.state = 'ready'",
        ),
    )
    # Pair g: image a = 1 + (g - 1) mod (N - 3) with its next (then second next) image; tiers by g mod 10.
    span = images - 3
    step(
        "candidate pairs",
        lambda cursor: insert(
            cursor,
            CandidatePair,
            {
                "id": "g",
                "image_a_id": f"1 + (g - 1) % {span}",
                "image_b_id": f"1 + (g - 1) % {span} + 1 + (g - 1) / {span}",
                "phash_distance": "1 + g % 9",
                "dhash_distance": "2 + g % 9",
                "crop_distance": "CASE WHEN g % 2 = 1 THEN g % 9 END",
                "same_bytes": "g % 10 = 0",
                "score": "((g * 7919) % 1000) / 1000.0",
                "tier": "CASE WHEN g % 10 < 3 THEN 'auto' WHEN g % 10 = 3 THEN 'rejected' ELSE 'review' END",
                "relation": "(ARRAY['" + "','".join(RELATIONS) + "'])[1 + g % 5]",
                "relation_params": """'{"scale": 0.5}'::jsonb""",
                "explanation": "'Right is the same picture as Left, resized to 50% and recompressed.'",
                "verified": "true",
                "tier_reason": "'probable match'",
                "priority": "((g * 7919) % 1000) / 1000.0",
            },
            "generate_series(1::bigint, %s) AS g",
            [pairs],
        ),
    )
    # Decisions in pair order, spread over a year. Kinds by the pair's id: auto pairs get the system's
    # duplicate; review pairs g mod 10 = 4, 5, 6 a person's duplicate / related / distinct; 7 a skip on
    # every 5th; 9 an escalation on every 100th and a proposal waiting for approval on every 1000th.
    kind = (
        "CASE WHEN p.tier = 'auto' THEN 'duplicate' WHEN p.id % 10 = 4 THEN 'duplicate' "
        "WHEN p.id % 10 = 5 THEN 'related' WHEN p.id % 10 = 6 THEN 'distinct' WHEN p.id % 10 = 7 THEN 'skip' "
        "ELSE 'escalate' END"
    )
    chosen = (
        "p.tier = 'auto' OR p.id % 10 IN (4, 5, 6) OR (p.id % 10 = 7 AND p.id % 50 = 7) "
        "OR (p.id % 10 = 9 AND p.id % 100 = 9) OR (p.id % 10 = 4 AND p.id % 1000 = 14)"
    )
    cataloguer = f"(ARRAY[{','.join(map(str, cataloguers))}])[1 + (p.id / 10) % {CATALOGUERS}]"
    automatic = "p.tier = 'auto'"
    evidence = """jsonb_build_object('score', p.score, 'relation', p.relation, 'tier', p.tier)"""

    def fill_decisions(cursor):
        n = insert(
            cursor,
            Decision,
            {
                "id": "row_number() OVER (ORDER BY p.id)",
                "pair_id": "p.id",
                "kind": kind,
                "master_id": f"CASE WHEN {kind} = 'duplicate' THEN a.record_id END",
                "superseded_id": f"CASE WHEN {kind} = 'duplicate' AND a.record_id <> b.record_id "
                "THEN b.record_id END",
                "actor_id": f"CASE WHEN {automatic} THEN NULL ELSE {cataloguer} END",
                "automatic": automatic,
                "reason": f"CASE WHEN {automatic} THEN 'byte-identical' ELSE '' END",
                "evidence": evidence,
                "pending": "p.tier = 'review' AND p.id % 1000 = 14",
                "created_at": f"now() - interval '365 days' + p.id * interval '365 days' / {pairs}",
                "sequence": "row_number() OVER (ORDER BY p.id)",
                "prev_hash": "md5(p.id::text) || md5(p.id::text)",
                "hash": "md5((p.id + 1)::text) || md5(p.id::text)",
            },
            "dedup_candidatepair p JOIN catalogue_imagefile a ON a.id = p.image_a_id "
            f"JOIN catalogue_imagefile b ON b.id = p.image_b_id WHERE {chosen}",
        )
        # Corrections at the end of the log: every 100th person's duplicate undone, every 200th related
        # reverted by the supervisor.
        n += insert(
            cursor,
            Decision,
            {
                "id": "m.top + row_number() OVER (ORDER BY d.id)",
                "pair_id": "d.pair_id",
                "kind": "CASE WHEN d.kind = 'duplicate' THEN 'undo' ELSE 'revert' END",
                "actor_id": f"CASE WHEN d.kind = 'duplicate' THEN d.actor_id ELSE {supervisor.pk} END",
                "corrects_id": "d.id",
                "created_at": "now() - interval '1 day' + row_number() OVER (ORDER BY d.id) * interval '1 s'",
                "sequence": "m.top + row_number() OVER (ORDER BY d.id)",
                "prev_hash": "md5(d.id::text) || md5(d.id::text)",
                "hash": "md5((d.id + 7)::text) || md5(d.id::text)",
            },
            "review_decision d, (SELECT max(id) AS top FROM review_decision) m "
            "WHERE NOT d.automatic AND NOT d.pending AND ((d.kind = 'duplicate' AND d.pair_id % 1000 = 4) "
            "OR (d.kind = 'related' AND d.pair_id % 2000 = 5))",
        )
        return n

    step("decisions", fill_decisions)
    step(
        "review items",
        lambda cursor: insert(
            cursor,
            ReviewItem,
            {
                "pair_id": "p.id",
                "status": "CASE WHEN d.kind = 'escalate' THEN 'escalated' WHEN d.pending THEN 'pending' "
                "WHEN d.kind IN ('duplicate', 'related', 'distinct') THEN 'decided' ELSE 'open' END",
                "collection_id": "a.collection_id",
                "relation": "p.relation",
                "score": "p.score",
                "priority": "p.priority",
                "decision_id": "CASE WHEN d.kind IN ('duplicate', 'related', 'distinct') THEN d.id END",
                "skipped_by_id": "CASE WHEN d.kind = 'skip' THEN d.actor_id END",
                "skipped_at": "CASE WHEN d.kind = 'skip' THEN d.created_at END",
            },
            "dedup_candidatepair p JOIN catalogue_imagefile a ON a.id = p.image_a_id "
            "LEFT JOIN review_decision d ON d.pair_id = p.id AND d.corrects_id IS NULL "
            "WHERE p.tier = 'review'",
        ),
    )

    def fill_rereview(cursor):
        n = 0
        for s in range(5):
            sample = ReReview.objects.create(created_by=supervisor, filters={"size": 200})
            n += insert(
                cursor,
                ReReviewItem,
                {
                    "sample_id": str(sample.pk),
                    "decision_id": "d.id",
                    "kind": "CASE WHEN d.id % 3 = 0 THEN '' WHEN d.id % 7 = 0 THEN 'distinct' "
                    "ELSE d.kind END",
                    "reviewer_id": f"CASE WHEN d.id % 3 = 0 THEN NULL ELSE {supervisor.pk} END",
                },
                "(SELECT id, kind FROM review_decision WHERE NOT automatic AND kind IN "
                "('duplicate', 'related', 'distinct') AND id % 997 = %s ORDER BY id LIMIT 200) d",
                [s],
            )
        for collection in collections:
            PolicyChange.objects.create(
                collection=collection, actor=admin, before={}, after={"auto_settle": True}
            )
        return n

    step("re-review samples", fill_rereview)
    with connection.cursor() as cursor:
        for model in (CatalogueRecord, ImageFile, CandidatePair, Decision, ReviewItem, ImportBatch):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608 (model metadata)
                f'(SELECT max(id) FROM "{table}"))'
            )


# --- databases ----------------------------------------------------------------------------------------


def _migrations_digest():
    """Short digest of every migration file: a template seeded under other migrations is not reused."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(REPO.glob("*/migrations/0*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + path.read_bytes())
    return digest.hexdigest()[:8]


def _migrate_forward(url, older, template, log):
    """A template for the current migrations made from one seeded under earlier ones (copy, migrate):
    True when the migrations applied to it, False (and nothing left behind) when they did not."""
    started = time.perf_counter()

    def fill(name):
        pgtemplate.use(name, migrate=True)
        pgtemplate.vacuum()

    try:
        pgtemplate.ensure(url, template, fill, source=older)
    except Exception as exc:  # noqa: BLE001 (a migration edited since: seed afresh instead)
        log(f"  {older} does not migrate forward ({type(exc).__name__}: {str(exc)[:100]}); seeding afresh")
        return False
    log(f"made {template} from {older} by migrating it ({time.perf_counter() - started:.0f} s)")
    return True


def _seed_template(url, template, images, pairs, rebuild, log):
    def fill(name):
        log(f"seeding template database {template} (once; later runs copy it)")
        started = time.perf_counter()
        pgtemplate.use(name, migrate=True)
        log(f"  migrated in {time.perf_counter() - started:.0f} s")
        seed(images, pairs, log)
        pgtemplate.vacuum()
        log(f"seeded in {time.perf_counter() - started:.0f} s")

    pgtemplate.ensure(url, template, fill, rebuild=rebuild)


def prepare(url, images, pairs, rebuild, log):
    """The run database, copied from the template for the current migrations: built from the newest
    template of earlier migrations when they migrate forward, else seeded. Returns its name."""
    base = pgtemplate.base_name(url, "mastercopy_bench_review")
    prefix = f"{base}_tpl_{images}_{pairs}_v{SEED}_"
    template = prefix + _migrations_digest()
    run_db = f"{base}_run"
    if not rebuild and not pgtemplate.exists(url, template):
        older = pgtemplate.newest(url, prefix)
        if older is not None:
            _migrate_forward(url, older, template, log)
    _seed_template(url, template, images, pairs, rebuild, log)  # unless made above, or before
    started = time.perf_counter()
    pgtemplate.copy(url, template, run_db)
    pgtemplate.use(run_db)
    pgtemplate.vacuum()
    log(f"copied {template} to {run_db} and analysed it in {time.perf_counter() - started:.0f} s")
    return run_db


# --- measuring ----------------------------------------------------------------------------------------


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Figures:
    def __init__(self):
        self.rows = {}

    def measure(self, name, goal, call, repeat):
        """repeat timed calls; queries counted on one extra call (capturing SQL costs as much as the
        queries, so it is never timed). A page that fails is reported as failed, and the rest go on."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        row = self.rows.setdefault(name, {"goal": goal, "times": [], "queries": 0, "error": ""})
        try:
            for _ in range(repeat):
                started = time.perf_counter()
                response = call()
                row["times"].append((time.perf_counter() - started) * 1000)
                if response.status_code not in (200, 302):
                    raise AssertionError(f"status {response.status_code}")
            with CaptureQueriesContext(connection) as captured:
                call()
            row["queries"] = max(row["queries"], len(captured))
        except Exception as exc:  # noqa: BLE001 (reported in the table)
            row["error"] = f"{type(exc).__name__}: {exc}"[:60]

    def add(self, name, goal, ms, queries=None):
        row = self.rows.setdefault(name, {"goal": goal, "times": [], "queries": 0, "error": ""})
        if ms is not None:
            row["times"].append(ms)
        if queries is not None:
            row["queries"] = max(row["queries"], queries)

    def report(self, out):
        ok = True
        out(
            f"{'page':<34} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'goal':>6}"
            "  verdict"
        )
        for name, row in self.rows.items():
            times = row["times"] or [float("nan")]
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            met = p95 <= row["goal"] and not row["error"]
            ok = ok and met
            out(
                f"{name:<34} {len(row['times']):>4} {p50:>8.1f} {p95:>8.1f} {max(times):>8.1f} "
                f"{row['queries']:>8} {row['goal']:>6.0f}  {'ok' if met else 'MISSED'} {row['error']}"
            )
        return ok


def pages(repeat):
    """(name, persona, url) of every page that lists or counts."""
    from django.urls import reverse

    from catalogue.models import CatalogueRecord, Collection, ImportBatch
    from review.models import ReviewItem
    from review.rereview import ReReview

    first = Collection.objects.order_by("pk").first()
    record = CatalogueRecord.objects.filter(collection=first).order_by("pk")[10]
    batch = ImportBatch.objects.filter(collection=first).order_by("pk").first()
    sample = ReReview.objects.order_by("pk").first()
    open_item = ReviewItem.objects.filter(status="open").order_by("pk").first()
    collection = f"collection={first.pk}"
    return [
        ("collections", "admin", reverse("catalogue-collections")),
        ("collection page", "admin", reverse("catalogue-collection", args=[first.pk])),
        ("collection progress", "admin", reverse("dedup-collection-progress", args=[first.pk])),
        ("import", "admin", reverse("catalogue-import", args=[batch.pk])),
        ("record", "admin", reverse("catalogue-record", args=[record.pk])),
        ("search: a number", "admin", reverse("catalogue-search") + "?q=B-0012345"),
        ("search: a common word", "admin", reverse("catalogue-search") + "?q=harbour"),
        ("queue", "cataloguer", reverse("review-queue")),
        ("queue: collection", "cataloguer", reverse("review-queue") + f"?{collection}"),
        ("queue: relation + band", "cataloguer", reverse("review-queue") + "?relation=cropped&band=good"),
        ("queue: escalated", "supervisor", reverse("review-queue") + "?escalated=1"),
        ("item (not leased)", "cataloguer", reverse("review-item", args=[open_item.pk])),
        ("decision log", "supervisor", reverse("review-supervisor-decisions")),
        ("decision log: page 3", "supervisor", reverse("review-supervisor-decisions") + "?page=3"),
        ("decision log: collection + kind", "supervisor",
         reverse("review-supervisor-decisions") + f"?{collection}&kind=distinct"),
        ("decision log: number", "supervisor", reverse("review-supervisor-decisions") + "?number=B-0012345"),
        ("decision log: flagged", "supervisor", reverse("review-supervisor-decisions") + "?flagged=on"),
        ("figures", "supervisor", reverse("review-supervisor-figures")),
        ("charts", "supervisor", reverse("review-supervisor-charts")),
        ("audit", "supervisor", reverse("review-supervisor-audit")),
        ("exports", "supervisor", reverse("review-supervisor-exports")),
        ("calibration", "supervisor", reverse("review-supervisor-calibration")),
        ("re-review samples", "supervisor", reverse("review-rereview-samples")),
        ("re-review sample", "supervisor", reverse("review-rereview", args=[sample.pk])),
        ("approvals", "supervisor", reverse("review-approvals")),
        ("approvals: collection", "supervisor", reverse("review-approvals") + f"?{collection}"),
    ]


def work_the_queue(client, items, figures):
    """A cataloguer reviews items: item screen GET, decision POST (which leases the next)."""
    from django.urls import reverse

    location = client.post(reverse("review-start"))["Location"]
    for n in range(items):
        if not location.startswith("/review/items/"):
            location = client.post(reverse("review-start"))["Location"]
        started = time.perf_counter()
        response = client.get(location)
        figures.add("item screen (leased)", ITEM_GOAL_MS, (time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (response.status_code, location)
        item_pk = int(location.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        data = {"decision": DECISIONS[n % len(DECISIONS)]}
        started = time.perf_counter()
        response = client.post(reverse("review-decide", args=[item_pk]), data)
        figures.add("decision POST", ITEM_GOAL_MS, (time.perf_counter() - started) * 1000)
        assert response.status_code == 302, response.status_code
        location = response["Location"]


def run(options, log):
    from django.contrib.auth.models import User
    from django.test import Client

    from catalogue.models import ImageFile
    from dedup.models import CandidatePair
    from review.models import Decision

    log(
        f"archive: {ImageFile.objects.count():,} images, {CandidatePair.objects.count():,} pairs, "
        f"{Decision.objects.count():,} decisions"
    )
    clients = {}
    for persona, username in (
        ("admin", "bench-admin"),
        ("supervisor", "bench-supervisor"),
        ("cataloguer", "bench-cataloguer-0"),
    ):
        clients[persona] = Client()
        clients[persona].force_login(User.objects.get(username=username))
    figures = Figures()
    only = options.only
    for name, persona, url in pages(options.repeat):
        if (only and not any(word in name for word in only)) or name in options.skip:
            continue
        client = clients[persona]
        goal = ITEM_GOAL_MS if name.startswith("item") else PAGE_GOAL_MS
        figures.measure(name, goal, lambda c=client, u=url: c.get(u), options.warm)
        figures.rows[name]["times"].clear()  # warming: caches and connections, not measured
        figures.measure(name, goal, lambda c=client, u=url: c.get(u), options.repeat)
        row = figures.rows[name]
        p95 = percentile(row["times"], 0.95) if row["times"] else float("nan")
        log(f"  {name}: p95 {p95:.1f} ms, {row['queries']} queries {row['error']}")
    if options.items and not only:
        client = Client()
        client.force_login(User.objects.get(username="bench-cataloguer-1"))
        work_the_queue(client, options.items, figures)
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        target = [p for p in pages(1) if p[0] == os.environ["BENCH_PROFILE"]][0]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            clients[target[1]].get(target[2])
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    return figures


def main(options):
    def log(text):
        print(text, flush=True)

    url = pgtemplate.require(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings

    run_db = prepare(url, options.images, options.pairs, options.rebuild, log)
    # No collectstatic here: plain static storage instead of the production manifest (same page work).
    static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        with override_settings(STORAGES=static, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            figures = run(options, log)
    finally:
        if not options.keep:
            pgtemplate.drop(url, run_db)
    ok = figures.report(log)
    log(
        f"summary: {options.images:,} images, {options.pairs:,} pairs: "
        + ("every page within its goal" if ok else "GOAL MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--warm", type=int, default=2, help="untimed requests per page first")
    parser.add_argument("--skip", nargs="*", default=(), help="leave out the pages with these names")
    parser.add_argument("--items", type=int, default=100, help="items reviewed (each: one GET, one POST)")
    parser.add_argument("--only", nargs="*", help="measure only the pages whose names contain these words")
    parser.add_argument("--rebuild", action="store_true", help="seed the template database again")
    parser.add_argument("--keep", action="store_true", help="keep the run database (for EXPLAIN)")
    sys.exit(main(parser.parse_args()))
