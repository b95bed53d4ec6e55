"""Review screen server time with 100,000 candidate pairs in PostgreSQL.

Run from the repository root (PostgreSQL on 127.0.0.1; a throwaway test_<name> database is created and
dropped):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mastercopy_bench_review .venv/bin/python bench/review.py

Builds the rows in bulk (synthetic images: no files are read by the pages measured), then a cataloguer
works the queue through Django's test client in-process: for each of --items items it GETs the item
screen and POSTs a decision (which also leases the next item), cycling through every decision kind.
Prints p50/p95 server time and the queries per request for the queue page, the item screen and the
decision POST.

Goal (exit 0 only if it holds): p95 <= 50 ms for the item screen and for the decision POST.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
# The test client speaks plain HTTP; production's redirect to HTTPS is not what is measured here.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

GOAL_MS = 50.0
DECISIONS = ("keep-left", "related", "distinct", "keep-right", "skip", "escalate")


def build(pairs, images_per_record=1, fanout=5):
    """pairs candidate pairs over pairs/fanout images: image i pairs with i+1 .. i+fanout."""
    from catalogue.models import CatalogueRecord, Collection, ImageFile
    from dedup.models import CandidatePair, Fingerprint

    count = pairs // fanout + fanout
    collections = [
        Collection.objects.create(name=f"Bench collection {n}", institution="Bench Archive") for n in range(3)
    ]
    CatalogueRecord.objects.bulk_create(
        (
            CatalogueRecord(
                collection=collections[n % 3],
                catalogue_number=f"B-{n:07d}",
                title=f"Harbour view {n}" if n % 2 else "",
                creator="Harbour Board",
                credit_line="Gift of the Harbour Board" if n % 3 else "",
            )
            for n in range(count)
        ),
        batch_size=5000,
    )
    records = list(CatalogueRecord.objects.order_by("pk").values_list("pk", "collection_id"))
    ImageFile.objects.bulk_create(
        (
            ImageFile(
                record_id=pk,
                collection_id=collection,
                storage_key=f"originals/bench/{n:07d}",
                original_filename=f"{n:07d}.tif",
                source_path=f"scans/{n:07d}.tif",
                size=30_000_000 + n,
                sha256=f"{n:064x}",
                format="TIFF" if n % 2 else "JPEG",
                width=4000 if n % 2 else 2000,
                height=3000 if n % 2 else 1500,
                mode="RGB",
                icc_profile="Adobe RGB (1998)" if n % 2 else "sRGB IEC61966-2.1",
                state="ready",
            )
            for n, (pk, collection) in enumerate(records)
        ),
        batch_size=5000,
    )
    image_ids = list(ImageFile.objects.order_by("pk").values_list("pk", flat=True))
    Fingerprint.objects.bulk_create(
        (
            Fingerprint(
                image_id=pk,
                phash=n,
                dhash=n,
                width=4000,
                height=3000,
                dpi=[300, 300],
                exif_datetime="1931:06:01 10:00:00",
                preview_key=f"derivatives/bench/{n}/preview.jpg",
                thumbnail_key=f"derivatives/bench/{n}/thumbnail.jpg",
                searched=True,
            )
            for n, pk in enumerate(image_ids)
        ),
        batch_size=5000,
    )
    relations = itertools.cycle(["resized+recompressed", "cropped", "greyscale", "rotated", "bordered"])
    rows = []
    for i, offset in itertools.product(range(len(image_ids) - fanout), range(1, fanout + 1)):
        if len(rows) == pairs:
            break
        score = ((i * 7919 + offset * 104729) % 1000) / 1000
        rows.append(
            CandidatePair(
                image_a_id=image_ids[i],
                image_b_id=image_ids[i + offset],
                phash_distance=offset,
                dhash_distance=offset + 2,
                crop_distance=offset if offset % 2 else None,
                score=score,
                tier="review",
                relation=next(relations),
                relation_params={"scale": 0.5},
                explanation="Right is the same picture as Left, resized to 50% and recompressed.",
                verified=True,
                tier_reason="probable match",
                priority=score,
            )
        )
    CandidatePair.objects.bulk_create(rows, batch_size=5000)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def timed(call, queries_out, times_out):
    """Server time of one request, measured bare; its queries are counted on every 10th request only,
    because capturing SQL (debug cursor, parameter interpolation) costs as much as the queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if (len(times_out) + len(queries_out)) % 10 == 0:
        with CaptureQueriesContext(connection) as captured:
            response = call()
        queries_out.append(len(captured))
        return response
    started = time.perf_counter()
    response = call()
    times_out.append((time.perf_counter() - started) * 1000)
    return response


