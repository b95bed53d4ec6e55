"""A pair whose automatic settling the catalogue refuses (its other record already belongs to a
reference collection's record) goes to a person, with the refusal as its reason; the batch goes on."""

import io

import pytest
from django.core.management import call_command

from catalogue.models import Collection
from dedup.models import CandidatePair
from review import services
from review.models import ReviewItem
from tests.test_exact_settling import copies, jpeg
from tests.test_review_corpus import add_image, make_pair

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "per-pair"])
def test_a_refused_settlement_is_queued_with_its_reason_and_the_batch_goes_on(personas, monkeypatch, bulk):
    if not bulk:
        from dedup import verification

        monkeypatch.setattr(
            verification,
            "settle_exact",
            lambda pairs, on_progress=None, chunk=None: [verification.settle_exact_one(p) for p in pairs],
        )
    archive = Collection.objects.create(name="Archive", institution="City Archive")
    reference = Collection.objects.create(name="Reference", institution="City Archive", reference=True)
    data = jpeg(11)
    early, late = copies(archive, "A", data, 2)
    # A cataloguer made the reference collection's record the master of the later copy's record.
    ref = add_image(reference, "REF", io.BytesIO(jpeg(12)))
    decided = make_pair(ref, late, score=0.9)
    services.decide_duplicate(decided, ref.record, actor=personas["cataloguer"])
    # Another picture's two copies in the same batch: they settle as ever.
    others = copies(archive, "B", jpeg(13), 2)

    call_command("find_duplicates", stdout=io.StringIO())

    refused = CandidatePair.objects.get(image_a__in=[early, late], image_b__in=[early, late])
    assert refused.tier == CandidatePair.Tier.REVIEW
    assert "reference collection" in refused.tier_reason
    assert ReviewItem.objects.get(pair=refused).status == "open"
    settled = CandidatePair.objects.get(image_a__in=others, image_b__in=others)
    assert settled.tier != CandidatePair.Tier.REVIEW
    others[1].record.refresh_from_db()
    assert others[1].record.status == "superseded"
