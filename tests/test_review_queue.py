"""The review queue through HTTP: roles, counts and filters, leases, skip and escalate."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalogue.roles import CATALOGUER
from review.models import Decision, ReviewItem
from tests.test_review_corpus import build_corpus

pytestmark = pytest.mark.django_db


def another_cataloguer(name="second"):
    user = User.objects.create_user(name, password="x" * 20)
    user.groups.add(Group.objects.get(name=CATALOGUER))
    client = Client()
    client.force_login(user)
    return user, client


def start(client, **filters):
    return client.post(reverse("review-start"), filters)


def item_of(response):
    assert response.status_code == 302, response
    path = response["Location"].split("?")[0]
    assert path.startswith("/review/items/"), response["Location"]
    return ReviewItem.objects.get(pk=int(path.rstrip("/").rsplit("/", 1)[-1]))


def test_anonymous_is_sent_to_log_in(client, collection):
    response = client.get(reverse("review-queue"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_outsider_and_administrator_may_not_review(client_for, collection):
    assert client_for("outsider").get(reverse("review-queue")).status_code == 403
    assert client_for("administrator").post(reverse("review-start")).status_code == 403


def test_queue_counts_by_collection_relation_and_band(client_for, collection):
    build_corpus(collection, pairs=3)  # scores 0.95, 0.85, 0.75

    response = client_for("cataloguer").get(reverse("review-queue"))

    assert response.status_code == 200
    assert response.context["total"] == 3
    assert response.context["by_collection"] == [(collection, 3)]
    assert response.context["by_relation"] == [("resized+recompressed", 3)]
    assert dict((key, n) for key, _label, n in response.context["by_band"]) == {
        "high": 1,
        "good": 2,
        "fair": 0,
        "weak": 0,
    }
    assert "Review queue" in response.content.decode()


def test_filters_narrow_the_count(client_for, collection):
    build_corpus(collection, pairs=3)

    response = client_for("cataloguer").get(reverse("review-queue"), {"band": "high"})

    assert response.context["matching"] == 1


def test_easy_first_and_hardest_first(client_for, collection, personas):
    pairs = build_corpus(collection, pairs=3)
    client = client_for("cataloguer")

    easy = item_of(start(client, order="easy"))
    _, other = another_cataloguer()
    hard = item_of(start(other, order="hard"))

    assert easy.pair_id == pairs[0].pk  # highest priority
    assert hard.pair_id == pairs[2].pk  # lowest priority


def test_start_leases_the_item_to_one_cataloguer(client_for, collection, personas):
    build_corpus(collection, pairs=2)
    client = client_for("cataloguer")

    first = item_of(start(client))
    second_user, second = another_cataloguer()
    other = item_of(start(second))

    first.refresh_from_db()
    other.refresh_from_db()
    assert first.leased_by == personas["cataloguer"]
    assert other.leased_by == second_user
    assert first.pk != other.pk
    assert first.lease_expires_at > timezone.now()
    # Starting again resumes the item one already holds.
    assert item_of(start(client)).pk == first.pk


def test_a_held_item_cannot_be_decided_by_someone_else(client_for, collection):
    build_corpus(collection, pairs=1)
    held = item_of(start(client_for("cataloguer")))
    _, second = another_cataloguer()

    response = second.post(reverse("review-decide", args=[held.pk]), {"decision": "distinct"}, follow=True)

    assert "Someone else is reviewing this pair" in response.content.decode()
    held.refresh_from_db()
    assert held.status == "open"
    assert not Decision.objects.exists()


def test_an_expired_lease_lets_someone_else_take_the_item(client_for, collection):
    build_corpus(collection, pairs=1)
    held = item_of(start(client_for("cataloguer")))
    ReviewItem.objects.filter(pk=held.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    second_user, second = another_cataloguer()

    taken = item_of(start(second))

    taken.refresh_from_db()
    assert taken.pk == held.pk and taken.leased_by == second_user


def test_nothing_left_goes_back_to_the_queue_with_a_message(client_for, collection):
    response = start(client_for("cataloguer"))

    assert response.status_code == 302 and response["Location"] == reverse("review-queue") + "?order=easy"


def test_skip_gives_the_item_to_others_not_back_to_the_same_person(client_for, collection, personas):
    build_corpus(collection, pairs=1)
    client = client_for("cataloguer")
    held = item_of(start(client))

    response = client.post(reverse("review-decide", args=[held.pk]), {"decision": "skip"})

    assert response["Location"].startswith(reverse("review-queue"))
    held.refresh_from_db()
    assert (held.status, held.leased_by, held.skipped_by) == ("open", None, personas["cataloguer"])
    assert start(client).status_code == 302 and start(client)["Location"].startswith(reverse("review-queue"))
    _, second = another_cataloguer()
    assert item_of(start(second)).pk == held.pk


def test_escalate_moves_the_pair_to_supervisors(client_for, collection, personas):
    build_corpus(collection, pairs=1)
    cataloguer = client_for("cataloguer")
    held = item_of(start(cataloguer))

    cataloguer.post(reverse("review-decide", args=[held.pk]), {"decision": "escalate", "comment": "rights?"})

    held.refresh_from_db()
    assert held.status == "escalated"
    assert start(cataloguer)["Location"].startswith(reverse("review-queue"))
    assert cataloguer.post(reverse("review-claim", args=[held.pk])).status_code == 302
    held.refresh_from_db()
    assert held.leased_by is None  # a cataloguer cannot take an escalated pair

    supervisor = Client()
    supervisor.force_login(personas["supervisor"])
    queue = supervisor.get(reverse("review-queue"), {"escalated": "1"})
    assert queue.context["total"] == 1
    taken = item_of(supervisor.post(reverse("review-start"), {"escalated": "1"}))
    assert taken.pk == held.pk
    supervisor.post(reverse("review-decide", args=[held.pk]), {"decision": "distinct", "escalated": "1"})
    held.refresh_from_db()
    assert held.status == "decided"
    assert held.decision.actor == personas["supervisor"]
    assert list(Decision.objects.values_list("kind", "comment")) == [
        ("escalate", "rights?"),
        ("distinct", ""),
    ]
