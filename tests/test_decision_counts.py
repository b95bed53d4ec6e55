"""The supervisor pages' counts (review.summaries), kept as decisions are recorded, against a recount
from the log (repair_summaries) and against the pages' own queries over the decisions: after
decisions of every kind, undos, reverts, approvals, declines and a reverted batch, with several
pairs and decisions per cataloguer, kind, day and band, one collection hidden from the supervisor and
a pair across two collections."""

from datetime import datetime, time, timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from catalogue import access
from catalogue.models import CatalogueRecord, Collection, ImageFile
from catalogue.roles import CATALOGUER
from dedup.models import CandidatePair
from review import approval, calibration, decisions, services, supervision
from review.models import Decision, DecisionCount
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db


def cells():
    return sorted(
        DecisionCount.objects.exclude(n=0).values_list(
            "facet", "period", "actor_id", "kind", "collection_id", "collection_b_id", "relation", "band", "n"
        )
    )


def _decide(pair, kind, actor, **kwargs):
    if kind == Decision.Kind.DUPLICATE:
        return services.decide_duplicate(pair, pair.image_a.record, actor=actor, **kwargs)
    return services.decide(pair, kind, actor=actor, **kwargs)


def _across(a, mills):
    record = CatalogueRecord.objects.create(collection=mills, catalogue_number="M-X")
    image = ImageFile.objects.create(
        record=record, collection=mills, storage_key="k", original_filename="x.jpg", source_path="x.jpg",
        size=1, sha256="f" * 64, format="JPEG", width=1, height=1, mode="RGB",
    )
    return CandidatePair.objects.create(
        image_a=a, image_b=image, phash_distance=1, dhash_distance=1, score=0.93, relation="cropped",
        tier="review",
    )


@pytest.fixture
def history(personas):
    harbour = Collection.objects.create(name="Harbour")
    mills = Collection.objects.create(name="Mills")
    mills.restricted_to.set([Group.objects.create(name="Partners")])  # the supervisor is not a partner
    cataloguer, supervisor = personas["cataloguer"], personas["supervisor"]
    second = User.objects.create_user("second", password="x" * 20)
    second.groups.add(Group.objects.get(name=CATALOGUER))
    h = make_pairs(harbour, 10)
    m = make_pairs(mills, 5, start=100)
    across = _across(h[0].image_b, mills)
    long_ago = timezone.now() - timedelta(days=45)
    with mock.patch("review.models.timezone.now", return_value=long_ago):
        _decide(h[8], Decision.Kind.DISTINCT, cataloguer)
        _decide(h[9], Decision.Kind.RELATED, second)
    # Several pairs per kind and band, by two cataloguers.
    _decide(h[0], Decision.Kind.DUPLICATE, cataloguer)
    _decide(h[1], Decision.Kind.RELATED, cataloguer)
    _decide(h[2], Decision.Kind.DISTINCT, second)
    services.review(h[3].review_item.pk, cataloguer, Decision.Kind.SKIP)
    services.review(h[3].review_item.pk, second, Decision.Kind.ESCALATE)
    # Decided, undone, decided otherwise; decided, undone, decided the same again.
    _decide(h[4], Decision.Kind.DISTINCT, second)
    services.undo_last(second)
    _decide(h[4], Decision.Kind.RELATED, second)
    _decide(h[5], Decision.Kind.DUPLICATE, cataloguer)
    services.undo_last(cataloguer)
    again = _decide(h[5], Decision.Kind.DUPLICATE, cataloguer)
    # Reverted by the supervisor and decided once more (the same kind, by the same person).
    supervision.revert(again, supervisor)
    _decide(h[5], Decision.Kind.DUPLICATE, cataloguer)
    # Proposals: one approved, one declined.
    approve = decisions.record(Decision.Kind.DUPLICATE, pair=h[6], actor=cataloguer, pending=True,
                               master=h[6].image_a.record)
    approval.approve(approve.pk, supervisor)
    decline = decisions.record(Decision.Kind.DISTINCT, pair=h[7], actor=second, pending=True)
    approval.decline(decline.pk, supervisor)
    # A batch in the hidden collection, reverted whole; an automatic duplicate; a pair across.
    batch = decisions.new_batch()
    _decide(m[0], Decision.Kind.DISTINCT, second, batch=batch)
    _decide(m[1], Decision.Kind.DISTINCT, second, batch=batch)
    supervision.revert_batch(batch, supervisor)
    _decide(m[2], Decision.Kind.DISTINCT, cataloguer)
    services.decide_duplicate(m[3], m[3].image_b.record, automatic=True, reason="identical")
    _decide(across, Decision.Kind.DISTINCT, cataloguer)
    # A duplicate reverted: a rejection for automatic settling.
    supervision.revert(Decision.objects.get(pair=h[0], kind=Decision.Kind.DUPLICATE), supervisor)
    return {"harbour": harbour, "mills": mills, "supervisor": supervisor}


