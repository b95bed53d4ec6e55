"""Background work of the catalogue: unpacking and importing a browser upload.

The upload request only stages the files in the default storage (so a worker on another machine reads
them: local disk, a shared volume or the S3 bucket alike) and creates an UploadJob; process_upload does
the rest and keeps the job's counts current, which the upload's page polls. A request therefore never
holds a web worker while a big archive inflates.
"""

import logging
import time
import zipfile

from celery import shared_task, signals
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError

from . import manifest as manifest_module
from .importing import REJECTED, Importer, import_zip, zip_member_count
from .models import ImportBatch, UploadJob

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0  # the job row is written at most this often while files go through
_TRANSIENT = (OSError, OperationalError, InterfaceError)
HARD_LIMIT = 3300  # seconds: process_upload's time limit, after which a running job counts as abandoned


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    # An upload is at most MASTERCOPY_MAX_UPLOAD_BYTES (4 GB) of archives, each measured before it is
    # inflated: 50 minutes are ample, and a hung decoder does not hold the worker for ever. The hard limit
    # stays under Redis's visibility timeout (1 h), so a redelivered message finds the job stale.
    soft_time_limit=HARD_LIMIT - 300,
    time_limit=HARD_LIMIT,
)
def process_upload(self, job_id):
    job = UploadJob.objects.filter(pk=job_id).first()
    if job is None or not job.claim(stale_after=HARD_LIMIT):
        return
    try:
        batch = _import(job)
    except manifest_module.ManifestError as exc:  # the view parsed it; only a changed file gets here
        job.fail(f"Manifest refused, nothing was imported: {exc}")
        return
    except _TRANSIENT as exc:
        # Storage or database hiccups are retried (a bad file never raises: the importer records it). A
        # rerun skips what the first try stored ("already imported"); the staged files stay until done.
        if self.request.retries >= self.max_retries:
            job.fail(f"storage or database unavailable, the upload stays staged: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(600, 10 * 2**self.request.retries))
    job.finish(batch)
    _unstage(job)
    log.info("upload %s: %s", job.pk, job)


@shared_task(ignore_result=True)
def resume_uploads():
    """Send every upload still waiting for a worker (its message was never published, the broker being
    away when the upload was made, or was lost with the broker); a duplicate message is harmless, as
    process_upload claims its job first. Each worker runs it when it starts."""
    waiting = list(UploadJob.objects.filter(status=UploadJob.Status.QUEUED).values_list("pk", flat=True))
    for job_id in waiting:
        process_upload.delay(job_id)
    return len(waiting)


@signals.worker_ready.connect
def _resume_on_start(sender, **kwargs):
    try:
        sender.app.send_task("catalogue.tasks.resume_uploads")
    except Exception as exc:  # noqa: BLE001 - the broker is away: the next worker start tries again
        log.warning("could not look for waiting uploads: %s", exc)


def _import(job):
    manifest = None
    if job.manifest_key:
        with default_storage.open(job.manifest_key, "rb") as handle:
            manifest = manifest_module.parse(handle.read(), job.manifest_encoding or None)
    progress = _Progress(job)
    importer = Importer(
        job.collection,
        source=ImportBatch.Source.UPLOAD,
        user=job.created_by,
        manifest=manifest,
        on_result=progress.result,
    )
    importer.batch.manifest_name = job.manifest_name
    for staged in job.files:
        with default_storage.open(staged["key"], "rb") as fileobj:
            if staged["name"].lower().endswith(".zip") or zipfile.is_zipfile(fileobj):
                progress.total += max(zip_member_count(fileobj) - 1, 0)
                import_zip(importer, fileobj, name=staged["name"])
            else:
                importer.add(staged["name"], fileobj)
    batch = importer.finish()
    progress.flush(importer.counts)
    return batch


class _Progress:
    """Counts results as the importer decides them and writes them to the job now and then."""

    def __init__(self, job):
        self.job, self.total, self.processed = job, len(job.files), 0
        self.counts = {"stored": 0, "skipped": 0, "rejected": 0}
        self.messages, self.written = [], 0.0

    def result(self, result):
        self.processed += 1
        self.counts[result.status] += 1
        if result.status == REJECTED and len(self.messages) < UploadJob.MAX_MESSAGES:
            self.messages.append(f"{result.path}: {result.message}")
        if time.monotonic() - self.written >= PROGRESS_SECONDS:
            self.flush(self.counts)

    def flush(self, counts):
        self.job.save_progress(counts, self.processed, self.total, self.messages)
        self.written = time.monotonic()


def _unstage(job):
    """The staged copies are only the upload in transit (what was imported is stored content-addressed)."""
    for key in [staged["key"] for staged in job.files] + [job.manifest_key]:
        if key:
            try:
                default_storage.delete(key)
            except OSError as exc:
                log.warning("could not remove the staged upload file %s: %s", key, exc)
