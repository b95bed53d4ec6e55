"""Each decision's consequences in the catalogue, field merges, contradictions and undo, through HTTP."""

import pytest
from django.urls import reverse

from catalogue.models import CatalogueRecord, RecordLink
from review import services
from review.models import Decision, ReviewItem
from tests.test_review_corpus import build_corpus, build_group, make_pair
from tests.test_review_queue import item_of, start

pytestmark = pytest.mark.django_db


def decide(client, item, decision, **fields):
    return client.post(reverse("review-decide", args=[item.pk]), {"decision": decision, **fields})


def records_of(item):
    pair = item.pair
    return CatalogueRecord.objects.get(pk=pair.image_a.record_id), CatalogueRecord.objects.get(
        pk=pair.image_b.record_id
    )


def test_keep_left_supersedes_the_right_record_and_takes_the_next_item(client_for, collection, personas):
    build_corpus(collection, pairs=2)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)

    response = decide(client, item, "keep-left", comment="same negative")

    following = item_of(response)
    assert following.pk != item.pk
    left.refresh_from_db()
    right.refresh_from_db()
    item.refresh_from_db()
    assert (right.status, right.master, right.resolve()) == ("superseded", left, left)
    assert left.status == "active"
    assert item.status == "decided" and item.leased_by is None
    decision = item.decision
    assert (decision.kind, decision.master, decision.superseded, decision.actor, decision.comment) == (
        "duplicate",
        left,
        right,
        personas["cataloguer"],
        "same negative",
    )
    assert decision.evidence["relation"] == "resized+recompressed"


def test_keep_right_makes_the_right_record_the_master(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)

    decide(client, item, "keep-right")

    left.refresh_from_db()
    assert (left.status, left.master) == ("superseded", right)


def test_an_old_catalogue_number_resolves_to_the_master_and_says_so(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)
    decide(client, item, "keep-left")

    response = client.get(reverse("catalogue-search"), {"q": right.catalogue_number})

    page = response.content.decode()
    assert (
        f"{right.catalogue_number} is superseded: it resolves to the master record {left.catalogue_number}"
        in page
    )
    assert left.get_absolute_url() in page
    record_page = client.get(right.get_absolute_url()).content.decode()
    assert "This record is superseded" in record_page and "cataloguer" in record_page
    master_page = client.get(left.get_absolute_url()).content.decode()
    assert right.catalogue_number in master_page and "duplicate" in master_page


def test_chosen_fields_are_carried_into_the_master_with_their_source(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)

    decide(client, item, "keep-left", merge=["title", "credit_line", "not-a-field"])

    left.refresh_from_db()
    item.refresh_from_db()
    decision = item.decision
    assert (left.title, left.credit_line) == (right.title, right.credit_line)
    assert left.date_text == ""  # not chosen
    merged = left.metadata["merged_fields"]
    assert set(merged) == {"title", "credit_line"}
    assert merged["title"]["from_record"] == right.pk and merged["title"]["decision"] == decision.pk
    assert decision.effects["merged_fields"]["title"]["previous"] == ""
    master_after = next(state for state in decision.after if state["record"] == left.pk)
    assert master_after["fields"]["title"] == right.title
    page = client.get(left.get_absolute_url()).content.decode()
    assert "Values carried from superseded records" in page


def test_related_links_the_records_both_ways(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)

    decide(client, item, "related")

    assert list(left.related_records()) == [right]
    assert list(right.related_records()) == [left]
    left.refresh_from_db()
    assert left.status == right.status == "active"
    assert right.catalogue_number in client.get(left.get_absolute_url()).content.decode()


def test_not_related_changes_no_record_and_the_pair_never_comes_back(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)

    decide(client, item, "distinct")

    left.refresh_from_db()
    right.refresh_from_db()
    assert (left.status, right.status, left.master, right.master) == ("active", "active", None, None)
    assert not RecordLink.objects.exists()
    services.sync_queue()
    item.refresh_from_db()
    assert item.status == "decided"
    assert start(client)["Location"].startswith(reverse("review-queue"))


