"""Two-person rules: decisions a collection's rules catch wait for a supervisor's approval, through HTTP."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from catalogue.models import CatalogueRecord, RecordLink
from review import approval, services, supervision
from review.models import Decision, ReviewItem
from tests.test_review_corpus import build_corpus
from tests.test_review_queue import item_of, start

pytestmark = pytest.mark.django_db


def rules(collection, *names, experience=None):
    collection.policy = {**(collection.policy or {}), "approval_rules": list(names)}
    if experience is not None:
        collection.policy["approval_experience"] = experience
    collection.save()


def login(user):
    client = Client()
    client.force_login(user)
    return client


def decide(client, item, decision, **fields):
    return client.post(reverse("review-decide", args=[item.pk]), {"decision": decision, **fields})


def records(item):
    pair = item.pair
    return (
        CatalogueRecord.objects.get(pk=pair.image_a.record_id),
        CatalogueRecord.objects.get(pk=pair.image_b.record_id),
    )


def same_rights(pair):
    """Give both records of the pair the same credit line, so the rights_differ rule does not hold."""
    for image in (pair.image_a, pair.image_b):
        CatalogueRecord.objects.filter(pk=image.record_id).update(credit_line="Harbour Board")


def test_a_duplicate_across_different_rights_waits_and_changes_nothing(collection, personas):
    rules(collection, "rights_differ")
    build_corpus(collection, pairs=1)  # the copy has a credit line the original lacks
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    left, right = records(item)

    decide(cataloguer, item, "keep-left", comment="same negative", merge=["title"])

    item.refresh_from_db()
    proposal = item.decision
    assert item.status == ReviewItem.Status.PENDING and item.leased_by is None
    assert (proposal.kind, proposal.pending, proposal.actor, proposal.master, proposal.superseded) == (
        "duplicate",
        True,
        personas["cataloguer"],
        left,
        right,
    )
    assert "credit line" in proposal.reason and proposal.evidence["merge"] == ["title"]
    # Nothing changed in the catalogue.
    assert records(item) == (left, right)
    assert [r.status for r in records(item)] == ["active", "active"]
    assert CatalogueRecord.objects.get(pk=left.pk).title == left.title
    # Pending is visible: queue count, item screen, record page, approvals page.
    queue = cataloguer.get(reverse("review-queue")).content.decode()
    assert "1 decision waits for a supervisor" in queue
    page = cataloguer.get(reverse("review-item", args=[item.pk])).content.decode()
    assert "waiting for approval" in page and 'formaction="/review/supervisor/approvals/' not in page
    record_page = cataloguer.get(right.get_absolute_url()).content.decode()
    assert 'id="waiting-approval"' in record_page
    supervisor = login(personas["supervisor"])
    listed = supervisor.get(reverse("review-approvals")).content.decode()
    assert f'data-decision="{proposal.pk}"' in listed and "same negative" in listed
    assert "1 decision waits for approval" in supervisor.get(reverse("review-queue")).content.decode()
    on_screen = supervisor.get(reverse("review-item", args=[item.pk])).content.decode()
    assert f'formaction="{reverse("review-approve", args=[proposal.pk])}"' in on_screen
    # Nobody can decide the pair meanwhile.
    with pytest.raises(services.ReviewError):
        services.review(item.pk, personas["supervisor"], Decision.Kind.DISTINCT, supervisor=True)


def test_approval_applies_the_proposal_exactly_as_proposed(collection, personas):
    rules(collection, "rights_differ")
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    left, right = records(item)
    decide(cataloguer, item, "keep-right", merge=["title"])
    proposal = ReviewItem.objects.get(pk=item.pk).decision

    response = login(personas["supervisor"]).post(
        reverse("review-approve", args=[proposal.pk]), {"comment": "checked the licence file"}
    )

    assert response.status_code == 302
    left.refresh_from_db()
    right.refresh_from_db()
    item.refresh_from_db()
    assert (left.status, left.master, right.status) == ("superseded", right, "active")
    applied = item.decision
    assert item.status == ReviewItem.Status.DECIDED
    assert (applied.kind, applied.pending, applied.approves, applied.actor, applied.master) == (
        "duplicate",
        False,
        proposal,
        personas["supervisor"],
        right,
    )
    assert applied.comment == "checked the licence file"
    assert right.title == CatalogueRecord.objects.get(pk=left.pk).title  # the proposed merge, applied
    assert right.metadata["merged_fields"]["title"]["decision"] == applied.pk
    assert not approval.waiting().exists()
    call_command("verify_audit")  # the chain, with the new fields, still verifies


def test_a_duplicate_with_the_same_rights_applies_at_once(collection, personas):
    rules(collection, "rights_differ")
    (pair,) = build_corpus(collection, pairs=1)
    same_rights(pair)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))

    decide(cataloguer, item, "keep-left")

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DECIDED and not item.decision.pending
    assert records(item)[1].status == "superseded"


def test_without_rules_nothing_waits(collection, personas):
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    decide(cataloguer, item, "keep-left")
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.DECIDED


def test_a_proposer_cannot_approve_their_own_decision(collection, personas, django_user_model):
    rules(collection, "distinct")
    build_corpus(collection, pairs=1)
    supervisor = login(personas["supervisor"])
    item = item_of(start(supervisor))
    decide(supervisor, item, "distinct")
    proposal = ReviewItem.objects.get(pk=item.pk).decision
    assert proposal.pending

    response = supervisor.post(reverse("review-approve", args=[proposal.pk]), follow=True)

    assert "A second person must approve" in response.content.decode()
    assert approval.is_waiting(proposal)
    second = django_user_model.objects.create_user("second-supervisor")
    second.groups.set(personas["supervisor"].groups.all())
    login(second).post(reverse("review-approve", args=[proposal.pk]))
    assert not approval.is_waiting(proposal)
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.DECIDED


def test_decline_sends_the_pair_back_and_counts_against_the_proposer(collection, personas):
    rules(collection, "related")
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    decide(cataloguer, item, "related")
    proposal = ReviewItem.objects.get(pk=item.pk).decision

    login(personas["supervisor"]).post(reverse("review-decline", args=[proposal.pk]), {"comment": "a crop?"})

    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN and item.decision is None
    decline = Decision.objects.get(kind=Decision.Kind.DECLINE)
    assert (decline.corrects, decline.actor, decline.comment) == (proposal, personas["supervisor"], "a crop?")
    assert not RecordLink.objects.exists()
    (figures,) = supervision.cataloguer_figures(Decision.objects.filter(actor=personas["cataloguer"]))
    assert (figures["total"], figures["overturned"]) == (1, 1)
    # A second approval or decline of the same proposal is refused.
    response = login(personas["supervisor"]).post(reverse("review-approve", args=[proposal.pk]), follow=True)
    assert "already been approved, declined or withdrawn" in response.content.decode()


def test_a_new_cataloguers_decisions_wait_until_enough_were_approved(collection, personas):
    rules(collection, "new_cataloguer", experience=2)
    build_corpus(collection, pairs=3)
    cataloguer = login(personas["cataloguer"])
    supervisor = login(personas["supervisor"])
    outcomes = []
    for _n in range(3):
        item = item_of(start(cataloguer))
        decide(cataloguer, item, "distinct")
        item.refresh_from_db()
        outcomes.append(item.status)
        if item.status == ReviewItem.Status.PENDING:
            assert "1 of the 2" in item.decision.reason or "0 of the 2" in item.decision.reason
            supervisor.post(reverse("review-approve", args=[item.decision.pk]))

    assert outcomes == ["pending", "pending", "decided"]
    assert approval.experience(personas["cataloguer"]) == 3


def test_approval_is_refused_when_the_catalogue_changed_to_contradict_it(collection, personas):
    rules(collection, "distinct")
    (pair,) = build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    decide(cataloguer, item, "distinct")
    proposal = ReviewItem.objects.get(pk=item.pk).decision
    a, b = records(item)
    RecordLink.link(a, b, note="linked meanwhile")

    response = login(personas["supervisor"]).post(reverse("review-approve", args=[proposal.pk]), follow=True)

    assert "Cannot approve" in response.content.decode()
    assert approval.is_waiting(proposal)
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.PENDING


def test_the_proposer_can_withdraw_by_undo_until_it_is_approved(collection, personas):
    rules(collection, "duplicate")
    build_corpus(collection, pairs=2)
    cataloguer = login(personas["cataloguer"])
    first = item_of(start(cataloguer))
    decide(cataloguer, first, "keep-left")
    cataloguer.post(reverse("review-undo"))
    first.refresh_from_db()
    assert first.status == ReviewItem.Status.OPEN and first.leased_by == personas["cataloguer"]
    assert not approval.waiting().exists()

    decide(cataloguer, first, "keep-left")
    proposal = ReviewItem.objects.get(pk=first.pk).decision
    login(personas["supervisor"]).post(reverse("review-approve", args=[proposal.pk]))
    response = cataloguer.post(reverse("review-undo"), follow=True)

    assert "A supervisor has approved this decision" in response.content.decode()
    assert records(first)[1].status == "superseded"


def test_revert_refuses_a_proposal_and_restores_an_approved_one(collection, personas):
    rules(collection, "duplicate")
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    before = [r.state() for r in records(item)]
    decide(cataloguer, item, "keep-left")
    proposal = ReviewItem.objects.get(pk=item.pk).decision

    with pytest.raises(supervision.SupervisionError):
        supervision.revert(proposal, personas["supervisor"])
    applied = approval.approve(proposal.pk, personas["supervisor"])
    supervision.revert(applied, personas["supervisor"])

    assert [r.state() for r in records(item)] == before
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewItem.Status.OPEN


def test_a_period_revert_of_a_cataloguer_includes_their_approved_proposals(collection, personas):
    from datetime import timedelta

    from django.utils import timezone

    rules(collection, "duplicate")
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    decide(cataloguer, item, "keep-left")
    approval.approve(ReviewItem.objects.get(pk=item.pk).decision.pk, personas["supervisor"])
    now = timezone.now()

    reverted = supervision.revert_period(
        personas["cataloguer"], now - timedelta(hours=1), now + timedelta(hours=1), personas["supervisor"]
    )

    assert len(reverted) == 1 and reverted[0].corrects.approves.actor == personas["cataloguer"]
    assert [r.status for r in records(item)] == ["active", "active"]


def test_approvals_are_for_supervisors_only(client_for, personas, collection):
    rules(collection, "duplicate")
    build_corpus(collection, pairs=1)
    cataloguer = login(personas["cataloguer"])
    item = item_of(start(cataloguer))
    decide(cataloguer, item, "keep-left")
    proposal = ReviewItem.objects.get(pk=item.pk).decision

    for name in ("cataloguer", "outsider"):
        client = client_for(name)
        assert client.get(reverse("review-approvals")).status_code == 403
        assert client.post(reverse("review-approve", args=[proposal.pk])).status_code == 403
        assert client.post(reverse("review-decline", args=[proposal.pk])).status_code == 403
    assert approval.is_waiting(proposal)
    assert client_for("supervisor").get(reverse("review-approvals")).status_code == 200


def test_the_policy_form_sets_rules_and_keeps_calibrated_settings(client_for, collection):
    collection.policy = {"review_min_score": 0.4, "auto_relations": {"resized": 0.9}}
    collection.save()
    client = client_for("administrator")
    form = {
        "auto_settle": "on",
        "keep_best": "resolution, accession",
        "duplicate_relations": ["identical", "resized"],
        "phash": 10,
        "orientation": 8,
        "border": 10,
        "crop": 8,
        "approval_rules": ["rights_differ", "new_cataloguer"],
        "approval_experience": 25,
    }

    client.post(reverse("dedup-collection-policy", args=[collection.pk]), form)

    collection.refresh_from_db()
    assert collection.policy["approval_rules"] == ["rights_differ", "new_cataloguer"]
    assert collection.policy["approval_experience"] == 25
    assert collection.policy["review_min_score"] == 0.4
    assert collection.policy["auto_relations"] == {"resized": 0.9}
    page = client.get(collection.get_absolute_url()).content.decode()
    assert "every decision of a new cataloguer" in page and "resized ≥ 0.9" in page
    supervisor_form = client_for("supervisor").post(
        reverse("dedup-collection-policy", args=[collection.pk]), {**form, "approval_rules": []}
    )
    assert supervisor_form.status_code == 403


def test_exports_show_proposals_as_such_and_map_only_what_took_effect(client_for, collection, personas):
    import xml.etree.ElementTree as ET

    rules(collection, "duplicate")
    build_corpus(collection, pairs=2)
    cataloguer = login(personas["cataloguer"])
    for _n in range(2):
        item = item_of(start(cataloguer))
        decide(cataloguer, item, "keep-left")
    waiting, declined = approval.waiting().order_by("pk")
    approval.decline(declined.pk, personas["supervisor"])
    supervisor = client_for("supervisor")

    def mapping():
        return supervisor.get(reverse("review-supervisor-export-mapping") + "?format=json").json()

    assert mapping() == []  # a proposal changed nothing, so nothing maps yet
    applied = approval.approve(waiting.pk, personas["supervisor"])
    assert [(row["relation"], row["target_number"]) for row in mapping()] == [
        ("superseded", applied.master.catalogue_number)
    ]
    export = b"".join(supervisor.get(reverse("review-supervisor-export-premis")).streaming_content)
    premis = ET.fromstring(export)  # noqa: S314 (our own export, in a test)
    ns = {"premis": "http://www.loc.gov/premis/v3"}
    events = premis.findall("premis:event", ns)
    outcomes = [
        e.findtext("premis:eventOutcomeInformation/premis:eventOutcome", namespaces=ns) for e in events
    ]
    types = [e.findtext("premis:eventType", namespaces=ns) for e in events]
    details = " ".join(
        e.findtext("premis:eventDetailInformation/premis:eventDetail", namespaces=ns) for e in events
    )
    assert outcomes.count("pending approval") == 2 and types.count("approval refusal") == 1
    assert f"approves=mastercopy-decision-{waiting.pk}" in details


def test_the_decision_log_shows_and_filters_proposals_waiting(client_for, collection, personas):
    rules(collection, "distinct")
    build_corpus(collection, pairs=2)
    cataloguer = login(personas["cataloguer"])
    for _n in range(2):
        item = item_of(start(cataloguer))
        decide(cataloguer, item, "distinct")
    first, second = approval.waiting().order_by("pk")
    applied = approval.approve(first.pk, personas["supervisor"])
    supervisor = client_for("supervisor")

    page = supervisor.get(reverse("review-supervisor-decisions"), {"waiting": "on"}).content.decode()

    assert f'data-decision="{second.pk}"' in page
    assert f'data-decision="{first.pk}"' not in page and f'data-decision="{applied.pk}"' not in page
    everything = supervisor.get(reverse("review-supervisor-decisions")).content.decode()
    assert "waiting for approval" in everything and f"approves #{first.pk}" in everything
