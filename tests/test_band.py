"""Band decisions through HTTP: a supervisor chooses a collection, a relation and a score band, sees the
open pairs, the estimated precision of the suggested master with its 95% interval and a sample; accepting
the suggested master for all of them is one batch, refused below the collection's level, a proposal
under two-person rules, and reverted as one, exactly."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

FORM = {
    "auto_settle": "on",
    "keep_best": "resolution, richness, accession",
    "duplicate_relations": ["identical", "resized", "recompressed"],
    "phash": 10,
    "orientation": 8,
    "border": 10,
    "crop": 8,
}


# --- the policy --------------------------------------------------------------------------------------


def test_the_level_defaults_to_099_and_an_administrator_sets_it_on_the_policy(client_for, collection):
    client = client_for("administrator")
    assert 'id="band-precision">0.99<' in client.get(collection.get_absolute_url()).content.decode()

    client.post(reverse("dedup-collection-policy", args=[collection.pk]), {**FORM, "band_precision": 0.995})

    collection.refresh_from_db()
    assert collection.policy["band_precision"] == 0.995
    assert 'id="band-precision">0.995<' in client.get(collection.get_absolute_url()).content.decode()


def test_a_level_out_of_range_is_refused_with_the_reason(client_for, collection):
    client = client_for("administrator")

    response = client.post(
        reverse("dedup-collection-policy", args=[collection.pk]), {**FORM, "band_precision": 1.5}, follow=True
    )

    collection.refresh_from_db()
    assert "band_precision" not in (collection.policy or {})
    assert "The policy was not changed" in response.content.decode()
    assert "less than or equal to 1" in response.content.decode()
