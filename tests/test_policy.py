import pytest
from django.urls import reverse

from catalogue.models import PolicyChange
from dedup.policy import for_collection

FORM = {
    "auto_settle": "",
    "keep_best": "lossless, resolution, accession",
    "duplicate_relations": ["identical", "pixel-identical", "rotated"],
    "phash": "8",
    "orientation": "6",
    "border": "9",
    "crop": "5",
}


@pytest.mark.django_db
def test_an_administrator_changes_the_policy_and_the_change_is_recorded(client_for, collection):
    client = client_for("administrator")

    response = client.post(reverse("dedup-collection-policy", args=[collection.pk]), FORM)

    assert response.status_code == 302
    collection.refresh_from_db()
    policy = for_collection(collection)
    assert policy["auto_settle"] is False
    assert policy["keep_best"] == ["lossless", "resolution", "accession"]
    assert policy["thresholds"] == {"phash": 8, "orientation": 6, "border": 9, "crop": 5}
    change = PolicyChange.objects.get()
    assert change.actor.username == "administrator"
    assert change.before["auto_settle"] is True and change.after["auto_settle"] is False
    page = client.get(collection.get_absolute_url()).content.decode()
    assert "lossless → resolution → accession" in page


@pytest.mark.parametrize("persona", ["supervisor", "cataloguer"])
@pytest.mark.django_db
def test_supervisors_and_cataloguers_cannot_change_thresholds(client_for, collection, persona):
    response = client_for(persona).post(reverse("dedup-collection-policy", args=[collection.pk]), FORM)

    assert response.status_code == 403
    collection.refresh_from_db()
    assert collection.policy == {} and not PolicyChange.objects.exists()


@pytest.mark.django_db
def test_an_unknown_keep_best_criterion_changes_nothing(client_for, collection):
    client_for("administrator").post(
        reverse("dedup-collection-policy", args=[collection.pk]), {**FORM, "keep_best": "prettiest"}
    )

    collection.refresh_from_db()
    assert collection.policy == {}


@pytest.mark.django_db
def test_stored_policies_from_before_the_source_criterion_keep_working(collection):
    # The old default (stored by every save of the form) becomes today's default: source first.
    collection.policy = {
        "keep_best": ["resolution", "richness", "accession"],
        "duplicate_relations": ["resized"],
    }
    collection.save()
    policy = for_collection(collection)
    assert policy["keep_best"] == ["source", "quality", "resolution", "accession"]
    # A resize counted as the same record, so an upscale (a resize that adds no detail) does too.
    assert policy["duplicate_relations"] == ["resized", "upscaled"]

    # A rule an administrator chose is kept as it is; a name that is no criterion any more is dropped.
    collection.policy = {
        "keep_best": ["lossless", "prettiest", "accession"],
        "duplicate_relations": ["rotated"],
    }
    collection.save()
    policy = for_collection(collection)
    assert policy["keep_best"] == ["lossless", "accession"]
    assert policy["duplicate_relations"] == ["rotated"]
