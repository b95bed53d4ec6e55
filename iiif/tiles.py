"""IIIF tiles of the originals, cached in the configured storage (local or S3) under keys derived from the
original's SHA-256: ``iiif/ab/cd/<sha256>/<x>,<y>,<w>,<h>/<out_w>,<out_h>.jpg`` and, written last, the
pyramid's description ``pyramid.json``. Byte-identical originals share their tiles; a rerun after a crash
writes only what is missing.

An image up to MASTERCOPY_IIIF_SYNC_PIXELS (50 MP) is tiled on its first view, inside that request; a
larger one by the Celery task iiif.tasks.make_tiles, and its tiles answer 503 with Retry-After until then.
bench/tiles.py (2 shared cores): a 6000x4000 JPEG tiles in 1.9 s (108 MB); a 20000x15000 (300 MP)
uncompressed TIFF in 8.4 s at 167 MB peak RSS, first tile written after 0.3 s, against Pillow doing the
same (load, crop, save, reduce) in 17.7 s at 2,312 MB, first tile after 8.5 s. One tile rendered on
demand from that TIFF: 1.8 s for the top level (the whole scan), 0.6 s at full resolution.

A request outside the pyramid (any other region or size) is rendered from the original and stored under
its own key.
"""

import contextlib
import json
import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from . import image_api
from .image_api import IIIFError, Request

log = logging.getLogger(__name__)

_UPLOAD_THREADS = 8  # S3 PUTs are latency-bound: a 300 MP pyramid is ~1,600 files
LOCK_SECONDS = 30 * 60


class Busy(Exception):
    """The pyramid is being made (by the task or another request): come back in retry_after seconds."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def prefix(sha):
    return f"iiif/{sha[:2]}/{sha[2:4]}/{sha}"


def tile_key(sha, req: Request):
    return f"{prefix(sha)}/{req.key}.jpg"


def pyramid_key(sha):
    return f"{prefix(sha)}/pyramid.json"


def failure_key(sha):
    return f"{prefix(sha)}/failed.txt"


def _lock_key(sha):
    return f"mastercopy-iiif-tiling:{sha}"


def pyramid(image):
    """The stored pyramid's description ({"width", "height", "tile"}), or None before it is made."""
    try:
        with default_storage.open(pyramid_key(image.sha256), "rb") as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return None


def upright_size(image, described=None):
    """Width and height of the upright picture: the pyramid's once made, else the stored size turned by
    the EXIF orientation the fingerprint read."""
    if described:
        return described["width"], described["height"]
    orientation = getattr(getattr(image, "fingerprint", None), "exif_orientation", 1) or 1
    if orientation in (5, 6, 7, 8):
        return image.height, image.width
    return image.width, image.height


def tiles_in_background(image):
    return image.width * image.height > settings.MASTERCOPY_IIIF_SYNC_PIXELS


@contextlib.contextmanager
def local_original(image):
    """A path libvips can read at random: the stored file itself on a local disc, else a temporary copy
    (S3), deleted afterwards. A missing original is FileNotFoundError."""
    key = image.storage_key
    if not default_storage.exists(key):
        raise FileNotFoundError(key)
    try:
        path = default_storage.path(key)
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="mastercopy-original-", suffix=".img") as copy:
        with default_storage.open(key, "rb") as stored:
            shutil.copyfileobj(stored, copy, length=4 * 1024 * 1024)
        copy.flush()
        yield copy.name


def _store(key, data):
    """Store data under key unless it is there (a concurrent maker wrote it first: one copy is kept)."""
    if default_storage.exists(key):
        return
    saved = default_storage.save(key, data if isinstance(data, File) else ContentFile(data))
    if saved != key:
        default_storage.delete(saved)


def _store_file(key, path):
    with open(path, "rb") as handle:
        _store(key, File(handle, name=key))


def make_pyramid(image):
    """Tile image into storage unless already done; returns the description. Idempotent."""
    described = pyramid(image)
    if described is not None:
        return described
    started = time.perf_counter()
    with local_original(image) as path, tempfile.TemporaryDirectory(prefix="mastercopy-tiles-") as work:
        made = image_api.make_pyramid(path, work)
        sha = image.sha256
        with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
            list(pool.map(lambda item: _store_file(f"{prefix(sha)}/{item[0]}.jpg", item[1]),
                          made["files"].items()))
    described = {"width": made["width"], "height": made["height"], "tile": made["tile"]}
    _store(pyramid_key(sha), json.dumps(described).encode())  # last: the pyramid is complete
    log.info("tiled image %s (%dx%d, %d files) in %.1f s", image.pk, made["width"], made["height"],
             len(made["files"]), time.perf_counter() - started)
    return described


def ensure_pyramid(image, *, wait_seconds=30):
    """The pyramid's description: made now for a small image (one request makes it, the others wait for
    it), enqueued for a large one. Raises Busy while it is being made elsewhere."""
    described = pyramid(image)
    if described is not None:
        return described
    if tiles_in_background(image):
        _raise_failure(image)
        if cache.add(_lock_key(image.sha256) + ":queued", 1, timeout=LOCK_SECONDS):
            from .tasks import make_tiles

            make_tiles.delay(image.pk)
        raise Busy(retry_after=10)
    if cache.add(_lock_key(image.sha256), 1, timeout=LOCK_SECONDS):
        try:
            return make_pyramid(image)
        finally:
            cache.delete(_lock_key(image.sha256))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        described = pyramid(image)
        if described is not None:
            return described
    raise Busy(retry_after=5)


def record_failure(image, message):
    """A background tiling that cannot succeed (a corrupt original): its tile requests say why."""
    _store(failure_key(image.sha256), message.encode())


def _raise_failure(image):
    try:
        with default_storage.open(failure_key(image.sha256), "rb") as handle:
            raise IIIFError(422, handle.read().decode())
    except FileNotFoundError:
        pass


def tile(image, region, size, rotation, quality, fmt):
    """The stored key of the tile the URL asks for, made if it is not stored yet. A stored tile costs one
    look-up (a HEAD on S3): the request is read against the catalogue's size first, and the pyramid's
    description only when the tile is missing."""
    width, height = upright_size(image)
    try:
        req = image_api.parse(region, size, rotation, quality, fmt, width, height)
    except IIIFError:
        req = None  # perhaps only against the catalogue's size: the pyramid's decides below
    key = tile_key(image.sha256, req) if req else None
    if key and default_storage.exists(key):
        return key
    described = pyramid(image)
    if req is None or (described is not None and upright_size(image, described) != (width, height)):
        width, height = upright_size(image, described)  # the catalogue's size was not the decoded one
        req = image_api.parse(region, size, rotation, quality, fmt, width, height)
        key = tile_key(image.sha256, req)
        if default_storage.exists(key):
            return key
    if described is None and image_api.in_pyramid(req, width, height):
        ensure_pyramid(image)
        if default_storage.exists(key):
            return key
    # Outside the pyramid: rendered from the original once, then kept like the tiles.
    with local_original(image) as path:
        if described is None:
            width, height = image_api.dimensions(path)
            req = image_api.parse(region, size, rotation, quality, fmt, width, height)
            key = tile_key(image.sha256, req)
        data = image_api.render(path, req, width, height)
    _store(key, data)
    return key


__all__ = ["Busy", "IIIFError", "ensure_pyramid", "make_pyramid", "pyramid", "tile", "upright_size"]
