"""A record's version history through the record page and the API: files, supersession, merges of
fields, related links, reverts, proposals and approvals, and edits outside decisions, in order; the
as-of rights follow edits too; the indexes match what the chain recorded; the as-of look-up does not
grow with the chain."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalogue.models import CatalogueRecord, ImageFile
from dedup.models import CandidatePair
from licensing import history
from licensing.ledger import rebuild
from licensing.models import FieldChange, RecordState
from review import approval, services
from review.models import Decision, ReviewItem
from tests.conftest import need
from tests.test_audit_chain import make_pairs

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairs(collection):
    pairs = make_pairs(collection, 3)
    month_ago = timezone.now() - timedelta(days=30)
    CatalogueRecord.objects.update(created_at=month_ago)
    ImageFile.objects.update(created_at=month_ago)
    for n, record in enumerate(CatalogueRecord.objects.order_by("catalogue_number")):
        CatalogueRecord.objects.filter(pk=record.pk).update(rights=f"rights {n}", credit_line=f"credit {n}")
    # Fresh from the database: the pairs' cached records predate the rights just set.
    return list(CandidatePair.objects.filter(pk__in=[p.pk for p in pairs]).order_by("pk"))


def record(number):
    return CatalogueRecord.objects.get(catalogue_number=number)


def events(personas, number, name="cataloguer"):
    client = APIClient()
    client.force_authenticate(user=personas[name])
    response = client.get(reverse("api-record-history", args=[record(number).pk]))
    assert response.status_code == 200
    return response.json()["events"]


def kinds(personas, number):
    return [e["event"] for e in events(personas, number)]


def test_the_history_shows_supersession_merge_revert_proposal_and_approval_in_order(
    pairs, collection, personas, client_for
):
    first = pairs[0]
    merged = services.decide_duplicate(
        first, record("C-0000"), actor=personas["cataloguer"], merge=("rights", "credit_line")
    )
    reverted = client_for("supervisor").post(
        reverse("review-supervisor-revert", args=[merged.pk]), {"reason": "different prints"}
    )
    assert reverted.status_code == 302
    collection.policy = {"approval_rules": ["duplicate"]}
    collection.save()
    item = ReviewItem.objects.get(pair=first)
    proposal = services.review(item.pk, personas["cataloguer"], "duplicate", master_side="left")
    applied = approval.approve(proposal.pk, personas["supervisor"])

    assert kinds(personas, "C-0001") == [
        "created",
        "file-added",
        "superseded",
        "restored",
        "proposed",
        "superseded",
    ]
    assert kinds(personas, "C-0000") == [
        "created",
        "file-added",
        "became-master",
        "merged",
        "fields-restored",
        "proposed",
        "became-master",
    ]
    master = events(personas, "C-0000")
    assert master[3]["changes"] == {
        "rights": ["rights 0", "rights 1"],
        "credit_line": ["credit 0", "credit 1"],
    }
    assert master[4]["changes"] == {
        "rights": ["rights 1", "rights 0"],
        "credit_line": ["credit 1", "credit 0"],
    }
    assert master[4]["corrects"] == merged.pk
    assert (master[6]["decision"], master[6]["approves"]) == (applied.pk, proposal.pk)
    superseded = events(personas, "C-0001")
    assert [e["decision"] for e in superseded[2:]] == [
        merged.pk,
        Decision.objects.get(kind="revert").pk,
        proposal.pk,
        applied.pk,
    ]
    assert (superseded[2]["master_after"], superseded[3]["master_after"]) == (record("C-0000").pk, None)
    assert superseded[1]["sha256"] == ImageFile.objects.get(record__catalogue_number="C-0001").sha256

    page = client_for("cataloguer").get(record("C-0001").get_absolute_url()).content.decode()
    assert "Version history" in page
    assert page.count('class="event-superseded"') == 2
    assert page.count('class="event-restored"') == 1
    assert "waiting for a supervisor&#x27;s approval" in page or "waiting for a supervisor's approval" in page


def test_related_links_and_their_revert_are_in_the_history(pairs, personas, client_for):
    decision = services.decide(pairs[1], Decision.Kind.RELATED, actor=personas["cataloguer"])
    client_for("supervisor").post(reverse("review-supervisor-revert", args=[decision.pk]), {"reason": "no"})

    for number, other in (("C-0002", "C-0003"), ("C-0003", "C-0002")):
        found = events(personas, number)
        assert [e["event"] for e in found] == ["created", "file-added", "related", "unrelated"]
        assert other in found[2]["summary"] and other in found[3]["summary"]
    assert kinds(personas, "C-0004") == ["created", "file-added"]


def test_an_edit_outside_decisions_is_in_the_history_and_the_as_of_rights(pairs, personas, collection):
    edited = record("C-0004")
    edited.rights = "CC BY 4.0 (corrected)"
    edited.save()
    yesterday = timezone.localdate() - timedelta(days=1)
    client = APIClient()
    client.force_authenticate(user=personas["cataloguer"])

    found = events(personas, "C-0004")
    then = client.get(reverse("api-as-of"), {"catalogue_number": "C-0004", "date": yesterday.isoformat()})
    now = client.get(
        reverse("api-as-of"), {"catalogue_number": "C-0004", "date": timezone.localdate().isoformat()}
    )

    assert [e["event"] for e in found] == ["created", "file-added", "edited"]
    assert found[2]["changes"] == {"rights": ["rights 4", "CC BY 4.0 (corrected)"]}
    (answer,) = then.json()["answers"]
    assert (answer["then"]["rights"], answer["now"]["rights"], answer["rights_changed_since"]) == (
        "rights 4",
        "CC BY 4.0 (corrected)",
        True,
    )
    assert now.json()["answers"][0]["then"]["rights"] == "CC BY 4.0 (corrected)"


def test_the_indexes_are_what_the_chain_rebuilds(pairs, personas, client_for):
    merged = services.decide_duplicate(
        pairs[0], record("C-0000"), actor=personas["cataloguer"], merge=("rights",)
    )
    services.decide(pairs[1], Decision.Kind.RELATED, actor=personas["cataloguer"])
    client_for("supervisor").post(reverse("review-supervisor-revert", args=[merged.pk]), {"reason": "no"})
    live_states = sorted(RecordState.objects.values_list("decision_id", "record_id", "status", "master_id"))
    live_changes = sorted(FieldChange.objects.values_list("record_id", "field", "old", "new"))
    assert len(live_states) >= 6 and len(live_changes) == 2

    RecordState.objects.all().delete()
    FieldChange.objects.all().delete()
    rebuild(Decision, RecordState, FieldChange)

    assert (
        sorted(RecordState.objects.values_list("decision_id", "record_id", "status", "master_id"))
        == live_states
    )
    assert sorted(FieldChange.objects.values_list("record_id", "field", "old", "new")) == live_changes


def _as_of_queries(target, personas):
    moment = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        history.resolved_at(target, moment)
        history.fields_at(target, moment)
    return len(queries)


def test_the_as_of_look_up_does_not_grow_with_the_chain(collection, personas):
    pairs = make_pairs(collection, 12)
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, actor=personas["cataloguer"])
    target = pairs[0].image_b.record
    few = _as_of_queries(target, personas)
    for pair in pairs[1:]:
        services.decide_duplicate(pair, pair.image_a.record, actor=personas["cataloguer"])

    # the state of the record and of its master, fetching the master, and one look-up per rights field
    assert _as_of_queries(target, personas) == few == 5


def test_on_postgresql_the_state_look_up_uses_its_index(collection, personas, settings):
    need(connection.vendor == "postgresql", "this test needs PostgreSQL (set DATABASE_URL=postgresql://...)")
    (pair,) = make_pairs(collection, 1)
    services.decide_duplicate(pair, pair.image_a.record, actor=personas["cataloguer"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = (
        RecordState.objects.filter(record=pair.image_b.record, at__lte=timezone.now())
        .order_by("-at", "-sequence")
        .explain()
    )
    assert "record_state_as_of" in plan


def test_reviewers_get_the_updated_version_button_on_the_record_page(
    pairs, personas, client_for, django_user_model
):
    url = record("C-0001").get_absolute_url()
    reviewer = client_for("cataloguer").get(url).content.decode()
    administrator = client_for("administrator").get(url).content.decode()

    assert reviewer.count("This is an updated version of C-0000") == 1
    assert reverse("licensing-updated-version", args=[pairs[0].pk]) in reviewer
    assert "This is an updated version of" not in administrator
    assert "Version history" in administrator


def test_catalogue_dedup_and_review_never_import_licensing():
    # licensing sits on top (catalogue → dedup → review → licensing): the others reach it only through
    # signals and the record page's template tag, never by importing it.
    from tests.test_layering import REPO, imported_modules

    offending = [
        f"{path.relative_to(REPO)} imports {name}"
        for app in ("catalogue", "dedup", "review")
        for path in sorted((REPO / app).rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] == "licensing"
    ]
    assert offending == []
