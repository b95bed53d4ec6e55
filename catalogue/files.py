"""Serving stored files (originals, previews, thumbnails) to users a view has already authorised."""

import logging

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseNotFound
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


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
