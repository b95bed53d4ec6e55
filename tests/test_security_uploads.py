"""Hostile uploads (issue 14, findings 7 and 12): decompression bombs in zip archives, an upload that would
hold a web worker for minutes, and images whose pixels would take the fingerprinting worker's memory.

Each test says what it attacks. The bombs are built small: zip members of zeros (a high ratio in little
space), and a single-colour PNG whose 400 megapixels compress to 1.6 MB.
"""

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalogue.models import CatalogueRecord, ImageFile, ImportBatch, UploadJob
from dedup import signals
from tests.conftest import REPO, jpeg_bytes, png_bytes


def upload(name, data):
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def zip_bytes(members, method=zipfile.ZIP_DEFLATED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def solid_png(path, width, height, color=(10, 120, 200, 128)):
    """A PNG of one colour, of any size, written in little memory: after the first row every row is the
    PNG 'Up' filter of zeros; a block of such rows is compressed once and repeated (each block ends with a
    zlib full flush, so its compressed bytes do not depend on what came before)."""
    bands, up_rows = len(color), 64
    first = b"\x00" + bytes(color) * width
    block = (b"\x02" + bytes(width * bands)) * up_rows
    full, rest = divmod(height - 1, up_rows)

    def deflated(data):
        z = zlib.compressobj(9)
        return z.compress(data) + z.flush(zlib.Z_FULL_FLUSH)

    adler = zlib.adler32(first)
    for _ in range(full):
        adler = zlib.adler32(block, adler)
    tail = block[: rest * (len(block) // up_rows)]
    adler = zlib.adler32(tail, adler)
    idats = [deflated(first), *[deflated(block)[2:]] * full, deflated(tail)[2:] if rest else b""]
    idats.append(b"\x03\x00" + struct.pack(">I", adler))  # an empty final block, then the checksum

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if bands == 4 else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header))
        for data in idats:
            if data:
                f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IEND", b""))


@pytest.fixture
def admin(client_for):
    return client_for("administrator")


@pytest.fixture
def send(admin, collection, django_capture_on_commit_callbacks):
    """Upload files through the page and let the background import run (eagerly, once committed)."""

    def post(*files):
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(reverse("catalogue-upload", args=[collection.pk]), {"files": list(files)})
        assert response.status_code == 302
        return UploadJob.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])

    return post


@pytest.fixture
def stored_before(send):
    """An image already in the collection, which a refused upload must leave exactly as it is."""
    job = send(upload("earlier.jpg", jpeg_bytes(color=(5, 90, 40))))
    image = ImageFile.objects.get(source_path="earlier.jpg")
    with default_storage.open(image.storage_key, "rb") as handle:
        content = handle.read()
    assert job.stored == 1
    return image, content


