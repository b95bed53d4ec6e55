"""Background work: fingerprinting in batches. Tasks take primary keys and tolerate rows that are gone."""

import logging

from celery import shared_task

from .fingerprinting import batches, ensure_fingerprints

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    # A worker killed mid-batch leaves the message unacknowledged, so another worker redoes the batch;
    # ensure_fingerprints skips what was already done.
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),  # storage hiccups (S3 timeouts, NFS); a corrupt file is not an OSError here
    retry_backoff=True,
    max_retries=5,
    # 200 images of up to 300 MP each stay well under this; a hung decoder does not block a worker forever.
    soft_time_limit=1800,
    time_limit=1900,
)
def fingerprint_batch(self, image_ids):
    done, failed = ensure_fingerprints(image_ids)
    log.info("fingerprinted %d images, %d failed, of a batch of %d", done, failed, len(image_ids))


def enqueue_fingerprinting(image_ids):
    for chunk in batches(sorted(image_ids)):
        fingerprint_batch.delay(chunk)
