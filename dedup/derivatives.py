"""Serving an image's derivatives (the preview and the thumbnail made at fingerprinting), as the pages
and the API do alike."""

from django.http import Http404
from django.shortcuts import get_object_or_404

from catalogue import access
from catalogue.files import serve_stored

from .models import Fingerprint

SIZES = ("preview", "thumbnail")


def derivative_response(user, image_pk, size):
    """The image's preview or thumbnail for user (403 unless they may see its collection, 404 when it
    has none yet); originals never go through here."""
    fingerprint = get_object_or_404(
        Fingerprint.objects.only("preview_key", "thumbnail_key", "image__collection_id").select_related(
            "image"
        ),
        image_id=image_pk,
    )
    access.require(user, fingerprint.image.collection_id)
    key = fingerprint.preview_key if size == "preview" else fingerprint.thumbnail_key
    if not key or size not in SIZES:
        raise Http404
    return serve_stored(key, "image/jpeg", max_age=86400)
