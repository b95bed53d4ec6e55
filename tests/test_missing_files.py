"""A stored file lost from storage (a volume lost, a bucket restored from an older backup) is a clear 404
naming it, on the page and through the API, never a server error."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from knox.models import AuthToken

from tests.test_review_corpus import build_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost(collection):
    (pair,) = build_corpus(collection, pairs=1)
    image = pair.image_a
    default_storage.delete(image.storage_key)
    default_storage.delete(image.fingerprint.preview_key)
    return image


def test_a_lost_original_is_a_404_that_names_it(client_for, lost):
    response = client_for("cataloguer").get(reverse("catalogue-image-original", args=[lost.pk]))

    assert response.status_code == 404
    assert (
        lost.storage_key in response.content.decode() and "missing from storage" in response.content.decode()
    )


def test_a_lost_preview_is_a_404_that_names_it(client_for, lost):
    response = client_for("cataloguer").get(reverse("review-image", args=[lost.pk, "preview"]))

    assert response.status_code == 404 and "missing from storage" in response.content.decode()
    # The other derivative, still stored, is served as before.
    assert (
        client_for("cataloguer").get(reverse("review-image", args=[lost.pk, "thumbnail"])).status_code == 200
    )


def test_the_api_download_says_the_same(client, personas, lost):
    _instance, token = AuthToken.objects.create(personas["cataloguer"])

    response = client.get(f"/api/images/{lost.pk}/original/", HTTP_AUTHORIZATION=f"Token {token}")

    assert response.status_code == 404 and "missing from storage" in response.content.decode()
