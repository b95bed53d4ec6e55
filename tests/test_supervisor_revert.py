"""A supervisor reverts one decision, or a cataloguer's period, through HTTP: the catalogue returns to
its state before, field by field; later decisions on the same records are flagged; the pair is queued."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalogue.models import CatalogueRecord, RecordLink
from review import services
from review.models import Decision, ReviewItem
from tests.test_audit_chain import make_pairs, verify

pytestmark = pytest.mark.django_db


def snapshot(*records):
    fields = ("status", "master_id", "title", "creator", "rights", "credit_line", "source", "metadata")
    return [{name: getattr(CatalogueRecord.objects.get(pk=r.pk), name) for name in fields} for r in records]


def links():
    return sorted(RecordLink.objects.values_list("record_a_id", "record_b_id"))


def post_revert(client, decision):
    return client.post(reverse("review-supervisor-revert", args=[decision.pk]), {"reason": "wrong call"})


def test_reverting_a_duplicate_with_merged_fields_restores_every_field(client_for, collection, personas):
    (pair,) = make_pairs(collection, 1)
    master, other = pair.image_a.record, pair.image_b.record
    CatalogueRecord.objects.filter(pk=master.pk).update(title="Harbour", rights="")
    CatalogueRecord.objects.filter(pk=other.pk).update(title="Harbour, 1921", rights="CC BY 4.0")
    before = snapshot(master, other)
    decision = services.decide_duplicate(
        pair, master, actor=personas["cataloguer"], merge=("title", "rights")
    )
    assert snapshot(master, other) != before

    response = post_revert(client_for("supervisor"), decision)

    assert response.status_code == 302
    assert snapshot(master, other) == before
    revert = Decision.objects.get(kind=Decision.Kind.REVERT)
    assert (revert.corrects, revert.actor, revert.reason) == (decision, personas["supervisor"], "wrong call")
    item = ReviewItem.objects.get(pair=pair)
    assert (item.status, item.decision) == ("open", None)
    assert "intact" in verify()


def test_reverting_a_related_decision_removes_the_link_and_requeues(client_for, collection, personas):
    (pair,) = make_pairs(collection, 1)
    decision = services.decide(pair, Decision.Kind.RELATED, actor=personas["cataloguer"])
    assert links()

    post_revert(client_for("supervisor"), decision)

    assert links() == []
    assert ReviewItem.objects.get(pair=pair).status == "open"


def test_reverting_an_automatic_decision_puts_the_pair_in_the_queue(client_for, collection):
    (pair,) = make_pairs(collection, 1)
    ReviewItem.objects.all().delete()
    decision = services.decide_duplicate(pair, pair.image_a.record, automatic=True, reason="byte-identical")

    post_revert(client_for("supervisor"), decision)

    assert CatalogueRecord.objects.get(pk=pair.image_b.record_id).status == "active"
    assert ReviewItem.objects.get(pair=pair).status == "open"


def test_later_decisions_on_the_same_records_are_flagged(client_for, collection, personas):
    first, second = make_pairs(collection, 2)
    # The second pair shares a record with the first: A=B, then B's group with C.
    a, b = first.image_a.record, first.image_b.record
    second.image_a.record = b
    second.image_a.save()
    original = services.decide_duplicate(first, a, actor=personas["cataloguer"])
    later = services.decide_duplicate(second, second.image_b.record, actor=personas["cataloguer"])

    post_revert(client_for("supervisor"), original)

    flag = Decision.objects.get(flagged=True)
    assert (flag.kind, flag.pair, flag.evidence) == (
        "escalate",
        later.pair,
        {"depends_on": original.pk, "dependent": later.pk},
    )
    revert = Decision.objects.get(kind="revert")
    assert revert.evidence["dependents"] == [later.pk]


def test_a_decision_is_reverted_only_once(client_for, collection, personas):
    (pair,) = make_pairs(collection, 1)
    decision = services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    client = client_for("supervisor")
    post_revert(client, decision)

    response = post_revert(client, decision)

    assert Decision.objects.filter(kind="revert").count() == 1
    assert "already been undone or reverted" in client.get(response.url).content.decode()


def test_reverting_a_period_restores_the_catalogue_and_leaves_others(client_for, collection, personas):
    pairs = make_pairs(collection, 4)
    records = [r for p in pairs for r in (p.image_a.record, p.image_b.record)]
    before = snapshot(*records)
    cataloguer, supervisor = personas["cataloguer"], personas["supervisor"]
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, actor=cataloguer)
    services.decide(pairs[1], Decision.Kind.RELATED, actor=cataloguer)
    services.decide_duplicate(pairs[2], pairs[2].image_b.record, actor=cataloguer, merge=("title",))
    kept = services.decide_duplicate(pairs[3], pairs[3].image_a.record, actor=supervisor)
    now = timezone.localtime()

    response = client_for("supervisor").post(
        reverse("review-supervisor-revert-period"),
        {
            "cataloguer": cataloguer.pk,
            "start": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert response.status_code == 302
    assert snapshot(*records[:6]) == before[:6]
    assert links() == []
    assert not kept.corrections.exists()
    assert Decision.objects.filter(kind="revert").count() == 3
    assert not Decision.objects.filter(flagged=True).exists()
    assert CatalogueRecord.objects.get(pk=pairs[3].image_b.record_id).status == "superseded"
