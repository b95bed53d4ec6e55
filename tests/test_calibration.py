"""Calibration: precision per score band and relation from people's decisions, the suggested cut-off,
and who may see and apply it."""

import pytest
from django.urls import reverse

from catalogue.models import PolicyChange
from review import calibration, services
from review.models import Decision
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db


def _decide(pair, kind, actor):
    if kind == Decision.Kind.DUPLICATE:
        return services.decide_duplicate(pair, pair.image_a.record, actor=actor)
    return services.decide(pair, kind, actor=actor)


@pytest.fixture
def calibrated(collection, personas):
    """Band 0.9: 3 duplicate, 1 related, 1 distinct. Band 0.7: 1 related, 3 distinct. Band 0.5: 2 distinct.
    One more distinct at 0.9 undone (does not count); one automatic duplicate at 0.5 (does not count)."""
    plan = [(0.95, "duplicate")] * 3 + [(0.92, "related"), (0.91, "distinct")]
    plan += [(0.75, "related")] + [(0.72, "distinct")] * 3 + [(0.55, "distinct")] * 2
    plan += [(0.99, "distinct")]
    pairs = make_pairs(collection, len(plan) + 1)
    cataloguer = personas["cataloguer"]
    for pair, (score, kind) in zip(pairs, plan, strict=False):
        pair.score = score
        pair.relation = "cropped" if kind == "related" else "resized"
        pair.save()
        _decide(pair, kind, cataloguer)
    services.undo_last(cataloguer)
    auto = pairs[-1]
    auto.score = 0.5
    auto.save()
    services.decide_duplicate(auto, auto.image_b.record, automatic=True, reason="identical")
    return pairs


def test_it_measures_precision_per_band(calibrated):
    bands = {cell.band: cell for cell in calibration.by_band()}
    assert (bands[9].positive, bands[9].total) == (4, 5)
    assert bands[9].precision == pytest.approx(0.8)
    assert (bands[7].positive, bands[7].total) == (1, 4)
    assert (bands[5].positive, bands[5].total) == (0, 2)
    assert bands[8].total == 0 and bands[8].precision is None


def test_it_measures_precision_per_relation(calibrated):
    relations = calibration.by_relation()
    assert [(c.band, c.positive, c.total) for c in relations["cropped"]] == [(9, 1, 1), (7, 1, 1)]
    assert [(c.band, c.positive, c.total) for c in relations["resized"]] == [(9, 3, 4), (7, 0, 3), (5, 0, 2)]


def test_it_suggests_the_lowest_band_above_the_target_with_enough_evidence(calibrated):
    bands = calibration.by_band()
    assert calibration.suggest(bands, target=0.5, min_decisions=3).band == 9
    assert calibration.suggest(bands, target=0.2, min_decisions=3).band == 7
    assert calibration.suggest(bands, target=0.5, min_decisions=6) is None


def test_a_bad_band_stops_the_walk_down(calibrated):
    cells = [calibration.Cell(9, 9, 10), calibration.Cell(7, 1, 10), calibration.Cell(5, 10, 10)]
    assert calibration.suggest(cells, target=0.5, min_decisions=5).band == 9


def test_a_supervisor_sees_the_evidence(client_for, calibrated, collection):
    response = client_for("supervisor").get(
        reverse("review-supervisor-calibration"), {"target": "0.5", "min_decisions": "3"}
    )
    assert response.status_code == 200
    [(shown, cell, _bands)] = response.context["suggestions"]
    assert shown == collection and cell.band == 9 and cell.total == 5
    assert not response.context["may_apply"]
    assert b"calibration-apply" not in response.content and "0.9" in response.content.decode()


@pytest.mark.parametrize("name", ["cataloguer", "outsider"])
def test_a_cataloguer_is_refused(client_for, name):
    assert client_for(name).get(reverse("review-supervisor-calibration")).status_code == 403


def test_a_supervisor_cannot_apply(client_for, calibrated, collection):
    response = client_for("supervisor").post(
        reverse("review-supervisor-calibration-apply", args=[collection.pk]),
        {"min_score": "0.9", "target": "0.5", "min_decisions": "3"},
    )
    assert response.status_code == 403
    collection.refresh_from_db()
    assert "review_min_score" not in collection.policy and not PolicyChange.objects.exists()


def test_an_administrator_applies_and_it_is_recorded(client_for, calibrated, collection, personas):
    collection.policy = {"auto_settle": False}
    collection.save()
    client = client_for("administrator")
    assert client.get(reverse("review-supervisor-calibration")).status_code == 200
    response = client.post(
        reverse("review-supervisor-calibration-apply", args=[collection.pk]),
        {"min_score": "0.7", "target": "0.2", "min_decisions": "3"},
    )
    assert response.status_code == 302
    collection.refresh_from_db()
    assert collection.policy == {"auto_settle": False, "review_min_score": 0.7}
    change = PolicyChange.objects.get()
    assert change.actor == personas["administrator"] and change.collection == collection
    assert change.before == {"auto_settle": False} and change.after == collection.policy


def test_a_stale_suggestion_is_not_applied(client_for, calibrated, collection):
    response = client_for("administrator").post(
        reverse("review-supervisor-calibration-apply", args=[collection.pk]),
        {"min_score": "0.5", "target": "0.5", "min_decisions": "3"},
    )
    assert response.status_code == 302
    collection.refresh_from_db()
    assert "review_min_score" not in collection.policy and not PolicyChange.objects.exists()
