"""A verify batch's verdicts are stored together (dedup.verification._write, review.exact): the write side
costs the same statements whatever the batch's size, and leaves exactly what storing and signalling them
pair by pair (the per-pair path: _save, pair_settled, pair_for_review) leaves."""

import io
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalogue.models import Collection
from dedup import verification
from dedup.models import CandidatePair
from review import services
from review.models import Decision, ReviewItem
from tests.test_exact_settling import snapshot
from tests.test_review_corpus import add_image, encode, make_pair, picture

pytestmark = pytest.mark.django_db


def waiting(a, b, score=0.9):
    """A pair of two images, found by the search and waiting for verification."""
    pair = make_pair(a, b, score=score, queued=False)
    CandidatePair.objects.filter(pk=pair.pk).update(verified=False, tier="", relation="", explanation="")
    return pair.pk


def copies_of(collection, seed, k, name):
    """An original and k-1 resized, recompressed copies of one picture: k images."""
    base = picture(seed, (320, 240))
    images = [add_image(collection, f"{name}-0", encode(base, quality=95))]
    for n in range(1, k):
        size = (320 - 30 * n, 240 - 22 * n)
        images.append(add_image(collection, f"{name}-{n}", encode(base.resize(size), quality=90 - 4 * n)))
    return images


def every_pair(images):
    return [waiting(a, b) for i, a in enumerate(images) for b in images[i + 1 :]]


def mixed(collection, seed, name):
    """An original (TIFF), a pixel-identical PNG of it (settled automatically) and a resized copy (queued):
    a record group whose pairs both settle and go to the queue."""
    base = picture(seed, (320, 240))
    original = add_image(collection, f"{name}-tiff", encode(base, "TIFF"))
    same = add_image(collection, f"{name}-png", encode(base, "PNG"))
    small = add_image(collection, f"{name}-web", encode(base.resize((240, 180)), quality=85))
    return [original, same, small]


def test_the_write_side_of_a_verify_batch_costs_the_same_statements_whatever_its_size(collection):
    counts = []
    for groups, seed in ((1, 0), (4, 10)):
        # A mixed group first (settled and queued pairs in one record group), then groups of five copies:
        # ten pairs each, four compared with the hub and six inferred through it.
        ids = every_pair(mixed(collection, 500 + seed, f"M{seed}"))
        for g in range(groups):
            ids += every_pair(copies_of(collection, 600 + seed + g, 5, f"G{seed}-{g}"))
        with CaptureQueriesContext(connection) as queries:
            verification.verify_pairs(ids)
        counts.append(len(queries))
        pairs = CandidatePair.objects.filter(pk__in=ids)
        assert pairs.filter(verified=True).count() == len(ids) == 3 + 10 * groups
        assert pairs.filter(inferred=True).count() >= 6 * groups
        review = pairs.filter(tier=CandidatePair.Tier.REVIEW)
        assert ReviewItem.objects.filter(pair__in=review).count() == review.count() >= 10 * groups
        assert Decision.objects.filter(pair__in=ids, automatic=True, kind="duplicate").count() == 1
    # 41 and 41 on PostgreSQL; the per-pair path took 250 and 790: 18 statements more for every pair
    # (_save's lock and update, the queue item, the implied pass).
    assert counts[1] <= counts[0] + 3, counts


@contextmanager
def per_pair_writes():
    """verify_pairs with each verdict stored as it is found (_apply outside a batch)."""
    yield None


