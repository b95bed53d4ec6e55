"""Automatic settling beyond exact copies: switched on per relation only from calibration evidence,
applied by the tier rules, and suspended by the first rejection in its band."""

import pytest
from django.urls import reverse

from catalogue.models import CatalogueRecord, PolicyChange
from dedup.models import CandidatePair
from dedup.tiers import PairFacts, classify
from dedup.verification import verify_pair
from review import calibration, services, supervision
from review.models import Decision
from tests.test_audit_chain import make_pairs
from tests.test_review_corpus import add_image, encode, make_pair, picture

RELATION = "resized+recompressed"


def probable(**facts):
    base = {"same_bytes": False, "pixel_identical": False, "different": False, "labels": ["resized"]}
    return PairFacts(**{**base, "relation": "resized", "confidence": 0.8, **facts})


def test_the_tier_rule_settles_an_enabled_relation_from_its_score_only():
    assert classify(probable(score=0.95, auto_from=0.9)).tier == "auto"
    assert classify(probable(score=0.95, auto_from=0.9)).settle
    assert classify(probable(score=0.85, auto_from=0.9)).tier == "review"
    assert classify(probable(score=0.95)).tier == "review"
    guarded = classify(probable(score=0.95, auto_from=0.9, credit_lines=("Board", "Agency")))
    assert guarded.tier == "review" and "credit lines differ" in guarded.reason
    off = classify(probable(score=0.95, auto_from=0.9, auto_settle=(True, False)))
    assert off.tier == "review" and "switched off" in off.reason


def confirmed_pairs(collection, personas, count, score=0.95, start=0, kind=Decision.Kind.DUPLICATE):
    pairs = make_pairs(collection, count, start=start)
    for pair in pairs:
        CandidatePair.objects.filter(pk=pair.pk).update(relation=RELATION, score=score)
        pair.refresh_from_db()
        if kind == Decision.Kind.DUPLICATE:
            services.decide_duplicate(pair, pair.image_a.record, actor=personas["cataloguer"])
        else:
            services.decide(pair, kind, actor=personas["cataloguer"])
    return pairs


def enable(client, collection, low="0.9", relation=RELATION):
    return client.post(
        reverse("review-supervisor-calibration-auto", args=[collection.pk]),
        {"relation": relation, "low": low, "action": "enable"},
        follow=True,
    )


@pytest.mark.django_db
def test_switching_on_needs_enough_confirmations(client_for, collection, personas, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 3
    confirmed_pairs(collection, personas, 2)
    admin = client_for("administrator")

    refused = enable(admin, collection)

    assert "does not allow automatic settling" in refused.content.decode()
    collection.refresh_from_db()
    assert not (collection.policy or {}).get("auto_relations")
    confirmed_pairs(collection, personas, 1, start=10)
    page = admin.get(reverse("review-supervisor-calibration")).content.decode()
    assert f'data-relation="{RELATION}"' in page

    enable(admin, collection)

    collection.refresh_from_db()
    assert collection.policy["auto_relations"] == {RELATION: 0.9}
    change = PolicyChange.objects.get(collection=collection)
    assert change.actor == personas["administrator"] and "3 confirmations" in change.reason


@pytest.mark.django_db
def test_one_rejection_in_the_band_blocks_it_but_one_below_does_not(collection, personas, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 2
    confirmed_pairs(collection, personas, 2, score=0.95)
    confirmed_pairs(collection, personas, 1, score=0.82, start=10, kind=Decision.Kind.DISTINCT)

    calibration.enable_auto(collection, RELATION, 0.9, personas["administrator"])
    with pytest.raises(calibration.CalibrationError):
        calibration.enable_auto(collection, RELATION, 0.8, personas["administrator"])
    rows = calibration.auto_table(collection)[RELATION]
    assert calibration.lowest_eligible(rows).low == 0.9

    (related,) = confirmed_pairs(collection, personas, 1, score=0.97, start=20, kind=Decision.Kind.RELATED)
    with pytest.raises(calibration.CalibrationError):
        calibration.enable_auto(collection, RELATION, 0.9, personas["administrator"])


@pytest.mark.django_db
def test_a_reverted_duplicate_counts_as_a_rejection(collection, personas, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 2
    confirmed_pairs(collection, personas, 3)
    first = Decision.objects.filter(kind=Decision.Kind.DUPLICATE).first()

    supervision.revert(first, personas["supervisor"])

    (row, *_rest) = calibration.auto_table(collection)[RELATION]
    assert (row.confirmations, row.rejections) == (2, 1)
    assert calibration.lowest_eligible(calibration.auto_table(collection)[RELATION]) is None


@pytest.mark.django_db
def test_a_rejection_after_switching_on_suspends_it(collection, personas, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 2
    confirmed_pairs(collection, personas, 2)
    calibration.enable_auto(collection, RELATION, 0.9, personas["administrator"])

    (pair,) = make_pairs(collection, 1, start=30)
    CandidatePair.objects.filter(pk=pair.pk).update(relation=RELATION, score=0.93)
    pair.refresh_from_db()
    decision = services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])

    collection.refresh_from_db()
    assert collection.policy["auto_relations"] == {}
    suspension = PolicyChange.objects.filter(collection=collection).first()
    assert suspension.actor is None and f"decision {decision.pk}" in suspension.reason


@pytest.mark.django_db
def test_switching_on_is_an_administrators_action(client_for, collection, personas, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 1
    confirmed_pairs(collection, personas, 1)
    for name in ("supervisor", "cataloguer"):
        response = client_for(name).post(
            reverse("review-supervisor-calibration-auto", args=[collection.pk]),
            {"relation": RELATION, "low": "0.9", "action": "enable"},
        )
        assert response.status_code == 403
    collection.refresh_from_db()
    assert not (collection.policy or {}).get("auto_relations")


def copies(collection, n):
    base = picture(40 + n)
    original = add_image(collection, f"AUTO-{n}", encode(base, "TIFF"), credit_line="Harbour Board")
    copy = add_image(
        collection, f"AUTO-{n}-web", encode(base.resize((320, 240)), quality=70), credit_line="Harbour Board"
    )
    pair = make_pair(original, copy, score=0.95, queued=False)
    CandidatePair.objects.filter(pk=pair.pk).update(verified=False, tier="", relation="", explanation="")
    return CandidatePair.objects.select_related(
        "image_a__record", "image_b__record", "image_a__collection", "image_b__collection"
    ).get(pk=pair.pk)


@pytest.mark.django_db
def test_verification_settles_a_pair_of_an_enabled_relation(collection, personas):
    first = copies(collection, 1)
    verify_pair(first)
    first.refresh_from_db()
    assert first.tier == "review" and first.relation
    collection.policy = {"auto_relations": {first.relation: 0.9}}
    collection.save()

    second = copies(collection, 2)
    verify_pair(second)

    second.refresh_from_db()
    assert second.tier == "auto", second.tier_reason
    assert "calibration evidence" in second.tier_reason
    decision = Decision.objects.get(pair=second)
    assert decision.automatic and decision.kind == Decision.Kind.DUPLICATE
    superseded = CatalogueRecord.objects.get(pk=second.image_b.record_id)
    assert superseded.status == "superseded"  # the full-size TIFF is the master by resolution