def run(items):
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from catalogue.roles import CATALOGUER, ensure_roles
    from dedup.models import CandidatePair
    from review import services
    from review.models import ReviewItem

    started = time.perf_counter()
    build(args.pairs)
    services.sync_queue()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"built {CandidatePair.objects.count():,} pairs, {ReviewItem.objects.count():,} queue items "
        f"in {time.perf_counter() - started:.1f} s"
    )
    ensure_roles()
    user = User.objects.create_user("bench-cataloguer", password="x" * 20)
    user.groups.add(Group.objects.get(name=CATALOGUER))
    client = Client()
    client.force_login(user)

    figures = {name: ([], []) for name in ("queue", "item", "decision")}
    for _ in range(5):  # warm caches and connections; not measured
        client.get(reverse("review-queue"))
    for _ in range(20):
        timed(lambda: client.get(reverse("review-queue")), *figures["queue"][::-1])
    location = client.post(reverse("review-start"))["Location"]
    for n in range(items):
        if not location.startswith("/review/items/"):
            location = client.post(reverse("review-start"))["Location"]
        response = timed(lambda url=location: client.get(url), *figures["item"][::-1])
        assert response.status_code == 200, (response.status_code, location, response.get("Location"))
        item_pk = int(location.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        decision = {"decision": DECISIONS[n % len(DECISIONS)]}
        response = timed(
            lambda pk=item_pk, data=decision: client.post(reverse("review-decide", args=[pk]), data),
            *figures["decision"][::-1],
        )
        assert response.status_code == 302, response.status_code
        location = response["Location"]
    if os.environ.get("BENCH_EXPLAIN"):
        from review.views import _get_item_for_user  # noqa: F401

        query = ReviewItem.objects.select_related(
            "pair__image_a__record__collection",
            "pair__image_b__record__collection",
            "pair__image_a__fingerprint",
            "pair__image_b__fingerprint",
            "pair__group",
            "leased_by",
        ).filter(pk=ReviewItem.objects.first().pk)
        print(query.explain(analyze=True))
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            client.get(location if location.startswith("/review/items/") else reverse("review-queue"))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return figures


def main():
    import django
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    django.setup()
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        print("bench/review.py measures PostgreSQL: set DATABASE_URL=postgresql://...", file=sys.stderr)
        return 2
    from django.test.utils import override_settings

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    # Back to production rendering: the test environment's template instrumentation copies every
    # context and would be measured as server time.
    teardown_test_environment()
    # No collectstatic here: plain static storage instead of the production manifest (same page work).
    static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        with override_settings(STORAGES=static, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            figures = run(args.items)
    finally:
        teardown_databases(old, verbosity=0)
    ok = True
    print(f"{'page':<10} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries (max)':>14}")
    for name, (times, queries) in figures.items():
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        print(f"{name:<10} {len(times):>5} {p50:>8.1f} {p95:>8.1f} {max(times):>8.1f} {max(queries):>14}")
        if name in ("item", "decision"):
            ok = ok and p95 <= GOAL_MS
    item_p95 = percentile(figures["item"][0], 0.95)
    decision_p95 = percentile(figures["decision"][0], 0.95)
    verdict = "goal met" if ok else "GOAL MISSED"
    print(
        f"summary: {args.pairs:,} pairs; item screen p95 {item_p95:.1f} ms, decision POST p95 "
        f"{decision_p95:.1f} ms (goal <= {GOAL_MS:.0f} ms): {verdict}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=300, help="items reviewed (each: one GET, one POST)")
    args = parser.parse_args()
    sys.exit(main())
