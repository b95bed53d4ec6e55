"""IIIF Image API 3.0 and Presentation 3 endpoints. Each goes through the same checks as the original
file itself (catalogue.views.image_original): a signed-in user with a role (403 otherwise), and a
collection this user may see (404 otherwise)."""

import json
import logging

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from catalogue import access
from catalogue.files import serve_stored
from catalogue.models import CatalogueRecord, ImageFile
from catalogue.roles import VIEW, permission_required
from dedup.models import CandidateGroup

from . import image_api, manifests, tiles

log = logging.getLogger(__name__)

JSON_LD = "application/ld+json"
TILE_MAX_AGE = 7 * 24 * 3600  # keyed by the original's SHA-256: a tile never changes


def _get_image(request, pk):
    image = get_object_or_404(ImageFile.objects.select_related("fingerprint"), pk=pk)
    access.require(request.user, image.collection_id)
    return image


def _text(message, status, **headers):
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


def _json_ld(request, data, profile):
    """JSON-LD when the client asks for it (the spec's content negotiation), plain JSON otherwise."""
    wanted = JSON_LD in request.headers.get("Accept", "")
    content_type = f'{JSON_LD};profile="{profile}"' if wanted else "application/json"
    response = HttpResponse(json.dumps(data, ensure_ascii=False), content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    return response


def _problem(image, exc):
    """An answer that names the problem instead of a server error."""
    if isinstance(exc, tiles.Busy):
        return _text(
            _("The tiles of image %(pk)s are being made; try again in a few seconds.") % {"pk": image.pk},
            503,
            **{"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, FileNotFoundError):
        log.error("original missing from storage: %s", image.storage_key)
        return _text(
            _("The stored file %(key)s is missing from storage; an administrator must restore it.")
            % {"key": image.storage_key},
            404,
        )
    if exc.status == 422:
        log.warning("IIIF request for image %s: %s", image.pk, exc.message)
        return _text(
            _("The original of image %(pk)s (%(name)s) cannot be shown: %(reason)s")
            % {"pk": image.pk, "name": image.original_filename, "reason": exc.message},
            422,
        )
    return _text(exc.message, exc.status)


@permission_required(VIEW)
def image_base(request, pk):
    _get_image(request, pk)
    return redirect(reverse("iiif-info", args=[pk]), permanent=False)


@permission_required(VIEW)
def image_info(request, pk):
    image = _get_image(request, pk)
    width, height = tiles.upright_size(image, tiles.pyramid(image))
    base = request.build_absolute_uri(reverse("iiif-base", args=[pk]))
    return _json_ld(request, image_api.info(base, width, height), image_api.CONTEXT)


@permission_required(VIEW)
def image_request(request, pk, region, size, rotation, quality, fmt):
    image = _get_image(request, pk)
    try:
        key = tiles.tile(image, region, size, rotation, quality, fmt)
    except (image_api.IIIFError, tiles.Busy, FileNotFoundError) as exc:
        return _problem(image, exc)
    return serve_stored(key, "image/jpeg", max_age=TILE_MAX_AGE)


@permission_required(VIEW)
def record_manifest(request, pk):
    record = get_object_or_404(CatalogueRecord.objects.select_related("collection"), pk=pk)
    access.require(request.user, record.collection_id)
    manifest = manifests.record_manifest(record, request.build_absolute_uri)
    return _json_ld(request, json.loads(manifest.jsonld()), "http://iiif.io/api/presentation/3/context.json")


@permission_required(VIEW)
def group_manifest(request, pk):
    group = get_object_or_404(CandidateGroup.objects.select_related("master__record"), pk=pk)
    members = list(
        group.members.select_related("record", "collection", "fingerprint").order_by("pk")
    )
    # Like a pair, a group is shown only to whom every member's collection is visible.
    access.require(request.user, *{image.collection_id for image in members})
    members.sort(key=lambda image: image.pk != group.master_id)
    manifest = manifests.group_manifest(group, members, request.build_absolute_uri)
    return _json_ld(request, json.loads(manifest.jsonld()), "http://iiif.io/api/presentation/3/context.json")



