"""Verification does work in proportion to what is new: exact copies settle from their digests alone, a
group of k copies costs about k comparisons (the other pairs inferred through the hub and marked so), and
find_duplicates spreads the work over processes with the same outcome."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from catalogue.models import CatalogueRecord, ImageFile
from dedup import tasks, verification
from dedup.models import CandidatePair
from review.models import Decision, ReviewItem
from tests.test_review_corpus import add_image, encode, make_pair, picture


def unverified(pair):
    CandidatePair.objects.filter(pk=pair.pk).update(verified=False, tier="", relation="", explanation="")
    return pair.pk


def group_of(collection, k):
    """k copies of one picture (the original and k-1 resized, recompressed copies), every pair waiting."""
    base = picture(700, (480, 360))
    images = [add_image(collection, "G-0", encode(base, quality=95))]
    for n in range(1, k):
        size = (480 - 40 * n, 360 - 30 * n)
        images.append(add_image(collection, f"G-{n}", encode(base.resize(size), quality=90 - 5 * n)))
    return [
        unverified(make_pair(a, b, score=0.9, queued=False))
        for i, a in enumerate(images)
        for b in images[i + 1 :]
    ]


@pytest.mark.django_db
def test_a_group_of_k_copies_costs_k_minus_one_comparisons(collection):
    ids = group_of(collection, 5)  # 10 pairs
    verification.STATS.clear()

    tasks.verify_batch.delay(ids)

    assert verification.STATS["compared_pairs"] == 4
    assert verification.STATS["inferred_pairs"] == 6
    pairs = CandidatePair.objects.filter(pk__in=ids)
    assert pairs.filter(verified=True).count() == 10
    inferred = pairs.filter(inferred=True)
    assert inferred.count() == 6
    for pair in inferred:
        assert pair.tier == CandidatePair.Tier.REVIEW and "inferred through image" in pair.tier_reason
        assert "resized" in pair.relation.split("+") and pair.explanation.startswith("Not compared directly")
    hub = pairs.filter(inferred=False).values_list("image_a_id", flat=True).distinct()
    assert hub.count() == 1  # every comparison was with the same image


@pytest.mark.django_db
def test_a_pair_through_a_hub_that_shows_another_picture_is_compared_not_inferred(collection):
    base = picture(700, (480, 360))
    hub = add_image(collection, "H-0", encode(base, quality=95))
    copy = add_image(collection, "H-1", encode(base.resize((360, 270)), quality=85))
    other = add_image(collection, "H-2", encode(picture(701, (480, 360)), quality=95))
    ids = [
        unverified(make_pair(x, y, score=0.9, queued=False))
        for x, y in ((hub, copy), (hub, other), (copy, other))
    ]
    verification.STATS.clear()

    tasks.verify_batch.delay(ids)

    assert verification.STATS["compared_pairs"] == 3 and verification.STATS["inferred_pairs"] == 0
    assert not CandidatePair.objects.filter(pk__in=ids, inferred=True).exists()
    assert CandidatePair.objects.filter(pk__in=ids, relation="different").count() == 2


@pytest.mark.django_db
def test_exact_copies_settle_without_opening_storage(collection, monkeypatch):
    data = encode(picture(801), quality=90).getvalue()
    first = add_image(collection, "E-1", io.BytesIO(data))
    second = add_image(collection, "E-2", io.BytesIO(data))
    pair = make_pair(first, second, score=1.0, queued=False)
    CandidatePair.objects.filter(pk=pair.pk).update(same_bytes=True)
    unverified(pair)

    class NoStorage:
        def open(self, *args, **kwargs):
            raise AssertionError("an exact copy was fetched from storage")

    monkeypatch.setattr(verification, "default_storage", NoStorage())
    tasks.verify_batch.delay([pair.pk])

    pair.refresh_from_db()
    assert pair.verified and pair.tier == CandidatePair.Tier.AUTO and pair.relation == "identical"
    assert Decision.objects.filter(pair=pair, automatic=True, kind=Decision.Kind.DUPLICATE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_find_duplicates_in_two_processes_verifies_everything_once(collection):
    ids = group_of(collection, 4) + group_of_other(collection)

    call_command("find_duplicates", workers=2, no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())

    pairs = CandidatePair.objects.filter(pk__in=ids)
    assert pairs.filter(verified=True).count() == len(ids) == 9
    assert not pairs.filter(relation="").exists()
    connection.check_constraints()  # what the processes wrote holds together
    clear_rows(collection)


def clear_rows(collection):
    """After a transaction=True test: the count triggers (catalogue 0009, review 0010) can turn the flush's
    deletes, in its table order, into a foreign-key failure on SQLite; the rows go first in an order the
    triggers can follow."""
    ReviewItem.objects.all().delete()
    CandidatePair.objects.all().delete()
    for image in ImageFile.objects.all():
        image.delete()
    CatalogueRecord.objects.all().delete()
    collection.delete()


def group_of_other(collection):
    base = picture(900, (400, 300))
    a = add_image(collection, "O-0", encode(base, quality=95))
    b = add_image(collection, "O-1", encode(base.resize((300, 225)), quality=80))
    c = add_image(collection, "O-2", encode(base.resize((200, 150)), quality=80))
    return [unverified(make_pair(x, y, score=0.9, queued=False)) for x, y in ((a, b), (a, c), (b, c))]
