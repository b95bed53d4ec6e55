"""Triage throughput through the HTTP endpoints: decisions per minute of server time, pair by pair,
on the group screen, and as one band decision; 1,000 pairs decided as one band in at most 30 s.

Run from the repository root (PostgreSQL on 127.0.0.1; the bench creates and drops test_<name>):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mc_triage .venv/bin/python bench/triage.py

No bench-only dependency: Django's test client drives the pages' own URLs in-process (the whole stack
from middleware to the database, no network), so a request's time is its server time.

The generated set: --pictures synthetic photographs (tests/imagefactory.scene) and a "resized" variant
of each (catalogue/variants.py), stored, imported as records and fingerprinted (previews and thumbnails
as the pipeline makes them); then --pairs-by-pair + --band review-tier pairs in one collection, one
relation and the queue's top score band (0.90 and above), each pair two records of their own whose
images are copies of one picture and its variant (rows copied, files shared, as the pages read them).

Measured, in this order:
1. pair by pair: a cataloguer works the band's queue as the review screen does (start, then for each
   pair the item screen GET and the decision POST, which redirects to the next item), keeping the master
   the screen suggests; these decisions are the band's evidence (n >= 381 all agreeing is what a lower
   bound of 0.99 needs).
2. the group screen: --groups candidate groups of --group-size (copies of one picture, one pair from
   each member to the proposed master, scoring 0.76-0.89 so they are not the band's evidence), each
   decided with one GET of review-group and one submit keeping the proposed master and marking every
   other member duplicate.
3. band: a supervisor opens the band page (counts, estimate, interval, sample of 24) and accepts the
   suggested master for all --band open pairs: one POST, one batch, the decision chain included.
   Then verify_audit; then the whole batch reverted in one POST, the catalogue compared with its state
   before the band, and verify_audit again.
Prints each figure, the pair-by-pair baseline of the same run and the ratio; exits 1 when a goal fails
(band of --band pairs > 30 s, the chain not intact, or the revert not exact).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mastercopy.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
os.environ.setdefault("MASTERCOPY_AUDIT_KEY", "bench-only-audit-" + "y" * 40)
# The test client speaks plain HTTP; production's redirect to HTTPS is not what is measured here.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

BAND_GOAL_S = 30.0
RELATION = "resized"
BAND = "high"


def log(text=""):
    print(text, flush=True)


# --- the generated set -----------------------------------------------------------------------------------


def pictures(collection, count):
    """count (picture, resized variant) image pairs, stored and fingerprinted."""
    from catalogue.variants import make_variant
    from tests.imagefactory import scene
    from tests.test_review_corpus import add_image

    made = []
    for n in range(count):
        picture = scene(480, 360, seed=n)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=92)
        variant = make_variant(out.getvalue(), "resized", rng=random.Random(n))
        made.append(
            (
                add_image(collection, f"SRC-{n:04d}", io.BytesIO(out.getvalue())),
                add_image(collection, f"SRC-{n:04d}-v", io.BytesIO(variant.data)),
            )
        )
    return made


def _copies(sources, collection, count, prefix="P", per_source=1):
    """count (copy of a picture, copy of its variant) image pairs: new records with new image rows on the
    sources' stored files, and copies of their fingerprints (bulk inserts)."""
    from catalogue import scripts
    from catalogue.models import CatalogueRecord, ImageFile
    from dedup.models import Fingerprint

    plan = [(n, side, sources[n // per_source % len(sources)][side]) for n in range(count) for side in (0, 1)]
    numbers = [f"{prefix}-{n:05d}{'-v' if side else ''}" for n, side, _image in plan]
    records = CatalogueRecord.objects.bulk_create(
        [
            # bulk_create skips save(): the search column it fills is filled here.
            CatalogueRecord(
                collection=collection, catalogue_number=number, search_text=scripts.search_text(number)
            )
            for number in numbers
        ],
        batch_size=1000,
    )
    images = []
    for record, (_n, _side, image) in zip(records, plan, strict=True):
        images.append(
            ImageFile(
                **{
                    f.attname: getattr(image, f.attname)
                    for f in ImageFile._meta.concrete_fields
                    if f.attname not in ("id", "record_id", "source_path")
                },
                record_id=record.pk,
                source_path=f"{record.catalogue_number}.{image.format.lower()}",
            )
        )
    images = ImageFile.objects.bulk_create(images, batch_size=1000)
    fingerprints = {
        image.pk: Fingerprint.objects.get(image_id=image.pk) for pair in sources for image in pair
    }
    copies = []
    for copy, (_n, _side, image) in zip(images, plan, strict=True):
        fingerprint = fingerprints[image.pk]
        copies.append(
            Fingerprint(
                **{
                    f.attname: getattr(fingerprint, f.attname)
                    for f in Fingerprint._meta.concrete_fields
                    if f.attname not in ("image_id", "seq")
                },
                image_id=copy.pk,
            )
        )
    Fingerprint.objects.bulk_create(copies, batch_size=1000)
    return [(images[2 * n], images[2 * n + 1]) for n in range(count)]


def seed(count, picture_count, rng, options_level=None):
    """The collection and count review-tier pairs of RELATION in the BAND score band, queued."""
    from catalogue.models import Collection
    from dedup.models import CandidatePair
    from review import services

    collection = Collection.objects.create(name="Triage bench", institution="Bench Archive")
    sources = pictures(collection, picture_count)
    made = []
    for n, (a, b) in enumerate(_copies(sources, collection, count)):
        original, variant = sources[n % len(sources)]
        if rng.random() < 0.5:
            a, b = b, a
        a, b = sorted((a, b), key=lambda image: image.pk)
        score = round(rng.uniform(0.905, 0.995), 3)
        made.append(
            CandidatePair(
                image_a=a,
                image_b=b,
                phash_distance=rng.randrange(0, 5),
                dhash_distance=rng.randrange(0, 7),
                score=score,
                tier=CandidatePair.Tier.REVIEW,
                relation=RELATION,
                relation_params={"scale": round(variant.width / original.width, 3)},
                explanation="Right is the same picture as Left, resized.",
                verified=True,
                tier_reason=f"probable match: {RELATION}",
                priority=score,
            )
        )
    CandidatePair.objects.bulk_create(made, batch_size=500)
    services.sync_queue()
    if options_level is not None:
        collection.policy = {"band_precision": options_level}
        collection.save()
    return collection, sources


def seed_groups(collection, sources, count, size, rng):
    """count candidate groups of size members (a picture's copy as the proposed master, size - 1
    copies of its variant), one pair from each member to the master, in the queue's 0.75-0.90 band
    (so the group screen's decisions are not the band's evidence)."""
    from dedup.models import CandidateGroup, CandidatePair
    from review import services

    # Each group is copies of one picture and its variant.
    members = _copies(sources, collection, count * size, prefix="G", per_source=size)
    made = []
    for g in range(count):
        chunk = members[g * size : (g + 1) * size]
        master = chunk[0][0]  # the picture, larger than its resized variant or not: the group's master
        group = CandidateGroup.objects.create(master=master)
        copies = [variant for _original, variant in chunk[1:]] + [chunk[0][1]]
        group.members.set([master, *copies])
        for copy in copies:
            a, b = sorted((master, copy), key=lambda image: image.pk)
            score = round(rng.uniform(0.76, 0.89), 3)
            made.append(
                CandidatePair(
                    image_a=a,
                    image_b=b,
                    phash_distance=2,
                    dhash_distance=3,
                    score=score,
                    tier=CandidatePair.Tier.REVIEW,
                    relation=RELATION,
                    verified=True,
                    priority=score,
                    group=group,
                )
            )
    CandidatePair.objects.bulk_create(made, batch_size=500)
    services.sync_queue()
    return list(CandidateGroup.objects.filter(pk__gte=0).order_by("pk"))


def group_screen(cataloguer, groups):
    """Each group decided on its screen: GET, then one POST keeping the proposed master and marking
    every other member duplicate. Returns (seconds, decisions)."""
    from django.urls import reverse

    from review.models import Decision

    client = Timed(cataloguer)
    for group in groups:
        screen = client.get(reverse("review-group", args=[group.pk]))
        marks = {
            f"mark-{row['image'].pk}": "duplicate"
            for row in screen.context["members"]
            if not row["is_master"]
        }
        client.post(
            reverse("review-group", args=[group.pk]),
            {"master": group.master_id, "seen": screen.context["seen"], **marks},
        )
    # The people's decisions of the submits (each shares its submit's batch id), not the system's.
    return client.seconds, Decision.objects.filter(actor=cataloguer, batch__isnull=False).count()


def users():
    from django.contrib.auth.models import Group, User

    from catalogue.roles import CATALOGUER, SUPERVISOR, ensure_roles

    ensure_roles()
    people = {}
    for name, group in (("cataloguer", CATALOGUER), ("supervisor", SUPERVISOR), ("second", SUPERVISOR)):
        user = User.objects.create_user(f"bench-{name}")  # force_login: no password needed
        user.groups.add(Group.objects.get(name=group))
        people[name] = user
    return people


# --- the measurements ------------------------------------------------------------------------------------


class Timed:
    """A test client whose requests are timed (server time: the client runs the stack in-process)."""

    def __init__(self, user):
        from django.test import Client

        self.client = Client()
        self.client.force_login(user)
        self.seconds = 0.0
        self.requests = 0

    def __getattr__(self, method):
        call = getattr(self.client, method)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            response = call(*args, **kwargs)
            self.seconds += time.perf_counter() - started
            self.requests += 1
            if response.status_code >= 400:
                raise SystemExit(f"{method.upper()} {args[0]} answered {response.status_code}")
            return response

        return timed


def pair_by_pair(cataloguer, collection, count):
    """count decisions through the review screen; returns (seconds, decisions)."""
    from django.urls import reverse

    client = Timed(cataloguer)
    filters = {"collection": collection.pk, "relation": RELATION, "band": BAND, "order": "easy"}
    response = client.post(reverse("review-start"), filters)
    decided = 0
    while decided < count and response.status_code == 302 and "/items/" in response["Location"]:
        screen = client.get(response["Location"])
        side = screen.context["suggestion"].side
        item = screen.context["item"]
        response = client.post(
            reverse("review-decide", args=[item.pk]), {**filters, "decision": f"keep-{side}"}
        )
        decided += 1
    return client.seconds, decided


def catalogue_state(collection):
    from catalogue.models import CatalogueRecord, RecordLink

    records = list(
        CatalogueRecord.objects.filter(collection=collection)
        .order_by("pk")
        .values_list("pk", "status", "master_id", "title", "rights", "credit_line", "metadata")
    )
    return records, sorted(RecordLink.objects.values_list("record_a_id", "record_b_id"))


def verify_audit():
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    try:
        call_command("verify_audit", stdout=out)
    except CommandError as error:
        return False, str(error)
    return True, out.getvalue().strip().splitlines()[0]


def band(supervisor, collection, expected):
    """The band page, then one POST accepting the suggested master for all; returns figures."""
    from django.urls import reverse

    from review.models import BandDecision, Decision

    client = Timed(supervisor)
    query = {"collection": collection.pk, "relation": RELATION, "band": BAND}
    page = client.get(reverse("review-supervisor-bands"), query)
    page_seconds = client.seconds
    estimate, level, refusal = page.context["estimate"], page.context["level"], page.context["refusal"]
    log(
        f"  band page: {page.context['open']:,} open pairs, {estimate.agree} of {estimate.total} reviewed "
        f"decisions kept the suggested master, 95% interval {estimate.low:.4f}–{estimate.high:.4f}, "
        f"level {level:.3f}; {len(page.context['sample'])} sample pairs; {page_seconds * 1000:.0f} ms"
    )
    if refusal:
        raise SystemExit(f"the band was refused: {refusal}")
    before = Decision.objects.count()
    started = client.seconds
    response = client.post(reverse("review-supervisor-band-accept"), query)
    seconds = client.seconds - started
    decided = Decision.objects.count() - before
    found = BandDecision.objects.order_by("-created_at").first()
    if response.status_code != 302 or found is None or decided != expected:
        raise SystemExit(f"the band decided {decided} pairs, expected {expected} ({response.status_code})")
    return seconds, decided, page_seconds, found


def revert(supervisor, found):
    from django.urls import reverse

    client = Timed(supervisor)
    client.post(reverse("review-band-revert", args=[found.batch]), {"reason": "bench"})
    return client.seconds


def round_trip_ms(samples=200):
    """The median time of a trivial query now: the machine's load, for reading the figures."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _n in range(samples):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def measure(options):
    from django.conf import settings

    from review import services

    rng = random.Random(options.seed)
    log(f"database: {settings.DATABASES['default']['NAME']} ({settings.DATABASES['default']['ENGINE']})")
    started = time.perf_counter()
    people = users()
    collection, sources = seed(options.pairs_by_pair + options.band, options.pictures, rng, options.level)
    groups = (
        seed_groups(collection, sources, options.groups, options.group_size, rng) if options.groups else []
    )
    log(
        f"seeded {options.pairs_by_pair + options.band:,} pairs of {RELATION} scoring 0.905–0.995 on "
        f"{options.pictures} generated pictures in {time.perf_counter() - started:.1f} s"
    )

    log(f"database round trip (SELECT 1) median now: {round_trip_ms():.2f} ms; load {os.getloadavg()}")
    seconds, decided = pair_by_pair(people["cataloguer"], collection, options.pairs_by_pair)
    services.release(people["cataloguer"])  # the screen leased the next pair to them: give it back
    pbp_rate = decided / seconds * 60
    log(
        f"1. pair by pair: {decided} decisions (item screen GET + decision POST each) in {seconds:.1f} s "
        f"of server time: {pbp_rate:,.0f} decisions/min ({seconds / decided * 1000:.0f} ms per decision)"
    )
    if options.groups:
        seconds, decided = group_screen(people["cataloguer"], groups)
        log(
            f"2. group screen: {len(groups)} groups of {options.group_size} (screen GET + one submit each) "
            f"in {seconds:.1f} s of server time: {decided} decisions, "
            f"{decided / seconds * 60:,.0f} decisions/min "
            f"({decided / seconds * 60 / pbp_rate:.1f}x pair by pair)"
        )
    else:
        log("2. group screen: not measured (--groups 0)")
    before = catalogue_state(collection)
    band_seconds, band_decided, _page, found = band(people["supervisor"], collection, options.band)
    band_rate = band_decided / band_seconds * 60
    log(
        f"3. band: {band_decided:,} decisions in one POST (one batch, chain included) in "
        f"{band_seconds:.1f} s: "
        f"{band_rate:,.0f} decisions/min (goal: {options.band:,} in <= {BAND_GOAL_S:.0f} s)"
    )
    intact, said = verify_audit()
    log(f"   verify_audit after the band: {said}")
    revert_seconds = revert(people["second"], found)
    exact = catalogue_state(collection) == before
    intact_after, said_after = verify_audit()
    log(
        f"   the whole batch reverted in one POST in {revert_seconds:.1f} s; catalogue "
        f"{'exactly as before the band' if exact else 'NOT as before the band'}; verify_audit: {said_after}"
    )
    log(f"database round trip (SELECT 1) median at the end: {round_trip_ms():.2f} ms; load {os.getloadavg()}")
    log(f"ratio: band / pair by pair (baseline of this run): {band_rate / pbp_rate:,.0f}x decisions/min")
    failures = []
    if band_seconds > BAND_GOAL_S:
        failures.append(f"band of {band_decided:,} took {band_seconds:.1f} s > {BAND_GOAL_S:.0f} s")
    if not (intact and intact_after):
        failures.append("audit chain not intact")
    if not exact:
        failures.append("the batch revert did not restore the catalogue exactly")
    log("all goals met" if not failures else "GOAL MISSED: " + "; ".join(failures))
    return 1 if failures else 0


def main(options):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print("bench/triage.py measures PostgreSQL: set DATABASE_URL=postgresql://...", file=sys.stderr)
        return 2
    data_dir = tempfile.mkdtemp(prefix="mastercopy-triage-")
    os.environ["MASTERCOPY_DATA_DIR"] = data_dir  # stored files and audit checkpoints of this run only
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from django.conf import settings
    from django.test import override_settings

    # No collectstatic here: plain static storage instead of the production manifest (same page work).
    static = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        log(f"created {name}")
        with override_settings(STORAGES=static):
            return measure(options)
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--band", type=int, default=1000, help="open pairs decided as one band")
    parser.add_argument(
        "--pairs-by-pair", type=int, default=400, help="decided one by one first (the band's evidence)"
    )
    parser.add_argument("--pictures", type=int, default=40, help="generated pictures (each with a variant)")
    parser.add_argument("--groups", type=int, default=40, help="candidate groups decided on the group screen")
    parser.add_argument("--group-size", type=int, default=5)
    parser.add_argument(
        "--level", type=float, help="the collection's band_precision (default: the policy's 0.99)"
    )
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(main(parser.parse_args()))
