"""The review screen's traps, through HTTP: undo after undo, a pair opened from a link decided at once,
an undo that cannot be done keeps the reviewer on the pair, the predicted next item. (The browser side
of each: tests/test_browser_traps.py.)"""

import pytest
from django.test import Client
from django.urls import reverse

from catalogue.models import CatalogueRecord
from review.models import Decision, ReviewItem
from tests.test_review_corpus import build_corpus
from tests.test_review_decisions import decide
from tests.test_review_queue import item_of, start

pytestmark = pytest.mark.django_db


def own_client(user):
    client = Client()
    client.force_login(user)
    return client


def undo(client, **fields):
    return client.post(reverse("review-undo"), fields)


def test_undo_goes_back_through_my_decisions_one_by_one(client_for, collection, personas):
    build_corpus(collection, pairs=4)
    client = client_for("cataloguer")
    item = item_of(start(client))
    decided = []
    for choice in ("keep-left", "related", "distinct"):
        decided.append(item)
        item = item_of(decide(client, item, choice))

    undone_items = [item_of(undo(client, back=item.pk)) for _ in range(3)]

    assert [i.pk for i in undone_items] == [i.pk for i in reversed(decided)]
    for each in decided:
        each.refresh_from_db()
        assert (each.status, each.decision) == ("open", None)
    undos = Decision.objects.filter(kind="undo").order_by("pk")
    assert [u.corrects.kind for u in undos] == ["distinct", "related", "duplicate"]
    assert all(r.status == "active" for r in CatalogueRecord.objects.all())
    # Then there is nothing left: said on the pair the reviewer is on, not by sending them to the queue.
    response = undo(client, back=undone_items[-1].pk)
    assert item_of(response).pk == undone_items[-1].pk
    assert "You have no decision to undo" in client.get(response["Location"]).content.decode()


def test_undo_passes_over_decisions_of_others(collection, personas):
    build_corpus(collection, pairs=3)
    mine, theirs = own_client(personas["cataloguer"]), own_client(personas["supervisor"])
    first = item_of(start(mine))
    decide(mine, first, "related")
    second = item_of(start(theirs))
    decide(theirs, second, "distinct")

    assert item_of(undo(mine)).pk == first.pk
    second.refresh_from_db()
    assert second.status == "decided"


def test_a_pair_opened_from_a_link_is_decided_without_claiming_it_first(client_for, collection, personas):
    build_corpus(collection, pairs=2)
    client = client_for("cataloguer")
    item = ReviewItem.objects.order_by("pk").last()

    page = client.get(reverse("review-item", args=[item.pk])).content.decode()
    assert 'name="claim" value="1"' in page and 'value="keep-left"' in page
    response = decide(client, item, "keep-left", claim="1")

    item.refresh_from_db()
    assert item.status == "decided" and item.decision.actor == personas["cataloguer"]
    assert item_of(response).pk != item.pk


def test_a_pair_held_by_someone_else_is_not_taken_by_a_decision(collection, personas):
    build_corpus(collection, pairs=1)
    holder, other = own_client(personas["supervisor"]), own_client(personas["cataloguer"])
    item = item_of(start(holder))

    page = other.get(reverse("review-item", args=[item.pk])).content.decode()
    assert 'value="keep-left"' not in page
    response = decide(other, item, "keep-left", claim="1")

    assert item_of(response).pk == item.pk
    item.refresh_from_db()
    assert (item.status, item.leased_by) == ("open", personas["supervisor"])
    assert not Decision.objects.exists()


def test_the_screen_names_the_item_a_decision_will_most_likely_lead_to(client_for, collection):
    build_corpus(collection, pairs=3)
    client = client_for("cataloguer")
    first = item_of(start(client))
    predicted = client.get(reverse("review-item", args=[first.pk])).context["next_url"]

    following = item_of(decide(client, first, "distinct"))

    assert predicted.split("?")[0] == reverse("review-item", args=[following.pk])
    last = item_of(decide(client, following, "distinct"))
    assert client.get(reverse("review-item", args=[last.pk])).context["next_url"] == ""