def build(personas):
    archive = Collection.objects.create(name="Archive", institution="City Archive")
    partner = Collection.objects.create(name="Partner", institution="Harbour Trust")
    reference = Collection.objects.create(name="Reference", institution="City Archive", reference=True)
    ids = []
    # A record group whose queued pairs come before its settled pair, and one the other way round.
    first = mixed(archive, 1, "MIXA")
    ids += [waiting(first[0], first[2]), waiting(first[1], first[2]), waiting(first[0], first[1])]
    second = mixed(archive, 2, "MIXB")
    ids += [waiting(second[0], second[1]), waiting(second[0], second[2]), waiting(second[1], second[2])]
    # Copies across owners: pixel-identical, but a person decides (a guardrail).
    base = picture(3, (320, 240))
    ours = add_image(archive, "OWN", encode(base, "TIFF"))
    theirs = add_image(partner, "OWN", encode(base, "PNG"))
    ids.append(waiting(ours, theirs))
    # A record group with an open queue item, and one whose records a cataloguer linked as related:
    # settling the pixel-identical copy implies the crop's new pair.
    base = picture(4, (320, 240))
    linked = add_image(archive, "LINK", encode(base, "TIFF"))
    crop = add_image(archive, "LINK-crop", encode(base.crop((30, 20, 290, 220)), quality=90))
    related = make_pair(linked, crop, score=0.8, relation="cropped")
    services.decide(related, Decision.Kind.RELATED, actor=personas["cataloguer"])
    again = add_image(archive, "LINK-png", encode(base, "PNG"))
    ids += [waiting(again, crop, score=0.8), waiting(linked, again)]
    base = picture(5, (320, 240))
    held = add_image(archive, "OPEN", encode(base, "TIFF"))
    other = add_image(archive, "OPEN-web", encode(base.resize((200, 150)), quality=80))
    make_pair(held, other, score=0.85)  # verified earlier, in the queue
    ids.append(waiting(held, add_image(archive, "OPEN-png", encode(base, "PNG"))))
    # A refused settlement: the copy the keep-best rule makes the master (the earlier accession) would
    # supersede a record a reference collection's record supersedes already.
    base = picture(6, (320, 240))
    early = add_image(archive, "REF-early", encode(base, "PNG"))
    master = add_image(reference, "REF", encode(picture(7, (320, 240)), quality=90))
    late = add_image(archive, "REF-late", encode(base, "TIFF"))
    decided = make_pair(master, late, score=0.9)
    services.decide_duplicate(decided, master.record, actor=personas["cataloguer"])
    ids.append(waiting(early, late))
    # Different photographs (rejected), and plain groups of copies (queued, some inferred).
    ids.append(waiting(add_image(archive, "DIFF-a", encode(picture(8, (320, 240)))), crop, score=0.6))
    ids += every_pair(copies_of(archive, 9, 4, "FOUR"))
    ids += every_pair(copies_of(partner, 10, 3, "THREE"))
    return ids


def test_stored_together_the_verdicts_leave_exactly_what_the_per_pair_path_leaves(personas, monkeypatch):
    with transaction.atomic():
        ids = build(personas)
        start = Decision.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
        with transaction.atomic():
            with monkeypatch.context() as patch:
                patch.setattr(verification, "_batch_writes", per_pair_writes)
                verification.verify_pairs(ids)
            reference = snapshot(start)
            transaction.set_rollback(True)
        assert not CandidatePair.objects.filter(pk__in=ids, verified=True).exists()
        verification.verify_pairs(ids)
        bulk = snapshot(start)
        transaction.set_rollback(True)

    for part in reference:
        assert bulk[part] == reference[part], part
    # What the corpus is meant to show, so that the comparison compares something.
    tiers = {pair: fields[0] for pair, fields in bulk["pairs"]}
    assert set(tiers.values()) == {"auto", "review", "rejected"}
    decisions = bulk["decisions"]
    assert sum(1 for d in decisions if d["kind"] == "duplicate" and d["automatic"]) == 4
    closed = [d for d in decisions if "implied_by" in d["evidence"]]
    assert [(d["kind"], d["pair"]) for d in closed] == [
        ("related", ("Archive/LINK-crop.jpeg", "Archive/LINK-png.png"))
    ]
    refused = [fields for pair, fields in bulk["pairs"] if pair[0] == "Archive/REF-early.png"]
    assert refused[0][0] == "review" and "reference collection" in refused[0][4]
    assert any(fields[7] for _, fields in bulk["pairs"])  # inferred pairs


@pytest.mark.integration
def test_workers_verifying_one_record_group_at_once_neither_deadlock_nor_double(
    on_postgres, transactional_db, collection
):
    """Verify batches on their own connections at once, as several workers run them: two of them the same
    batch (resume_pending may enqueue one twice), the others pairs of the same record groups, settled and
    queued, while the first batch's decisions are being chained."""
    from django.core.management import call_command

    from tests.test_review_postgres import _at_once

    # Five copies of a picture each: a pixel-identical one (settled) and three others (queued).
    groups = [
        mixed(collection, 900 + n, f"W{n}") + copies_of(collection, 900 + n, 2, f"W{n}x") for n in range(3)
    ]
    ids = [pk for images in groups for pk in every_pair(images)]
    batches = [ids[0::3], ids[0::3], ids[1::3], ids[2::3]]

    _at_once([lambda batch=batch: verification.verify_pairs(batch) for batch in batches])

    pairs = CandidatePair.objects.filter(pk__in=ids)
    assert pairs.filter(verified=True).count() == len(ids) == 30
    review = pairs.filter(tier=CandidatePair.Tier.REVIEW)
    assert ReviewItem.objects.filter(pair__in=ids).count() == review.count() > 0
    settled = pairs.filter(tier=CandidatePair.Tier.AUTO)
    automatic = Decision.objects.filter(pair__in=ids, automatic=True, kind="duplicate")
    automatic = automatic.exclude(evidence__has_key="implied_by")
    assert sorted(automatic.values_list("pair_id", flat=True)) == sorted(settled.values_list("pk", flat=True))
    assert settled.count() >= 3
    audit = io.StringIO()
    call_command("verify_audit", stdout=audit)
    assert "intact" in audit.getvalue()
