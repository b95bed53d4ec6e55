"""Background work: fingerprinting, then pair search, then verification, in batches. Tasks take primary
keys and tolerate rows that are gone; running one twice, or after it died half-way, ends in the same state.

Work is never lost to a failure: the state of every image and pair is in the database (pending /
fingerprinted but not searched / not verified), and resume_pending() enqueues whatever waits there.
Each worker runs it when it starts and whenever it finds itself idle with the queue empty (see
mastercopy/celery.py), so a message lost to a broker restart, a publish that failed while the broker was
away, or a task that ran out of retries while the database was away is picked up again by itself.
"""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as BrokerError

from .events import pending_resumed
from .fingerprinting import batches, ensure_fingerprints, pending_ids
from .grouping import rebuild_groups, regroup_pairs
from .models import Fingerprint
from .search import search_images, shard_count, shard_queue, unsearched_ids
from .verification import retry_due, verify_batches, verify_pairs

log = logging.getLogger(__name__)

# The database went away (restart, failover, refused connections): worth retrying, the work is intact.
DATABASE_ERRORS = (OperationalError, InterfaceError)
VERIFY_BATCH = 50  # pairs per verification task: each pair decodes two images (exact copies: 1,000)

_COMMON = {
    "bind": True,
    "acks_late": True,
    # A worker killed mid-batch leaves the message unacknowledged, so another worker redoes the batch;
    # the ensure_* work skips what was already done.
    "reject_on_worker_lost": True,
    # Retries back off exponentially with full jitter (waits drawn up to 1, 2, 4 ... 512 s: at most ~17 min
    # in all), which rides out a database restart or failover; beyond that resume_pending() takes over.
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 10,
}


def publish_batches(task, ids, size=None, shard=None):
    """Enqueue the task for each batch of ids (for one index shard's queue, when one is named). If the
    broker stays unreachable through the publish retries (settings' CELERY_TASK_PUBLISH_RETRY_POLICY,
    ~10 s), log it and stop rather than wait that long for every batch: the work waits in the database,
    and resume_pending() enqueues it once the broker is back. Returns whether every batch was sent."""
    return publish_chunks(task, batches(ids, size), shard)


def publish_chunks(task, chunks, shard=None):
    """publish_batches for batches already cut (verification.verify_batches)."""
    for chunk in chunks:
        try:
            if shard is None:
                task.delay(chunk)
            else:
                task.apply_async((chunk, shard), queue=shard_queue(shard))
        except BrokerError as exc:
            log.warning("broker unreachable, %s not enqueued now (resume_pending will): %s", task.name, exc)
            return False
    return True


@shared_task(
    **_COMMON,
    autoretry_for=(OSError, *DATABASE_ERRORS),  # storage or database hiccups; a corrupt file is not retried
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
        transaction.on_commit(lambda: publish_search(ready))


def publish_search(image_ids):
    """Enqueue the search of these fingerprints: with a sharded index straight to every shard's queue,
    as resume_pending does (a dispatching task on the default queue would wait there behind verify
    batches: up to 10 minutes in bench/scale.py's 10k import), else as one task on the default queue.
    Returns whether every batch was sent."""
    shards = shard_count()
    if shards > 1:
        return all(publish_batches(search_batch, image_ids, shard=k) for k in range(shards))
    return publish_batches(search_batch, image_ids)


@shared_task(**_COMMON, autoretry_for=DATABASE_ERRORS, soft_time_limit=1800, time_limit=1900)
def search_batch(self, image_ids, shard=None):
    """Search a batch against this process's long-lived index (dedup.search). Sharded
    (MASTERCOPY_INDEX_SHARDS > 1): publish_search sends one task per shard to that shard's queue (a task
    without a shard is passed on the same way); each searches the batch against its shard, and whichever
    finds the batch searched by all enqueues verification."""
    shards = shard_count()
    if shard is None and shards > 1:  # a batch sent before the index was sharded, or by hand
        publish_search(image_ids)
        return
    search_images(image_ids, shard or 0, shards)  # it logs its own time and count
    done = Fingerprint.objects.filter(image_id__in=image_ids, searched=True)
    pending = verify_batches(VERIFY_BATCH, list(done.values_list("image_id", flat=True)))
    transaction.on_commit(lambda: publish_chunks(verify_batch, pending))


@shared_task(**_COMMON, autoretry_for=(OSError, *DATABASE_ERRORS), soft_time_limit=1800, time_limit=1900)
def verify_batch(self, pair_ids):
    """Verify pairs on the images, apply the tier rules (settling exact copies), then regroup.

    A pair whose original is missing is noted and left for resume_pending (not retried with the batch,
    so it holds nothing back); storage down for the whole batch raises StorageUnavailable (an OSError),
    and the batch is retried."""
    noted = verify_pairs(pair_ids)
    if noted:
        log.warning("%d of %d pairs wait for an original storage could not open", noted, len(pair_ids))
    started = time.perf_counter()
    regroup_pairs(pair_ids)  # only the components these pairs touch (dedup.grouping)
    seconds = time.perf_counter() - started
    log.info("regrouped after a verify batch of %d pairs in %.3f s", len(pair_ids), seconds)


@shared_task(**_COMMON, autoretry_for=DATABASE_ERRORS, soft_time_limit=1800, time_limit=1900)
def regroup_batch(self, pair_ids):
    """Regroup the components of these pairs after a decision changed which record is master (review
    sends it after the decision commits: a request never pays for a large component's regroup)."""
    regroup_pairs(pair_ids)


def regroup():
    """Recompute every candidate group (the repair step; verify_batch regroups only what it touched)."""
    return rebuild_groups()


def enqueue_fingerprinting(image_ids):
    publish_batches(fingerprint_batch, sorted(image_ids))


@shared_task(**_COMMON, autoretry_for=DATABASE_ERRORS, soft_time_limit=300, time_limit=360)
def resume_pending(self):
    """Enqueue every piece of work the database says is waiting: images not fingerprinted, fingerprints
    not searched, pairs not verified. Idempotent: a batch enqueued twice is done once, because each task
    skips what is already done (and row locks keep two workers from writing the same row)."""
    counts = {}
    images = pending_ids()
    publish_batches(fingerprint_batch, images)
    counts["images to fingerprint"] = len(images)
    waiting = verify_batches(VERIFY_BATCH)
    publish_chunks(verify_batch, waiting)
    counts["pairs to verify"] = sum(len(chunk) for chunk in waiting)
    shards = shard_count()
    counts["images to search"] = 0
    for k in range(shards) if shards > 1 else [None]:
        ids = unsearched_ids(shard=k)
        publish_batches(search_batch, ids, shard=k)
        counts["images to search"] += len(ids)
    # Pairs noted with an original storage could not open, once their wait is over: in batches of their
    # own, so a file still missing never holds back fresh pairs.
    retries = retry_due()
    publish_batches(verify_batch, retries, VERIFY_BATCH)
    counts["pairs to verify"] += len(retries)
    pending_resumed.send(sender=resume_pending)  # the review app repairs its queue
    if any(counts.values()):
        log.info("resumed pending work: %s", ", ".join(f"{n} {name}" for name, n in counts.items()))
    return counts