def test_the_counts_kept_with_each_decision_equal_a_recount_from_the_log(history):
    kept = cells()
    assert len({row[0] for row in kept}) == 9  # every facet has cells
    assert any(row[-1] > 1 for row in kept)  # several decisions or pairs per cell
    DecisionCount.objects.all().delete()
    call_command("repair_summaries", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert cells() == kept


def _since(days):
    return timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days), time.min))


def _visible(decisions_, ids):
    return access.within(decisions_, ids, *access.DECISION_COLLECTIONS)


@pytest.mark.parametrize("days", [29, 60])
@pytest.mark.parametrize("hidden", [True, False])
def test_the_pages_say_from_the_counts_what_they_say_from_the_decisions(history, days, hidden):
    ids = access.visible_ids(history["supervisor"]) if hidden else None
    assert (ids is not None) == hidden and (not hidden or history["mills"].pk not in ids)
    since = _since(days)
    window = _visible(Decision.objects.all(), ids).filter(created_at__gte=since)
    if ids is not None:
        window = window.filter(pair__isnull=False)
    live = supervision.cataloguer_figures(window)
    assert live and any(person["total"] > 1 for person in live)
    assert supervision.counted_figures(since, ids, window) == live
    assert supervision.counted_chart_data(since, ids) == supervision.chart_data(window)
    standing = _visible(calibration.standing_decisions(), ids)
    assert calibration.by_band(calibration.counted(ids)) == calibration.by_band(standing)
    assert calibration.by_relation(calibration.counted(ids)) == calibration.by_relation(standing)
    harbour = history["harbour"]
    assert calibration.by_band(calibration.counted(collection=harbour)) == calibration.by_band(
        calibration.standing_decisions().filter(pair__image_a__collection=harbour)
    )


def test_the_automatic_settling_table_counts_as_the_decisions_do(history, settings):
    settings.MASTERCOPY_AUTO_MIN_DECISIONS = 1
    compared = 0
    for collection in (history["harbour"], history["mills"]):
        ours = Decision.objects.filter(
            Q(pair__image_a__collection=collection) | Q(pair__image_b__collection=collection)
        )
        human = supervision.standing(ours.filter(automatic=False, pending=False))
        for relation, rows in calibration.auto_table(collection).items():
            mine = human.filter(pair__relation=relation)
            overturns = ours.filter(
                pair__relation=relation,
                kind__in=calibration.OVERTURNS,
                corrects__kind=Decision.Kind.DUPLICATE,
            )
            live = (
                mine.filter(kind=Decision.Kind.DUPLICATE).count(),
                mine.filter(kind__in=(Decision.Kind.RELATED, Decision.Kind.DISTINCT)).count()
                + overturns.count(),
            )
            assert (rows[-1].confirmations, rows[-1].rejections) == live, (collection, relation)
            compared += sum(live)
    assert compared > 4


@pytest.mark.parametrize("hidden", [True, False])
def test_the_decision_log_counts_what_its_filters_select(history, hidden, personas):
    from review.views_supervisor import DecisionFilter, _log_count

    user = history["supervisor"] if hidden else personas["administrator"]
    if not hidden:
        user.is_superuser = True  # sees every collection: decisions without a pair are counted too
    ids = access.visible_ids(user)
    assert (ids is None) != hidden
    harbour, cataloguer = history["harbour"], personas["cataloguer"]
    for params, live in [
        ({}, Decision.objects.all()),
        ({"kind": "distinct"}, Decision.objects.filter(kind="distinct")),
        ({"collection": harbour.pk}, Decision.objects.filter(pair__image_a__collection=harbour)),
        (
            {"collection": harbour.pk, "kind": "duplicate", "cataloguer": cataloguer.pk},
            Decision.objects.filter(pair__image_a__collection=harbour, kind="duplicate", actor=cataloguer),
        ),
    ]:
        form = DecisionFilter(params or None)
        form.fields["collection"].queryset = access.visible_collections(user)
        expected = _visible(live, ids).count()
        assert expected > 1 or params.get("cataloguer")
        assert _log_count(user, form) == expected, params
    assert _log_count(user, DecisionFilter({"flagged": "on"})) is None  # counted by the database
