import io

import pytest
from django.core.management import call_command

from catalogue.models import CatalogueRecord, Collection
from dedup.models import CandidatePair
from dedup.tiers import PairFacts, classify
from review.models import AppendOnlyError, Decision


def facts(**overrides):
    return PairFacts(**{"same_bytes": False, "pixel_identical": False, "different": False, **overrides})


def test_byte_identical_copies_are_settled_automatically():
    result = classify(facts(same_bytes=True))

    assert (result.tier, result.settle, result.reason) == ("auto", True, "byte-identical files")


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"rights": ("CC BY 4.0", "All rights reserved")}, "rights/licence differ"),
        ({"credit_lines": ("City Archive", "Partner Library")}, "credit lines differ"),
        ({"owners": ("City Archive", "Partner Library")}, "different owners"),
        ({"auto_settle": (True, False)}, "switched off"),
    ],
)
def test_a_guardrail_sends_even_an_exact_copy_to_a_person(override, reason):
    result = classify(facts(pixel_identical=True, **override))

    assert result.tier == "review" and not result.settle
    assert reason in result.reason and result.reason.startswith("pixel-identical images, but")


@pytest.mark.parametrize(
    "labels", [["cropped"], ["greyscale"], ["colour-changed"], ["resized", "recompressed"]]
)
def test_nothing_but_an_exact_copy_is_settled(labels):
    result = classify(facts(labels=labels, confidence=0.99))

    assert (result.tier, result.settle) == ("review", False)


def test_a_probable_pair_below_the_collection_review_cut_off_is_kept_as_rejected():
    below = classify(facts(labels=["resized"], score=0.6, review_min_score=0.7))
    above = classify(facts(labels=["resized"], score=0.8, review_min_score=0.7))
    exact = classify(facts(same_bytes=True, score=0.6, review_min_score=0.7))

    assert (below.tier, below.reason) == ("rejected", "score 0.60 below the review cut-off 0.70")
    assert above.tier == "review" and exact.tier == "auto"


def test_a_pair_verification_calls_different_is_kept_as_rejected():
    assert classify(facts(different=True, labels=["different"])).tier == "rejected"


def run(command, *args, **options):
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def copies(photos, tmp_path):
    """One photo twice in an archive, and again in a partner's mirror with other rights."""
    photo = next(p for p in photos if p.suffix == ".jpg" and p.stat().st_size > 100_000)
    archive, mirror = tmp_path / "archive", tmp_path / "mirror"
    archive.mkdir()
    mirror.mkdir()
    (archive / "scan.jpg").write_bytes(photo.read_bytes())
    (archive / "scan-again.jpg").write_bytes(photo.read_bytes())
    (mirror / "partner.jpg").write_bytes(photo.read_bytes())
    run("import_collection", str(archive), collection="Archive", no_progress=True)
    Collection.objects.create(name="Mirror", institution="Partner Library")
    run("import_collection", str(mirror), collection="Mirror", no_progress=True)
    return photo


@pytest.mark.django_db
def test_exact_copies_are_settled_by_a_recorded_system_decision_unless_a_guardrail_holds(copies):
    run("find_duplicates", no_progress=True)

    inside = CandidatePair.objects.get(
        image_a__collection__name="Archive", image_b__collection__name="Archive"
    )
    assert (inside.tier, inside.relation) == ("auto", "identical")
    decision = Decision.objects.get(pair=inside)
    assert decision.automatic and decision.actor is None and decision.kind == "duplicate"
    first, second = CatalogueRecord.objects.filter(collection__name="Archive").order_by("pk")
    second.refresh_from_db()
    assert (decision.master, decision.superseded) == (first, second)  # same size and record: earliest wins
    assert second.status == "superseded" and second.master == first and second.resolve() == first
    assert decision.before[0]["status"] == "active" and any(
        s["status"] == "superseded" for s in decision.after
    )
    assert "earliest accession" in decision.reason
    across = CandidatePair.objects.exclude(pk=inside.pk)
    assert {p.tier for p in across} == {"review"}
    assert all("different owners" in p.tier_reason for p in across)
    assert CatalogueRecord.objects.get(catalogue_number="partner.jpg").status == "active"


@pytest.mark.django_db
def test_switching_automatic_settling_off_queues_exact_copies(copies):
    Collection.objects.filter(name="Archive").update(policy={"auto_settle": False})

    run("find_duplicates", no_progress=True)

    assert not Decision.objects.exists()
    assert not CandidatePair.objects.filter(tier="auto").exists()
    assert CatalogueRecord.objects.filter(status="superseded").count() == 0


@pytest.mark.django_db
def test_decisions_are_append_only(copies):
    run("find_duplicates", no_progress=True)
    decision = Decision.objects.get()

    decision.comment = "edited"
    with pytest.raises(AppendOnlyError):
        decision.save()
    with pytest.raises(AppendOnlyError):
        decision.delete()