@pytest.fixture
def no_extraction(monkeypatch):
    """The names of the zip members opened for reading (extracted)."""
    opened = []
    original = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":  # writing the test's own archives opens members too
            opened.append(getattr(name, "filename", name))
        return original(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return opened


def assert_intact(stored_before):
    image, content = stored_before
    image.refresh_from_db()
    assert ImageFile.objects.filter(pk=image.pk, record__catalogue_number="earlier.jpg").exists()
    with default_storage.open(image.storage_key, "rb") as handle:
        assert handle.read() == content


def archive_result(job, name):
    return next(r for r in job.batch.results if r["path"] == name)


@pytest.mark.django_db
def test_a_zip_bomb_by_ratio_is_refused_before_extraction_and_nothing_stored_is_lost(
    send, stored_before, no_extraction, admin
):
    """Attacks with a zip whose member inflates 1000-fold (40 MB of zeros in ~40 KB), beside a good image:
    the archive is refused whole from its central directory, nothing is extracted, the earlier image stays."""
    bomb = zip_bytes({"good.jpg": jpeg_bytes(), "scan.tif": bytes(40 * 1024 * 1024)})
    assert len(bomb) < 100_000

    job = send(upload("bomb.zip", bomb))

    job.refresh_from_db()
    message = archive_result(job, "bomb.zip")["message"]
    assert "MASTERCOPY_ZIP_MAX_RATIO" in message and "refused before extraction" in message
    assert (job.status, job.stored, job.rejected) == (UploadJob.Status.DONE, 0, 1)
    assert no_extraction == []
    assert not ImageFile.objects.filter(source_path__in=["good.jpg", "scan.tif"]).exists()
    assert_intact(stored_before)
    assert "MASTERCOPY_ZIP_MAX_RATIO" in admin.get(job.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_a_zip_bomb_by_total_size_is_refused_before_extraction(send, stored_before, no_extraction, settings):
    """Attacks with an archive that expands past the total limit though each member is small and barely
    compressed (ratio ~1, so only the total catches it)."""
    settings.MASTERCOPY_ZIP_MAX_TOTAL_BYTES = 1_000_000
    members = {f"roll/{n}.jpg": jpeg_bytes(size=(400, 400), color=(n, 0, 0)) for n in range(40)}
    archive = zip_bytes(members, zipfile.ZIP_STORED)
    assert sum(len(data) for data in members.values()) > 1_000_000

    job = send(upload("roll.zip", archive))

    message = archive_result(job, "roll.zip")["message"]
    assert "MASTERCOPY_ZIP_MAX_TOTAL_BYTES" in message and "refused before extraction" in message
    assert no_extraction == [] and job.stored == 0
    assert not ImageFile.objects.filter(source_path__startswith="roll/").exists()
    assert_intact(stored_before)


@pytest.mark.django_db
def test_a_zip_bomb_by_member_count_is_refused_before_extraction(
    send, stored_before, no_extraction, settings
):
    """Attacks with more members than allowed (a million tiny entries would be a million imports)."""
    settings.MASTERCOPY_ZIP_MAX_MEMBERS = 5
    archive = zip_bytes({f"{n}.jpg": jpeg_bytes(size=(8, 8), color=(n, n, n)) for n in range(6)})

    job = send(upload("many.zip", archive))

    message = archive_result(job, "many.zip")["message"]
    assert "6 files" in message and "MASTERCOPY_ZIP_MAX_MEMBERS" in message
    assert no_extraction == [] and job.stored == 0
    assert ImageFile.objects.count() == 1
    assert_intact(stored_before)


@pytest.mark.django_db
def test_one_inflating_member_is_refused_alone_and_the_rest_of_the_archive_imports(send, no_extraction):
    """Attacks with one bomb member (40 MB of zeros) diluted among incompressible ones, so the archive as a
    whole expands only ~9 times: that member is refused by its own ratio without being inflated, and
    neither it nor a junk member stops the good images."""
    good = {f"{n}.jpg": jpeg_bytes(color=(n, 9, 9)) for n in range(3)}
    archive = zip_bytes(
        {**good, "zeros.jpg": bytes(40 * 1024 * 1024), "noise.jpg": os.urandom(5_000_000), "junk.jpg": b"x"}
    )

    job = send(upload("mixed.zip", archive))

    results = {r["path"]: r for r in job.batch.results}
    assert results["zeros.jpg"]["status"] == "rejected"
    assert "zip member expands" in results["zeros.jpg"]["message"]
    assert "MASTERCOPY_ZIP_MAX_RATIO" in results["zeros.jpg"]["message"]
    assert "zeros.jpg" not in no_extraction
    assert results["junk.jpg"]["status"] == "rejected" and "not an image" in results["junk.jpg"]["message"]
    assert sorted(ImageFile.objects.values_list("source_path", flat=True)) == ["0.jpg", "1.jpg", "2.jpg"]
    assert (job.stored, job.rejected) == (3, 3)


@pytest.mark.django_db
def test_the_upload_runs_in_the_background_and_its_page_shows_progress(
    admin, collection, django_capture_on_commit_callbacks, monkeypatch
):
    """Attacks the web worker's time: the request must only stage the files (in the storage every worker
    reads) and queue the import; the page then shows the worker's counts as they change, and a bad file
    is listed with its reason without stopping the others."""
    from catalogue import tasks

    files = [
        upload("a.jpg", jpeg_bytes(color=(1, 2, 3))),
        upload("broken.jpg", b"\xff\xd8\xff garbage"),
        upload("c.zip", zip_bytes({"c1.png": png_bytes(color=(7, 7, 7)), "c2.jpg": jpeg_bytes()})),
    ]
    with django_capture_on_commit_callbacks() as queued:
        response = admin.post(reverse("catalogue-upload", args=[collection.pk]), {"files": files})

    job = UploadJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert not ImageFile.objects.exists() and not ImportBatch.objects.exists()
    assert all(default_storage.exists(staged["key"]) for staged in job.files)
    page = admin.get(job.get_absolute_url()).content.decode()
    assert "waiting for a worker" in page and "0 of 3 files checked" in page and 'data-finished="0"' in page
    assert "js/upload_job.js" in page and "<script>" not in page  # the strict CSP: no inline script

    seen = []
    monkeypatch.setattr(tasks, "PROGRESS_SECONDS", 0)
    save_progress = UploadJob.save_progress

    def watch(self, *args):
        save_progress(self, *args)
        partial = admin.get(reverse("catalogue-upload-job-progress", args=[self.pk])).content.decode()
        seen.append(partial.split('class="summary">')[1].split(":")[0])

    monkeypatch.setattr(UploadJob, "save_progress", watch)
    for callback in queued:
        callback()

    assert seen[:3] == ["1 of 3 files checked", "2 of 3 files checked", "3 of 4 files checked"]
    job.refresh_from_db()
    page = admin.get(reverse("catalogue-upload-job-progress", args=[job.pk])).content.decode()
    assert 'data-finished="1"' in page and "3 stored, 0 skipped, 1 rejected" in page
    assert "broken.jpg:" in page and job.batch.get_absolute_url() in page
    assert sorted(ImageFile.objects.values_list("source_path", flat=True)) == ["a.jpg", "c1.png", "c2.jpg"]
    assert not any(default_storage.exists(staged["key"]) for staged in job.files)


@pytest.mark.django_db
def test_an_outsider_cannot_watch_an_upload(collection, client, personas):
    """Attacks the upload's page by id: an outsider (no role) and a cataloguer (no import right) get no
    counts or file names."""
    job = UploadJob.objects.create(collection=collection, created_by=personas["administrator"])

    for persona in ("outsider", "cataloguer"):
        client.force_login(personas[persona])
        for name in ("catalogue-upload-job", "catalogue-upload-job-progress"):
            assert client.get(reverse(name, args=[job.pk])).status_code in (302, 403)
    client.force_login(personas["administrator"])
    assert client.get(reverse("catalogue-upload-job", args=[job.pk])).status_code == 200


@pytest.mark.django_db
def test_a_duplicate_message_never_imports_an_upload_twice_and_an_abandoned_one_is_taken_again(
    admin, collection, django_capture_on_commit_callbacks
):
    """Attacks the queue's at-least-once delivery: a second message for a job another worker is running
    does nothing; a job whose worker died (running past the task's time limit) is imported again; an
    upload whose message never reached the broker is sent again when a worker starts."""
    from datetime import timedelta

    from django.utils import timezone

    from catalogue import tasks

    def upload_lost(name):
        with django_capture_on_commit_callbacks():  # committed, but its message never reaches a worker
            files = [upload(name, jpeg_bytes(color=(len(name), 0, 0)))]
            admin.post(reverse("catalogue-upload", args=[collection.pk]), {"files": files})
        return UploadJob.objects.latest("pk")

    job = upload_lost("a.jpg")
    UploadJob.objects.filter(pk=job.pk).update(status=UploadJob.Status.RUNNING, started_at=timezone.now())
    tasks.process_upload.delay(job.pk)  # a duplicate, while "another worker" runs the job
    assert not ImageFile.objects.exists() and UploadJob.objects.get().status == UploadJob.Status.RUNNING

    long_ago = timezone.now() - timedelta(seconds=tasks.HARD_LIMIT + 1)
    UploadJob.objects.filter(pk=job.pk).update(started_at=long_ago)
    tasks.process_upload.delay(job.pk)  # redelivered after its worker died
    job.refresh_from_db()
    assert (job.status, job.stored) == (UploadJob.Status.DONE, 1)

    waiting = upload_lost("b.jpg")
    assert tasks.resume_uploads.delay().get() == 1  # as every worker does when it starts
    waiting.refresh_from_db()
    assert (waiting.status, waiting.stored) == (UploadJob.Status.DONE, 1)
    assert ImageFile.objects.count() == 2 and tasks.resume_uploads.delay().get() == 0


_PEAK = """
import sys
sys.path.insert(0, {repo!r})
from dedup import signals
try:
    with open(sys.argv[1], "rb") as f:
        sig, preview, thumb = signals.compute_signals(f)
    print("notes", sig.notes, sig.width, sig.height, len(preview))
except signals.ImageDecodeError as exc:
    print("refused", exc)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak_kb", hwm)
"""


def test_a_huge_pixel_png_is_fingerprinted_without_blowing_memory(tmp_path):
    """Attacks the worker with a 400-megapixel RGBA PNG of 1.6 MB (finding 12: 3.5 GB RSS): it is shrunk
    while it is read, so the decode stays far below the full 1.6 GB of pixels, and the note says what
    was done to it."""
    path = tmp_path / "bomb.png"
    solid_png(path, 20_000, 20_000)
    assert path.stat().st_size < 2_000_000

    out = subprocess.run(
        [sys.executable, "-c", _PEAK.format(repo=str(REPO)), str(path)],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    peak_mb = int(out.split("peak_kb")[1]) / 1024

    assert "notes ['alpha composited on white'] 20000 20000" in out
    assert peak_mb < 600, out


@pytest.mark.django_db
def test_an_image_that_must_decode_whole_above_the_ceiling_is_refused_with_the_reason(settings, collection):
    """Attacks with a huge palette GIF (decoded whole by every library) under a low decode ceiling: the
    fingerprint task marks it failed, naming the ceiling's setting, instead of allocating the memory."""
    from catalogue.importing import Importer
    from dedup.fingerprinting import ensure_fingerprints

    settings.MASTERCOPY_DECODE_MAX_BYTES = 16 * 1024 * 1024
    gif = io.BytesIO()
    Image.new("P", (7000, 6000), 3).save(gif, "GIF")
    importer = Importer(collection, source=ImportBatch.Source.UPLOAD)
    image_id = importer.add("huge.gif", gif).image_id

    ensure_fingerprints([image_id])

    image = ImageFile.objects.get(pk=image_id)
    assert image.state == ImageFile.State.FAILED
    assert "MASTERCOPY_DECODE_MAX_BYTES" in image.last_error and "must be decoded whole" in image.last_error
    assert CatalogueRecord.objects.filter(pk=image.record_id).exists()  # refused to fingerprint, still kept


def _digest(data):
    return signals.pixel_digest(io.BytesIO(data))


@pytest.mark.parametrize(
    "mode,fmt,options",
    [
        ("RGB", "PNG", {}),
        ("RGBA", "PNG", {}),
        ("L", "PNG", {}),
        ("I;16", "PNG", {}),
        ("P", "PNG", {"transparency": 3}),
        ("RGB", "TIFF", {"compression": "tiff_lzw"}),
        ("LA", "PNG", {}),
        ("RGB", "JPEG", {"quality": 90}),
    ],
)
def test_the_streamed_pixel_digest_is_the_same_as_the_whole_decode(monkeypatch, mode, fmt, options):
    """Attacks the exact-copy rule: a huge image's digest is streamed through libvips; it must be the very
    digest a whole decode gives, or two exact copies (one huge) would stop being recognised."""
    pixels = Image.effect_noise((61, 47), 80).convert("RGB")
    image = {"P": pixels.quantize(32), "I;16": pixels.convert("I").point(lambda v: v * 250)}.get(
        mode, pixels.convert(mode)
    )
    if mode == "I;16":
        image = image.convert("I;16")
    out = io.BytesIO()
    image.save(out, fmt, **options)
    whole = _digest(out.getvalue())

    monkeypatch.setattr(signals, "REDUCE_ABOVE_PIXELS", 0)  # every image takes the huge-image path
    streamed = signals._vips_digest(io.BytesIO(out.getvalue()), signals._open(io.BytesIO(out.getvalue())),
                                    signals._canonical_mode_name(signals._open(io.BytesIO(out.getvalue()))))

    assert streamed == whole == _digest(out.getvalue())


def test_a_huge_image_shrunk_while_streamed_hashes_like_its_ordinary_copy(tmp_path):
    """Attacks the dedup itself: shrinking on load must not make a huge scan unrecognisable next to an
    ordinary-size copy of it (the pHash of the two stays within a few bits)."""
    base = Image.radial_gradient("L").resize((900, 675)).convert("RGB")
    base.paste((200, 40, 40), (100, 100, 400, 300))
    base.paste((20, 40, 200), (500, 350, 800, 600))
    huge = base.resize((8000, 6000), Image.Resampling.BILINEAR)  # 48 MP: above REDUCE_ABOVE_PIXELS
    huge.save(tmp_path / "huge.png", compress_level=1)
    del huge
    small = io.BytesIO()
    base.resize((1600, 1200), Image.Resampling.LANCZOS).save(small, "PNG")

    big_sig = signals.compute_signals(tmp_path / "huge.png", derivatives=False)[0]
    small_sig = signals.compute_signals(io.BytesIO(small.getvalue()), derivatives=False)[0]

    assert (big_sig.width, big_sig.height) == (8000, 6000)
    assert signals.hamming(big_sig.phash, small_sig.phash) <= 4


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_imports_the_staged_upload_from_the_shared_storage(
    redis_url, _storage, tmp_path, client, personas, collection
):
    """Attacks nothing new: proves the background path end to end with a real Celery worker in another
    process, which reads the staged upload from the configured storage only (not the web's temp files)."""
    from tests.worker import Workers, shared_broker, wait_for

    workers = Workers(shared_broker(), _storage.parent, tmp_path)
    try:
        workers.start()
        client.force_login(personas["administrator"])
        archive = zip_bytes({"w/1.jpg": jpeg_bytes(color=(3, 4, 5)), "w/2.png": png_bytes()})
        response = client.post(
            reverse("catalogue-upload", args=[collection.pk]), {"files": [upload("w.zip", archive)]}
        )
        job = UploadJob.objects.get()
        assert response["Location"] == job.get_absolute_url()

        wait_for(lambda: UploadJob.objects.get(pk=job.pk).finished, 60, message="the upload")
    finally:
        workers.stop()
    job.refresh_from_db()
    assert (job.status, job.stored, job.rejected) == (UploadJob.Status.DONE, 2, 0)
    assert sorted(ImageFile.objects.values_list("source_path", flat=True)) == ["w/1.jpg", "w/2.png"]
    assert "2 stored, 0 skipped, 0 rejected" in client.get(job.get_absolute_url()).content.decode()
