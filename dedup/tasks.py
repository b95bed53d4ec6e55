"""Background work: fingerprinting, then pair search, in batches. Tasks take primary keys and tolerate
rows that are gone; running one twice, or after it died half-way, ends in the same state."""

import logging

from celery import shared_task
from django.db import OperationalError, connection, transaction

from .fingerprinting import batches, ensure_fingerprints
from .models import Fingerprint
from .search import rebuild_groups, search_images
from .verification import unverified, verify_pairs

log = logging.getLogger(__name__)

_COMMON = {
    "bind": True,
    "acks_late": True,
    # A worker killed mid-batch leaves the message unacknowledged, so another worker redoes the batch;
    # the ensure_* work skips what was already done.
    "reject_on_worker_lost": True,
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(
    **_COMMON,
    autoretry_for=(OSError, OperationalError),  # storage or database hiccups; a corrupt file is not retried
    # 200 images of up to 300 MP each stay well under this; a hung decoder does not block a worker forever.
    soft_time_limit=1800,
    time_limit=1900,
)
def fingerprint_batch(self, image_ids):
    done, failed = ensure_fingerprints(image_ids)
    log.info("fingerprinted %d images, %d failed, of a batch of %d", done, failed, len(image_ids))
    ready = list(
        Fingerprint.objects.filter(image_id__in=image_ids, searched=False).values_list("image_id", flat=True)
    )
    if ready:
        transaction.on_commit(lambda: search_batch.delay(ready))


@shared_task(**_COMMON, autoretry_for=(OperationalError,), soft_time_limit=1800, time_limit=1900)
def search_batch(self, image_ids):
    added = search_images(image_ids)
    log.info("searched %d images: %d new candidate pairs", len(image_ids), added)
    pending = unverified(image_ids)
    for chunk in batches(pending, 50):
        transaction.on_commit(lambda chunk=chunk: verify_batch.delay(chunk))


@shared_task(**_COMMON, autoretry_for=(OSError, OperationalError), soft_time_limit=1800, time_limit=1900)
def verify_batch(self, pair_ids):
    """Verify pairs on the images, apply the tier rules (settling exact copies), then regroup."""
    verify_pairs(pair_ids)
    regroup()


def regroup():
    """Rebuild the candidate groups; one rebuild at a time across all workers."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mastercopy-regroup'))")
        rebuild_groups()


def enqueue_fingerprinting(image_ids):
    for chunk in batches(sorted(image_ids)):
        fingerprint_batch.delay(chunk)
