"""Fingerprinting stored images: the work the Celery tasks and find_duplicates both run.

ensure_fingerprints() computes only what is missing, so a task that runs twice, or dies half-way and
is redelivered, ends in the same state: one Fingerprint per image, derivatives under keys derived
from the original's SHA-256 (a rerun overwrites nothing and leaves no orphan files).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from catalogue import counts as collection_counts
from catalogue.models import ImageFile

from .models import Fingerprint, next_seq, pack_codes, to_db
from .signals import ImageDecodeError, compute_signals

log = logging.getLogger(__name__)


def pending_ids(collection=None):
    images = ImageFile.objects.filter(state=ImageFile.State.PENDING)
    if collection is not None:
        images = images.filter(collection=collection)
    return list(images.order_by("pk").values_list("pk", flat=True))


def batches(ids, size=None):
    size = size or settings.MASTERCOPY_BATCH_SIZE
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# Fingerprints computed in a row are written together, in one transaction (a lock, one seq query, one insert
# and one update for all), not one transaction each: the writes cost ~6 ms an image on SQLite, a third of
# that when batched, and a worker holds the seq lock (next_seq) 1/WRITE_BATCH as often. A worker that
# dies loses at most the batch it had not written: those images are still pending, and computed again.
WRITE_BATCH = 10


def ensure_fingerprints(image_ids, on_progress=None):
    """Fingerprint those of image_ids that still wait; returns (done, failed) counts for this call.

    A storage error on one image (a missing or unreadable original) does not hold up the rest of the
    batch: it is noted on the image, which stays pending, and raised once the others are done, so the
    task's retry (and later resume_pending) comes back for that image alone.
    """
    done = failed = 0
    storage_error = None
    computed = []
    images = ImageFile.objects.filter(pk__in=image_ids, state=ImageFile.State.PENDING).order_by("pk")
    for image in images:
        try:
            fields = _compute(image)
        except OSError as exc:
            storage_error = storage_error or exc
            log.warning("storage error for image %s (%s): %s", image.pk, image.source_path, exc)
            ImageFile.objects.filter(pk=image.pk, state=ImageFile.State.PENDING).update(
                last_error=f"storage error, will be retried: {exc}"[:2000]
            )
            continue
        if fields is None:
            failed += 1
            if on_progress:
                on_progress()
            continue
        computed.append((image, fields))
        if len(computed) >= WRITE_BATCH:
            done += _write(computed, on_progress)
            computed = []
    if computed:
        done += _write(computed, on_progress)
    if storage_error is not None:
        raise storage_error
    return done, failed


def fingerprint_image(image):
    """Compute and save one image's fingerprint; False when the file itself is bad (marked failed).

    Storage errors (OSError) propagate: they are transient, and the task retries the batch.
    """
    fields = _compute(image)
    if fields is None:
        return False
    _write([(image, fields)])
    return True


def _compute(image):
    """The Fingerprint fields of one image, its derivatives stored; None when the file is bad (marked
    failed). Storage errors (OSError) propagate."""
    started = time.perf_counter()
    # The stored file is handed over as it is (seekable, local or S3): reading a 300 MB scan into memory
    # first would defeat the decoder's bounded, chunked reading.
    with default_storage.open(image.storage_key, "rb") as stored:
        try:
            signals, preview, thumbnail = compute_signals(
                stored, max_decode_bytes=settings.MASTERCOPY_DECODE_MAX_BYTES
            )
        except ImageDecodeError as exc:
            _mark_failed(image, str(exc))
            return None
        except MemoryError:
            _mark_failed(image, "the image is too large to decode with the memory available")
            return None
    keys = _save_derivatives(image.sha256, preview, thumbnail)
    return _fields(signals, keys, time.perf_counter() - started)


def _write(computed, on_progress=None):
    """Save the computed fingerprints of images still pending, in one transaction; returns how many were
    handed in (an image another worker finished first counts as done, as before)."""
    with transaction.atomic():
        pks = [image.pk for image, _ in computed]
        pending = set(
            ImageFile.objects.select_for_update()
            .filter(pk__in=pks, state=ImageFile.State.PENDING)
            .values_list("pk", flat=True)
        )
        todo = [(image, fields) for image, fields in computed if image.pk in pending]
        if todo:
            existing = set(
                Fingerprint.objects.filter(image_id__in=pending).values_list("image_id", flat=True)
            )
            # Last before the commit: the lock next_seq() takes is held until then.
            seq = next_seq()
            new = []
            for n, (image, fields) in enumerate(todo):
                fields = {**fields, "seq": seq + n, "searched": False, "shards_searched": 0}
                if image.pk in existing:
                    Fingerprint.objects.filter(image_id=image.pk).update(**fields)
                else:
                    new.append(Fingerprint(image_id=image.pk, **fields))
            Fingerprint.objects.bulk_create(new)
            ImageFile.objects.filter(pk__in=[image.pk for image, _ in todo]).update(
                state=ImageFile.State.READY, last_error=""
            )
    if on_progress:
        for _ in computed:
            on_progress()
    return len(computed)


def _mark_failed(image, message):
    log.warning("fingerprint failed for image %s (%s): %s", image.pk, image.source_path, message)
    ImageFile.objects.filter(pk=image.pk, state=ImageFile.State.PENDING).update(
        state=ImageFile.State.FAILED, last_error=message[:2000]
    )


def derivative_key(sha, kind):
    return f"derivatives/{sha[:2]}/{sha[2:4]}/{sha}/{kind}.jpg"


def _save_derivatives(sha, preview, thumbnail):
    keys = {}
    for kind, data in (("preview", preview), ("thumbnail", thumbnail)):
        if data is None:
            keys[kind] = ""
            continue
        key = derivative_key(sha, kind)
        if not default_storage.exists(key):
            saved = default_storage.save(key, ContentFile(data))
            if saved != key:  # a concurrent worker wrote the same derivative: keep one copy
                default_storage.delete(saved)
        keys[kind] = key
    return keys


def _fields(s, keys, seconds):
    return {
        "phash": to_db(s.phash),
        "dhash": to_db(s.dhash),
        "colorhash": s.colorhash or "",
        "primary_codes": pack_codes([s.phash] + ([] if s.trimmed_phash is None else [s.trimmed_phash])),
        "variant_codes": pack_codes(list(s.orient_phashes[1:]) + list(s.crop_hashes)),
        "trimmed_phash": to_db(s.trimmed_phash),
        "trim_box": list(s.trim_box) if s.trim_box else None,
        "pixel_digest": s.pixel_digest or "",
        "width": s.width,
        "height": s.height,
        "bit_depth": s.bit_depth,
        "dpi": list(s.dpi) if s.dpi else None,
        "exif_datetime": (s.exif_datetime or "")[:40],
        "camera": (s.camera or "")[:200],
        "exif_orientation": s.exif_orientation or 1,
        "frames": s.frames or 1,
        "notes": list(s.notes),
        "quality": dict(s.quality),
        "preview_key": keys["preview"],
        "thumbnail_key": keys["thumbnail"],
        "seconds": seconds,
    }


def progress(collection, window_seconds=120):
    """Done / total / failed, images per second over the last window, and the ETA in seconds."""
    # The counters the database keeps per collection, not a count over its million images.
    counts = collection_counts.of(collection)
    total, done, failed = counts.images, counts.images_ready, counts.images_failed
    pending = counts.images_pending
    since = timezone.now() - timedelta(seconds=window_seconds)
    recent = Fingerprint.objects.filter(image__collection=collection, computed_at__gte=since).aggregate(
        n=Count("pk"), first=Min("computed_at")
    )
    elapsed = (timezone.now() - recent["first"]).total_seconds() if recent["first"] else 0
    rate = recent["n"] / max(elapsed, 1.0) if recent["n"] > 1 else 0.0
    return {
        "total": total,
        "done": done,
        "failed": failed,
        "pending": pending,
        "percent": round(100 * (done + failed) / total) if total else 100,
        "rate": round(rate, 1),
        "eta_seconds": round(pending / rate) if rate and pending else None,
    }
