"""Serving stored files (originals, previews, thumbnails) to users a view has already authorised."""

import logging
import mimetypes
from urllib.parse import quote

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseNotFound
from django.utils.translation import gettext as _

from . import access

log = logging.getLogger(__name__)
_CONTENT_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "JPEG2000": "image/jp2", "TIFF": "image/tiff"}


def serve_stored(key, content_type, *, max_age, disposition=None):
    """The stored file as a private, cacheable response; a file missing from storage (lost volume,
    bucket restored from an older backup) is a clear 404 that names it, and an error in the log, not a
    server error."""
    try:
        handle = default_storage.open(key, "rb")
    except FileNotFoundError:
        log.error("stored file missing from storage: %s", key)
        return HttpResponseNotFound(
            _("The stored file %(key)s is missing from storage; an administrator must restore it.")
            % {"key": key},
            content_type="text/plain; charset=utf-8",
        )
    response = FileResponse(handle, content_type=content_type)
    if disposition:
        response["Content-Disposition"] = disposition
    # Keyed by content hash, so a private cache is safe; never a shared (public) one.
    response["Cache-Control"] = f"private, max-age={max_age}"
    return response


def original_response(user, image):
    """An original file for user (403 unless they may see its collection), as the page and the API
    serve it: its content type, its file name, private caching."""
    access.require(user, image.collection_id)
    content_type = _CONTENT_TYPES.get(image.format) or mimetypes.types_map.get(
        "." + image.format.lower(), "application/octet-stream"
    )
    return serve_stored(
        image.storage_key,
        content_type,
        max_age=3600,
        disposition=f"inline; filename*=UTF-8''{quote(image.original_filename)}",
    )
