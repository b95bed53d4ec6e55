"""A collection restricted to groups (a partner's mirror, an embargoed accession) is invisible to
everyone else, on every page, file, queue, export and API endpoint: a 404, as if it did not exist."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from catalogue.models import Collection
from review import services
from review.models import Decision
from tests.test_review_corpus import build_corpus
from tests.test_review_queue import item_of, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner(personas, collection, django_user_model):
    """The open collection with one pair, a restricted one with one pair, and a partner cataloguer."""
    build_corpus(collection, pairs=1)
    staff = Group.objects.create(name="Partner staff")
    mirror = Collection.objects.create(name="Partner Mirror", institution="Partner Museum")
    mirror.restricted_to.set([staff])
    (pair,) = build_corpus(mirror, pairs=1)
    member = django_user_model.objects.create_user("partner-cataloguer")
    member.groups.set([*personas["cataloguer"].groups.all(), staff])
    services.sync_queue()
    return {"collection": mirror, "pair": pair, "member": member}


def login(user):
    client = Client()
    client.force_login(user)
    return client


def hidden_urls(partner):
    pair = partner["pair"]
    image = pair.image_a
    return [
        partner["collection"].get_absolute_url(),
        image.record.get_absolute_url(),
        reverse("catalogue-image-original", args=[image.pk]),
        reverse("review-image", args=[image.pk, "preview"]),
        reverse("review-image", args=[image.pk, "thumbnail"]),
        reverse("review-item", args=[pair.review_item.pk]),
        f"/api/collections/{partner['collection'].pk}/",
        f"/api/records/{image.record_id}/",
        f"/api/images/{image.pk}/",
        f"/api/images/{image.pk}/original/",
        f"/api/pairs/{pair.pk}/",
    ]


def test_others_cannot_see_it_anywhere(partner, personas):
    client = login(personas["cataloguer"])
    number = partner["pair"].image_a.record.catalogue_number

    for url in hidden_urls(partner):
        assert client.get(url).status_code == 404, url
    assert "Partner Mirror" not in client.get(reverse("catalogue-collections")).content.decode()
    found = client.get(reverse("catalogue-search"), {"q": number}).content.decode()
    assert "Harbour Photographs" in found and "Partner Mirror" not in found  # both have an HP-000
    assert "1 pair waits for a decision" in client.get(reverse("review-queue")).content.decode()
    item = item_of(start(client))
    assert item.collection.name == "Harbour Photographs"
    response = client.post(
        reverse("review-decide", args=[partner["pair"].review_item.pk]), {"decision": "distinct"}
    )
    assert response.status_code == 404
    assert not Decision.objects.filter(pair=partner["pair"]).exists()


def test_the_api_hides_it_too(client, partner, personas):
    _instance, token = AuthToken.objects.create(personas["cataloguer"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

    names = [c["name"] for c in client.get("/api/collections/", **auth).json()["results"]]
    pairs = [p["id"] for p in client.get("/api/pairs/", **auth).json()["results"]]
    decided = client.post(
        "/api/decisions/",
        {"pair": partner["pair"].pk, "kind": "distinct"},
        content_type="application/json",
        **auth,
    )

    assert names == ["Harbour Photographs"] and partner["pair"].pk not in pairs
    assert decided.status_code == 404
    assert not Decision.objects.filter(pair=partner["pair"]).exists()


def test_members_and_superusers_see_it(partner, django_user_model):
    member = login(partner["member"])
    page = member.get(partner["collection"].get_absolute_url()).content.decode()
    assert '<dd id="visible-to">Partner staff</dd>' in page
    for url in hidden_urls(partner):
        if "/api/" not in url:
            assert member.get(url).status_code == 200, url
    assert "2 pairs wait for a decision" in member.get(reverse("review-queue")).content.decode()
    root = django_user_model.objects.create_superuser("root", password="x")
    assert login(root).get(partner["collection"].get_absolute_url()).status_code == 200


def test_supervisors_outside_the_group_neither_see_its_decisions_nor_export_them(partner, personas):
    pair = partner["pair"]
    decision = services.decide_duplicate(pair, pair.image_a.record, actor=partner["member"])
    client = login(personas["supervisor"])

    log = client.get(reverse("review-supervisor-decisions")).content.decode()
    mapping = client.get(reverse("review-supervisor-export-mapping"), {"format": "json"}).json()
    revert = client.post(reverse("review-supervisor-revert", args=[decision.pk]))

    assert f'data-decision="{decision.pk}"' not in log
    assert mapping == []
    assert revert.status_code == 404 and not decision.corrections.exists()


def test_an_administrator_restricts_a_new_collection(client_for):
    staff = Group.objects.create(name="Embargo readers")
    client_for("administrator").post(
        reverse("catalogue-collection-new"), {"name": "Embargoed 2026", "restricted_to": [staff.pk]}
    )
    assert list(Collection.objects.get(name="Embargoed 2026").restricted_to.all()) == [staff]
