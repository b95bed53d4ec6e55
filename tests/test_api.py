"""The REST API through HTTP: authentication, the pages' roles, lists and details, decisions made by the
review screen's rules, downloads and exports."""

import csv
import io
import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from catalogue.importing import Importer
from catalogue.models import CatalogueRecord, Collection, ImportBatch, RecordLink
from catalogue.roles import CATALOGUER
from dedup.models import CandidatePair
from review import services
from review.models import Decision, ReviewItem
from tests.conftest import jpeg_bytes
from tests.test_review_corpus import add_image, build_corpus, build_group, encode, make_pair, picture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(personas):
    """An API client authenticated with the persona's token (None: anonymous)."""

    def client(name=None):
        api_client = APIClient()
        if name:
            _instance, token = AuthToken.objects.create(personas[name])
            api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return api_client

    return client


def records_of(pair):
    return (
        CatalogueRecord.objects.get(pk=pair.image_a.record_id),
        CatalogueRecord.objects.get(pk=pair.image_b.record_id),
    )


def decide(client, pair, kind, **fields):
    return client.post("/api/decisions/", {"pair": pair.pk, "kind": kind, **fields}, format="json")


# --- authentication and roles -----------------------------------------------------------------------

EVERY_LIST = [
    "/api/collections/",
    "/api/records/",
    "/api/images/",
    "/api/imports/",
    "/api/pairs/",
    "/api/groups/",
    "/api/decisions/",
    "/api/exports/mapping/",
    "/api/exports/exact-duplicates/",
    "/api/exports/premis/",
    "/api/schema/",
]


@pytest.mark.parametrize("url", EVERY_LIST)
def test_anonymous_requests_are_told_to_authenticate(api, url):
    response = api().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_refused(api):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert client.get("/api/collections/").status_code == 401


