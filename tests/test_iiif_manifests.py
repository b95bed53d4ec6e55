"""IIIF Presentation 3 manifests of a record and of a candidate group (iiif/manifests.py): served to
signed-in users with access, and loaded back with iiif-prezi3 itself, the way a IIIF viewer reads them."""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from iiif_prezi3 import Manifest
from pydantic import ValidationError

from catalogue.models import Collection
from tests.test_review_corpus import add_image, build_group, encode, picture

pytestmark = pytest.mark.django_db


def _load(response):
    assert response.status_code == 200, response.content[:300]
    data = json.loads(response.content)
    return data, Manifest(**data)


def _canvas_images(manifest):
    return [canvas.items[0].items[0].body for canvas in manifest.items]


@pytest.fixture
def record_with_two_files(collection):
    first = add_image(collection, "HP-7", encode(picture(7, size=(800, 600)), "PNG"), title="Quay at dusk",
                      creator="Harbour Board", credit_line="Gift of the Harbour Board")
    second = add_image(collection, "HP-7-verso", encode(picture(8, size=(600, 800)), "JPEG"))
    second.record = first.record
    second.save(update_fields=["record"])
    return first.record, [first, second]


def test_a_records_manifest_loads_back_with_one_canvas_per_file(client_for, record_with_two_files):
    record, images = record_with_two_files
    client = client_for("cataloguer")

    data, manifest = _load(client.get(reverse("iiif-manifest-record", args=[record.pk])))

    assert data["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert manifest.id == f"http://testserver/iiif/3/manifest/record/{record.pk}"
    assert manifest.label == {"none": ["Quay at dusk"]}
    assert data["requiredStatement"]["value"] == {"none": ["Gift of the Harbour Board"]}
    assert any(item["value"] == {"none": ["HP-7"]} for item in data["metadata"])
    assert [(c.width, c.height) for c in manifest.items] == [(800, 600), (600, 800)]
    bodies = _canvas_images(manifest)
    services = [body.service[0] for body in bodies]
    assert [s.id for s in services] == [f"http://testserver/iiif/3/{image.pk}" for image in images]
    assert {s.type for s in services} == {"ImageService3"}
    # The service a viewer opens from the manifest answers, with the canvas's size.
    info = json.loads(client.get(f"{services[1].id.replace('http://testserver', '')}/info.json").content)
    assert (info["width"], info["height"]) == (600, 800)


def test_loading_back_is_a_real_check(client_for, record_with_two_files):
    record, _images = record_with_two_files
    data, _manifest = _load(client_for("cataloguer").get(reverse("iiif-manifest-record", args=[record.pk])))

    data["items"][0]["width"] = "wide"  # what a broken manifest would carry

    with pytest.raises(ValidationError):
        Manifest(**data)


def test_a_groups_manifest_has_the_proposed_master_first(client_for, collection):
    group, _pairs = build_group(collection, members=3)

    data, manifest = _load(client_for("cataloguer").get(reverse("iiif-manifest-group", args=[group.pk])))

    members = list(group.members.order_by("pk"))
    assert len(manifest.items) == 3
    assert manifest.items[0].id.endswith(f"/canvas/{group.master_id}")
    assert {c.id.rsplit("/", 1)[1] for c in manifest.items} == {str(m.pk) for m in members}
    roles = [next(m["value"]["none"][0] for m in c["metadata"] if m["label"]["en"] == ["role in the group"])
             for c in data["items"]]
    assert roles == ["proposed master", "candidate copy", "candidate copy"]
    assert f"Candidate group {group.pk}" in data["label"]["none"][0]


def test_manifests_need_a_role(client_for, collection, record_with_two_files):
    record, _images = record_with_two_files
    group, _pairs = build_group(collection, members=2)
    client = client_for("outsider")

    assert client.get(reverse("iiif-manifest-record", args=[record.pk])).status_code == 403
    assert client.get(reverse("iiif-manifest-group", args=[group.pk])).status_code == 403


def test_a_hidden_collection_hides_its_manifests(client_for, personas, collection, record_with_two_files):
    record, _images = record_with_two_files
    insiders = Group.objects.create(name="Insiders")
    hidden = Collection.objects.create(name="Closed stacks")
    hidden.restricted_to.add(insiders)
    group, _pairs = build_group(collection, members=2)
    stranger = add_image(hidden, "CS-1", encode(picture(99).resize((300, 200)), quality=70))
    group.members.add(stranger)  # one member in a collection the cataloguer may not see
    collection.restricted_to.add(insiders)
    client = client_for("cataloguer")

    assert client.get(reverse("iiif-manifest-record", args=[record.pk])).status_code == 404
    assert client.get(reverse("iiif-manifest-group", args=[group.pk])).status_code == 404

    personas["cataloguer"].groups.add(insiders)
    client = client_for("cataloguer")
    assert client.get(reverse("iiif-manifest-record", args=[record.pk])).status_code == 200
    assert client.get(reverse("iiif-manifest-group", args=[group.pk])).status_code == 200


def test_a_group_with_one_hidden_member_is_not_shown(client_for, collection):
    insiders = Group.objects.create(name="Insiders")
    hidden = Collection.objects.create(name="Closed stacks")
    hidden.restricted_to.add(insiders)
    group, _pairs = build_group(collection, members=2)
    group.members.add(add_image(hidden, "CS-1", encode(picture(99).resize((300, 200)), quality=70)))

    response = client_for("cataloguer").get(reverse("iiif-manifest-group", args=[group.pk]))

    assert response.status_code == 404


def test_labels_are_in_the_readers_language_and_say_which(client_for, personas, collection):
    from catalogue.models import Profile

    group, _pairs = build_group(collection, members=2)
    Profile.objects.update_or_create(user=personas["cataloguer"], defaults={"language": "zh-hant"})
    client = client_for("cataloguer")
    client.cookies["django_language"] = "zh-hant"

    data, _manifest = _load(client.get(reverse("iiif-manifest-group", args=[group.pk])))

    labels = [m["label"] for m in data["items"][0]["metadata"]]
    assert all(set(label) == {"zh-Hant"} for label in labels), labels
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label["zh-Hant"][0]) for label in labels)


def test_the_record_page_links_its_manifest(client_for, record_with_two_files):
    record, _images = record_with_two_files

    page = client_for("cataloguer").get(reverse("catalogue-record", args=[record.pk])).content.decode()

    assert f'href="/iiif/3/manifest/record/{record.pk}" id="iiif-manifest"' in page
