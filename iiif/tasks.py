"""Tiling of large originals in the background (iiif.tiles.ensure_pyramid enqueues it on first view)."""

import logging

from celery import shared_task

from catalogue.models import ImageFile

from . import tiles
from .image_api import IIIFError

log = logging.getLogger(__name__)


# A 300-megapixel scan takes about half a minute (bench/tiles.py); the limit leaves room for a slow disc
# or bucket, and a worker killed half-way leaves the message for another one (the rerun skips what is
# stored).
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1800, time_limit=1900)
def make_tiles(image_id):
    image = ImageFile.objects.filter(pk=image_id).first()
    if image is None:
        return
    try:
        tiles.make_pyramid(image)
    except IIIFError as exc:
        # Nothing here would succeed on a retry: the tile requests say why instead of waiting.
        log.warning("cannot tile image %s: %s", image_id, exc.message)
        tiles.record_failure(image, exc.message)
    except FileNotFoundError as exc:
        log.error("cannot tile image %s: the original %s is missing from storage", image_id, exc)