# Which persona may read what: the permission of the page that shows the same thing.
ROLES = {
    "/api/collections/": {"administrator": 200, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/records/": {"administrator": 200, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/images/": {"administrator": 200, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/imports/": {"administrator": 200, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/pairs/": {"administrator": 403, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/groups/": {"administrator": 403, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/decisions/": {"administrator": 403, "cataloguer": 200, "supervisor": 200, "outsider": 403},
    "/api/exports/mapping/": {"administrator": 403, "cataloguer": 403, "supervisor": 200, "outsider": 403},
    "/api/exports/exact-duplicates/": {
        "administrator": 403,
        "cataloguer": 403,
        "supervisor": 200,
        "outsider": 403,
    },
    "/api/exports/premis/": {"administrator": 403, "cataloguer": 403, "supervisor": 200, "outsider": 403},
}


@pytest.mark.parametrize("url", ROLES)
def test_each_role_reaches_what_its_pages_show(api, url):
    for persona, expected in ROLES[url].items():
        assert api(persona).get(url).status_code == expected, (persona, url)


def test_the_session_of_a_signed_in_user_works_and_needs_the_csrf_token(personas, collection):
    session = APIClient(enforce_csrf_checks=True)
    session.force_login(User.objects.get(username="administrator"))

    assert session.get("/api/collections/").status_code == 200
    refused = session.post("/api/collections/", {"name": "Without CSRF"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_the_schema_is_openapi_3_for_signed_in_users(api):
    response = api("outsider").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/decisions/", "/api/images/{id}/original/", "/api/exports/premis/"} <= set(schema["paths"])


# --- tokens -----------------------------------------------------------------------------------------


def test_a_username_and_password_give_the_users_token(api, personas):
    response = APIClient().post(
        "/api/token/", {"username": "cataloguer", "password": "correct horse battery staple"}, format="json"
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["expiry"]
    assert AuthToken.objects.get(user=personas["cataloguer"]).token_key == token[:15]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/pairs/").status_code == 200


def test_wrong_passwords_lock_the_token_endpoint_and_the_login_page_together(client, personas, settings):
    settings.MASTERCOPY_LOGIN_FAILURES = 3
    api_client = APIClient()
    for _attempt in range(3):
        wrong = api_client.post("/api/token/", {"username": "cataloguer", "password": "guess"}, format="json")
        assert wrong.status_code == 400
        assert "Unable to log in" in wrong.json()["detail"]

    locked = api_client.post(
        "/api/token/", {"username": "cataloguer", "password": "correct horse battery staple"}, format="json"
    )

    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.json()["detail"]
    page = client.post(
        reverse("login"), {"username": "cataloguer", "password": "correct horse battery staple"}
    )
    assert page.status_code == 429


def test_the_api_token_command_prints_creates_and_resets_a_token(personas):
    def works(token):
        return APIClient(headers={"Authorization": f"Token {token}"}).get("/api/pairs/").status_code == 200

    out = StringIO()
    call_command("api_token", "supervisor", stdout=out, stderr=StringIO())
    first = out.getvalue().strip()
    assert AuthToken.objects.get(user=personas["supervisor"]).token_key == first[:15]

    again = StringIO()
    call_command("api_token", "supervisor", stdout=again, stderr=StringIO())
    assert again.getvalue().strip() != first  # only digests are kept: a new token, the first still valid
    assert works(first) and works(again.getvalue().strip())

    reset = StringIO()
    call_command("api_token", "supervisor", "--reset", stdout=reset, stderr=StringIO())
    assert reset.getvalue().strip() not in ("", first)
    assert not works(first) and works(reset.getvalue().strip())


# --- catalogue --------------------------------------------------------------------------------------


def test_collections_list_with_their_counts_and_detail_with_policy_and_progress(api, collection):
    build_corpus(collection, pairs=2)
    Collection.objects.create(name="Aerial Survey")

    listing = api("cataloguer").get("/api/collections/").json()

    assert listing["count"] == 2
    assert [c["name"] for c in listing["results"]] == ["Aerial Survey", "Harbour Photographs"]
    harbour = listing["results"][1]
    assert (harbour["image_count"], harbour["record_count"], harbour["institution"]) == (4, 4, "City Archive")
    detail = api("cataloguer").get(f"/api/collections/{collection.pk}/").json()
    assert detail["policy"]["auto_settle"] is True
    assert detail["progress"]["total"] == 4 and detail["progress"]["done"] == 4
    progress = api("cataloguer").get(f"/api/collections/{collection.pk}/progress/").json()
    assert progress["percent"] == 100


def test_administrators_create_collections_and_others_may_not(api, personas):
    created = api("administrator").post(
        "/api/collections/", {"name": "Glass Negatives", "institution": "Museum"}, format="json"
    )

    assert created.status_code == 201
    collection = Collection.objects.get(name="Glass Negatives")
    assert collection.created_by == personas["administrator"]
    assert created.json()["id"] == collection.pk and created.json()["image_count"] == 0
    again = api("administrator").post("/api/collections/", {"name": "Glass Negatives"}, format="json")
    assert again.status_code == 400 and "name" in again.json()
    assert api("cataloguer").post("/api/collections/", {"name": "X"}, format="json").status_code == 403
    assert api("administrator").post("/api/collections/", {}, format="json").status_code == 400


def test_records_filter_and_a_superseded_record_resolves_to_its_master(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    left, right = records_of(pair)
    services.decide_duplicate(pair, left, reason="test")

    client = api("cataloguer")
    superseded = client.get("/api/records/", {"status": "superseded"}).json()["results"]
    by_number = client.get("/api/records/", {"catalogue_number": right.catalogue_number}).json()["results"]
    searched = client.get("/api/records/", {"q": "harbour view"}).json()["results"]

    assert [r["id"] for r in superseded] == [right.pk]
    assert by_number[0]["resolves_to"] == left.pk and by_number[0]["master"] == left.pk
    assert [r["catalogue_number"] for r in searched] == ["HP-000-web"]
    detail = client.get(f"/api/records/{left.pk}/").json()
    assert detail["superseded_records"] == [right.pk]
    assert [image["id"] for image in detail["images"]] == [pair.image_a_id]
    assert client.get("/api/records/", {"status": "deleted"}).status_code == 400
    assert client.get("/api/records/999999/").status_code == 404


def test_image_metadata_and_authorised_downloads(api, collection):
    data = encode(picture(3), quality=88).getvalue()
    image = add_image(collection, "IMG-1", io.BytesIO(data))

    client = api("cataloguer")
    meta = client.get(f"/api/images/{image.pk}/").json()
    original = client.get(meta["original_url"], HTTP_ACCEPT="image/*")
    preview = client.get(meta["preview_url"])
    thumbnail = client.get(meta["thumbnail_url"])

    assert (meta["format"], meta["width"], meta["height"], meta["sha256"]) == (
        "JPEG",
        640,
        480,
        image.sha256,
    )
    assert original.status_code == 200 and original["Content-Type"] == "image/jpeg"
    assert b"".join(original.streaming_content) == data
    assert "private" in original["Cache-Control"]
    assert preview.status_code == 200 and preview["Content-Type"] == "image/jpeg"
    assert thumbnail.status_code == 200 and b"".join(thumbnail.streaming_content)[:2] == b"\xff\xd8"
    assert api("outsider").get(meta["original_url"]).status_code == 403
    assert api().get(meta["original_url"]).status_code == 401
    assert client.get("/api/images/999999/original/").status_code == 404
    filtered = client.get("/api/images/", {"sha256": image.sha256}).json()
    assert [i["id"] for i in filtered["results"]] == [image.pk]


def test_an_import_job_shows_its_results_and_fingerprinting_progress(api, collection, personas):
    importer = Importer(collection, source=ImportBatch.Source.UPLOAD, user=personas["administrator"])
    importer.add("a.jpg", io.BytesIO(jpeg_bytes()))
    importer.add("b.jpg", io.BytesIO(jpeg_bytes(color=(10, 200, 10))))
    importer.add("notes.txt", io.BytesIO(b"not an image"))
    batch = importer.finish()

    client = api("cataloguer")
    listing = client.get("/api/imports/", {"collection": collection.pk}).json()
    detail = client.get(f"/api/imports/{batch.pk}/").json()
    rejected = client.get(f"/api/imports/{batch.pk}/", {"status": "rejected"}).json()

    assert [b["id"] for b in listing["results"]] == [batch.pk]
    assert (detail["stored"], detail["rejected"], detail["created_by"], detail["finished"]) == (
        2,
        1,
        "administrator",
        True,
    )
    # Fingerprinting starts after the import's transaction commits, which a test transaction never does.
    assert detail["progress"] == {"total": 2, "ready": 0, "pending": 2, "failed": 0}
    assert [r["path"] for r in rejected["results"]] == ["notes.txt"]
    assert client.get(f"/api/imports/{batch.pk}/", {"status": "lost"}).status_code == 400


# --- pairs and groups -------------------------------------------------------------------------------


def test_pairs_list_with_tier_relation_and_review_status_filters(api, collection):
    first, second, third = build_corpus(collection, pairs=3)
    CandidatePair.objects.filter(pk=third.pk).update(tier="rejected", relation="different")
    ReviewItem.objects.filter(pair=third).delete()  # the tier rules never queue a rejected pair

    client = api("cataloguer")
    review = client.get("/api/pairs/", {"tier": "review"}).json()
    resized = client.get("/api/pairs/", {"relation": "resized"}).json()
    whole = client.get("/api/pairs/", {"relation": "resized+recompressed"}).json()
    none = client.get("/api/pairs/", {"relation": "size"}).json()
    open_items = client.get("/api/pairs/", {"status": "open", "collection": collection.pk}).json()

    assert [p["id"] for p in review["results"]] == [first.pk, second.pk]
    assert [p["id"] for p in resized["results"]] == [first.pk, second.pk]
    assert whole["count"] == 2 and none["count"] == 0
    assert open_items["count"] == 2
    detail = client.get(f"/api/pairs/{first.pk}/").json()
    assert detail["relations"] == ["resized", "recompressed"]
    assert detail["image_a"]["catalogue_number"] == "HP-000"
    assert detail["review_item"]["status"] == "open"
    assert client.get("/api/pairs/", {"tier": "maybe"}).status_code == 400
    assert client.get("/api/pairs/", {"min_score": 2}).status_code == 400


def test_groups_list_their_master_members_and_pairs(api, collection):
    group, pairs = build_group(collection, members=3)

    body = api("cataloguer").get("/api/groups/", {"collection": collection.pk}).json()

    assert body["count"] == 1
    shown = body["results"][0]
    assert shown["master"] == group.master_id
    assert shown["members"] == sorted(m.pk for m in group.members.all())
    assert shown["pairs"] == sorted(p.pk for p in pairs)


# --- decisions --------------------------------------------------------------------------------------


def test_a_duplicate_decision_supersedes_the_record_as_the_screen_does(api, collection, personas):
    pair = build_corpus(collection, pairs=1)[0]
    left, right = records_of(pair)

    response = decide(
        api("cataloguer"), pair, "duplicate", master_side="left", comment="same negative", merge=["title"]
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["master"], body["superseded"], body["actor"], body["applied"]) == (
        "duplicate",
        left.pk,
        right.pk,
        "cataloguer",
        True,
    )
    left.refresh_from_db()
    right.refresh_from_db()
    assert (right.status, right.master) == ("superseded", left)
    assert left.title == "Harbour view 0"  # merged from the superseded record
    item = ReviewItem.objects.get(pair=pair)
    assert item.status == "decided" and item.decision_id == body["id"]
    decision = Decision.objects.get(pk=body["id"])
    assert (decision.actor, decision.comment, decision.hash) == (
        personas["cataloguer"],
        "same negative",
        body["hash"],
    )


def test_related_links_the_two_records_and_skip_leaves_the_pair_waiting(api, collection):
    first, second = build_corpus(collection, pairs=2)

    related = decide(api("cataloguer"), first, "related")
    skipped = decide(api("cataloguer"), second, "skip")

    assert related.status_code == 201 and skipped.status_code == 201
    a, b = records_of(first)
    assert RecordLink.objects.filter(record_a=min(a.pk, b.pk), record_b=max(a.pk, b.pk)).exists()
    assert ReviewItem.objects.get(pair=second).status == "open"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"kind": "duplicate"}, "master_side"),
        ({"kind": "merge"}, "kind"),
        ({"kind": "duplicate", "master_side": "middle"}, "master_side"),
        ({"kind": "duplicate", "master_side": "left", "merge": ["catalogue_number"]}, "merge"),
        ({"kind": "related", "master_side": "left"}, "non_field_errors"),
    ],
)
def test_an_invalid_decision_is_refused_and_changes_nothing(api, collection, fields, field):
    pair = build_corpus(collection, pairs=1)[0]

    response = api("cataloguer").post("/api/decisions/", {"pair": pair.pk, **fields}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Decision.objects.count() == 0


def test_an_unknown_pair_is_refused(api, collection):
    response = api("cataloguer").post("/api/decisions/", {"pair": 987654, "kind": "distinct"}, format="json")

    assert response.status_code == 400 and "pair" in response.json()


def test_a_decided_pair_is_a_conflict_with_the_screens_message(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    decide(api("cataloguer"), pair, "distinct")

    again = decide(api("supervisor"), pair, "duplicate", master_side="right")

    assert again.status_code == 409
    assert again.json()["detail"] == "This pair has already been decided."
    assert Decision.objects.count() == 1


def test_a_pair_leased_to_someone_else_is_a_conflict(api, collection, personas):
    pair = build_corpus(collection, pairs=1)[0]
    services.sync_queue()
    item = ReviewItem.objects.get(pair=pair)
    other = User.objects.create_user("second", password="x" * 20)
    other.groups.add(Group.objects.get(name=CATALOGUER))
    assert services.claim(item.pk, other)

    response = decide(api("cataloguer"), pair, "distinct")

    assert response.status_code == 409
    assert response.json()["detail"] == "Someone else is reviewing this pair."


def test_a_pair_outside_the_review_queue_is_a_conflict(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    CandidatePair.objects.filter(pk=pair.pk).update(tier="rejected")
    ReviewItem.objects.filter(pair=pair).delete()  # the tier rules never queue a rejected pair

    response = decide(api("cataloguer"), pair, "distinct")

    assert response.status_code == 409
    assert "not in the review queue" in response.json()["detail"]


def test_a_contradicting_decision_goes_to_a_supervisor_not_applied(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    left, right = records_of(pair)
    RecordLink.link(left, right)

    response = decide(api("cataloguer"), pair, "duplicate", master_side="left")

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["flagged"], body["applied"]) == ("escalate", True, False)
    assert "already linked as related" in body["reason"]
    right.refresh_from_db()
    assert right.status == "active"
    assert ReviewItem.objects.get(pair=pair).status == "escalated"
    # Waiting for a supervisor: a cataloguer is refused, a supervisor may decide it.
    assert decide(api("cataloguer"), pair, "distinct").status_code == 409
    assert decide(api("supervisor"), pair, "related").status_code == 201


def _two_person_rule(collection, *kinds):
    collection.policy = {**(collection.policy or {}), "approval_rules": list(kinds)}
    collection.save()


def test_a_decision_under_a_two_person_rule_waits_for_a_second_persons_approval(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    left, right = records_of(pair)
    _two_person_rule(collection, "duplicate")

    proposed = decide(api("cataloguer"), pair, "duplicate", master_side="left")

    assert proposed.status_code == 201
    body = proposed.json()
    assert (body["kind"], body["pending"], body["applied"]) == ("duplicate", True, False)
    right.refresh_from_db()
    assert right.status == "active"
    assert ReviewItem.objects.get(pair=pair).status == "pending"
    waiting = api("supervisor").get("/api/decisions/", {"pending": True}).json()
    assert [d["id"] for d in waiting["results"]] == [body["id"]]
    again = decide(api("supervisor"), pair, "distinct")
    assert again.status_code == 409 and "approval" in again.json()["detail"]
    assert api("cataloguer").post(f"/api/decisions/{body['id']}/approve/").status_code == 403

    approved = api("supervisor").post(
        f"/api/decisions/{body['id']}/approve/", {"comment": "checked"}, format="json"
    )

    assert approved.status_code == 201
    assert (approved.json()["approves"], approved.json()["actor"]) == (body["id"], "supervisor")
    right.refresh_from_db()
    assert (right.status, right.master) == ("superseded", left)
    twice = api("supervisor").post(f"/api/decisions/{body['id']}/approve/")
    assert twice.status_code == 409


def test_a_proposer_cannot_approve_their_own_and_a_decline_sends_the_pair_back(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    _two_person_rule(collection, "distinct")
    proposal = decide(api("supervisor"), pair, "distinct").json()

    own = api("supervisor").post(f"/api/decisions/{proposal['id']}/approve/")
    own_decline = api("supervisor").post(f"/api/decisions/{proposal['id']}/decline/")
    other = User.objects.create_user("second-supervisor", password="x" * 20)
    other.groups.add(Group.objects.get(name="Supervisor"))
    _instance, token = AuthToken.objects.create(other)
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    declined = second.post(
        f"/api/decisions/{proposal['id']}/decline/", {"comment": "look again"}, format="json"
    )

    assert own.status_code == 409 and "second person" in own.json()["detail"]
    assert own_decline.status_code == 409
    assert declined.status_code == 201 and declined.json()["kind"] == "decline"
    assert ReviewItem.objects.get(pair=pair).status == "open"
    assert second.post("/api/decisions/987654/approve/").status_code == 404


def test_cataloguers_list_their_own_decisions_and_supervisors_all(api, collection):
    first, second = build_corpus(collection, pairs=2)
    decide(api("cataloguer"), first, "distinct")
    decide(api("supervisor"), second, "related")

    own = api("cataloguer").get("/api/decisions/").json()
    everyone = api("supervisor").get("/api/decisions/").json()
    by_pair = api("supervisor").get("/api/decisions/", {"pair": first.pk}).json()

    assert [d["actor"] for d in own["results"]] == ["cataloguer"]
    assert sorted(d["actor"] for d in everyone["results"]) == ["cataloguer", "supervisor"]
    assert [d["kind"] for d in by_pair["results"]] == ["distinct"]
    other = Decision.objects.get(actor__username="supervisor")
    assert api("cataloguer").get(f"/api/decisions/{other.pk}/").status_code == 404


# --- exports ----------------------------------------------------------------------------------------


def test_exports_are_the_pages_exports(api, collection):
    pair = build_corpus(collection, pairs=1)[0]
    left, right = records_of(pair)
    decide(api("cataloguer"), pair, "duplicate", master_side="left")
    client = api("supervisor")

    mapping = client.get("/api/exports/mapping/", HTTP_ACCEPT="text/csv")
    as_json = client.get("/api/exports/mapping/", {"format": "json", "collection": collection.pk})
    premis = client.get("/api/exports/premis/", {"kind": "duplicate"})

    rows = list(csv.DictReader(io.StringIO(b"".join(mapping.streaming_content).decode())))
    assert mapping["Content-Type"] == "text/csv"
    assert [(r["catalogue_number"], r["relation"], r["target_number"], r["decided_by"]) for r in rows] == [
        (right.catalogue_number, "superseded", left.catalogue_number, "cataloguer")
    ]
    assert as_json["Content-Type"] == "application/json"
    assert json.loads(as_json.content)[0]["target_number"] == left.catalogue_number
    page = api("supervisor")
    page.force_login(User.objects.get(username="supervisor"))
    assert (
        as_json.content
        == page.get(
            reverse("review-supervisor-export-mapping"), {"format": "json", "collection": collection.pk}
        ).content
    )
    xml = b"".join(premis.streaming_content).decode()
    assert premis["Content-Type"] == "application/xml"
    assert "<premis:eventType>deduplication</premis:eventType>" in xml


def test_exact_duplicates_export_lists_identical_copies(api, collection):
    data = encode(picture(7), quality=90).getvalue()
    a = add_image(collection, "EX-1", io.BytesIO(data))
    b = add_image(collection, "EX-2", io.BytesIO(data))
    pair = make_pair(a, b, score=1.0, relation="identical")
    decide(api("cataloguer"), pair, "duplicate", master_side="left")

    body = api("supervisor").get("/api/exports/exact-duplicates/", {"format": "json"})

    assert [(r["master_number"], r["duplicate_number"]) for r in json.loads(body.content)] == [
        ("EX-1", "EX-2")
    ]


def test_export_filters_are_checked(api, collection):
    client = api("supervisor")

    assert client.get("/api/exports/mapping/", {"format": "xlsx"}).status_code == 400
    assert client.get("/api/exports/mapping/", {"collection": 987654}).status_code == 404
    assert client.get("/api/exports/premis/", {"start": "not a date"}).status_code == 400
    assert client.get("/api/exports/premis/", {"collection": "x"}).status_code == 400


@pytest.mark.parametrize(
    "url", ["/api/pairs/", "/api/records/", "/api/images/", "/api/groups/", "/api/decisions/"]
)
def test_lists_take_the_same_number_of_queries_however_long(api, collection, url):
    client = api("supervisor")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    first = build_corpus(collection, pairs=1)
    build_group(collection, members=3)
    decide(client, first[0], "related")
    few = queries()
    second = Collection.objects.create(name="Second")
    extra = build_corpus(second, pairs=3)
    for pair in extra:
        decide(client, pair, "distinct")

    assert queries() == few