def test_groups_stay_flat_across_decisions(client_for, collection, personas):
    group, pairs = build_group(collection, members=3)
    master, first, second = (image.record for image in (group.master, pairs[0].image_b, pairs[1].image_b))
    third = make_pair(pairs[0].image_b, pairs[1].image_b, score=0.5, group=None)
    services.sync_queue()
    items = {item.pair_id: item for item in ReviewItem.objects.all()}
    client, user = client_for("cataloguer"), personas["cataloguer"]

    # B supersedes C, then A supersedes B: C ends superseded by A directly.
    services.claim(items[third.pk].pk, user)
    decide(client, items[third.pk], "keep-left" if third.image_a.record_id == first.pk else "keep-right")
    services.claim(items[pairs[0].pk].pk, user)
    decide(
        client, items[pairs[0].pk], "keep-left" if pairs[0].image_a.record_id == master.pk else "keep-right"
    )

    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.master, second.master) == (master, master)


def test_a_contradicting_decision_is_flagged_for_a_supervisor_not_applied(client_for, collection, personas):
    # Two copies both decided duplicates of one master are closed by the system (tests/test_implied_
    # decisions.py); a person still meets a contradiction where the catalogue holds one that no open
    # pair's decisions say, here a related link made before the pair was queued.
    (pair,) = build_corpus(collection, pairs=1)
    RecordLink.link(pair.image_a.record, pair.image_b.record, note="kept apart in the old catalogue")
    client = client_for("cataloguer")
    item = ReviewItem.objects.get(pair=pair)
    services.claim(item.pk, personas["cataloguer"])

    response = client.post(reverse("review-decide", args=[item.pk]), {"decision": "keep-left"}, follow=True)

    item.refresh_from_db()
    assert item.status == "escalated"
    flag = Decision.objects.filter(pair=pair).get()
    assert (flag.kind, flag.flagged, flag.evidence["proposed"]) == ("escalate", True, "duplicate")
    assert "already linked as related" in flag.reason
    assert "Not applied" in response.content.decode()
    assert not Decision.objects.filter(kind="duplicate").exists()
    assert CatalogueRecord.objects.get(pk=pair.image_b.record_id).status == "active"


def test_undo_restores_the_exact_state_before_the_decision(client_for, collection, personas):
    build_corpus(collection, pairs=2)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)
    before = (left.title, left.credit_line, dict(left.metadata), right.status, right.master_id)
    decide(client, item, "keep-left", merge=["title", "credit_line"])
    decision = ReviewItem.objects.get(pk=item.pk).decision

    response = client.post(reverse("review-undo"))

    assert response["Location"].startswith(reverse("review-item", args=[item.pk]))
    left.refresh_from_db()
    right.refresh_from_db()
    item.refresh_from_db()
    assert (left.title, left.credit_line, dict(left.metadata), right.status, right.master_id) == before
    undo = Decision.objects.get(kind="undo")
    assert undo.corrects == decision and undo.actor == personas["cataloguer"]
    assert (item.status, item.decision, item.leased_by) == ("open", None, personas["cataloguer"])
    # Nothing left to undo: the last decision has been undone already.
    again = client.post(reverse("review-undo"), follow=True)
    assert "You have no decision to undo" in again.content.decode()


def test_undo_of_related_removes_the_link_it_made(client_for, collection):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    decide(client, item, "related")

    client.post(reverse("review-undo"))

    assert not RecordLink.objects.exists()


def test_undo_is_refused_when_the_records_changed_since(client_for, collection, personas):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    item = item_of(start(client))
    left, right = records_of(item)
    decide(client, item, "keep-left")
    right.restore({"status": "active", "master": None})  # someone else changed it meanwhile

    response = client.post(reverse("review-undo"), follow=True)

    assert "have changed since your decision" in response.content.decode()
    assert not Decision.objects.filter(kind="undo").exists()


def test_only_ones_own_last_decision_is_undone(client_for, collection, personas):
    build_corpus(collection, pairs=1)
    item = item_of(start(client_for("cataloguer")))
    decide(client_for("cataloguer"), item, "related")
    supervisor = client_for("supervisor")

    response = supervisor.post(reverse("review-undo"), follow=True)

    assert "You have no decision to undo" in response.content.decode()
    assert RecordLink.objects.count() == 1


def test_an_automatic_decision_takes_the_pair_out_of_the_queue(collection):
    pair = build_corpus(collection, pairs=1)[0]
    services.sync_queue()

    services.decide_duplicate(pair, pair.image_a.record, automatic=True, reason="byte-identical files")

    assert ReviewItem.objects.get(pair=pair).status == "decided"
