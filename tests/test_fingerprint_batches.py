"""ensure_fingerprints writes what it computed in batches of WRITE_BATCH: every image once, seq in order,
a bad file or an image another worker finished never holds up the rest."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from catalogue.models import ImageFile
from dedup import fingerprinting
from dedup.fingerprinting import WRITE_BATCH, ensure_fingerprints, pending_ids
from dedup.models import Fingerprint
from tests.conftest import jpeg_bytes
from tests.test_import_command import run_import


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "scans"
    root.mkdir()
    for n in range(WRITE_BATCH + 3):
        (root / f"{n:02d}.jpg").write_bytes(jpeg_bytes(size=(96, 64), color=(n * 9, 40, 200 - n * 9)))
    (root / "bad.jpg").write_bytes(jpeg_bytes(size=(80, 60)))
    run_import(str(root), collection="Batches")
    bad = ImageFile.objects.get(source_path="bad.jpg")  # its stored copy damaged after the import
    data = default_storage.open(bad.storage_key).read()
    default_storage.delete(bad.storage_key)
    default_storage.save(bad.storage_key, ContentFile(data[: len(data) // 2]))
    return root


@pytest.mark.django_db
def test_every_image_is_written_once_in_seq_order(folder, monkeypatch):
    ids = pending_ids()
    bad = ImageFile.objects.get(source_path="bad.jpg")
    finished_elsewhere = ImageFile.objects.get(source_path="03.jpg")
    write = fingerprinting._write

    def another_worker_first(computed, on_progress=None):  # 03.jpg finished by someone else meanwhile
        ImageFile.objects.filter(pk=finished_elsewhere.pk).update(state=ImageFile.State.READY)
        return write(computed, on_progress)

    monkeypatch.setattr(fingerprinting, "_write", another_worker_first)
    ticks = []
    done, failed = ensure_fingerprints(ids, on_progress=lambda: ticks.append(1))
    assert (done, failed) == (len(ids) - 1, 1) and len(ticks) == len(ids)
    bad.refresh_from_db()
    assert bad.state == ImageFile.State.FAILED and bad.last_error
    written = list(Fingerprint.objects.order_by("seq").values_list("image_id", "seq"))
    assert [image for image, _ in written] == sorted(set(ids) - {bad.pk, finished_elsewhere.pk})
    assert [seq for _, seq in written] == list(range(1, len(written) + 1))
    waiting = ImageFile.objects.filter(state=ImageFile.State.PENDING).exclude(pk=finished_elsewhere.pk)
    assert not waiting.exists()


@pytest.mark.django_db
def test_an_image_fingerprinted_again_keeps_one_fingerprint(folder):
    ensure_fingerprints(pending_ids())
    image = ImageFile.objects.get(source_path="05.jpg")
    before = Fingerprint.objects.get(image=image)
    Fingerprint.objects.filter(image=image).update(phash=0, searched=True)
    ImageFile.objects.filter(pk=image.pk).update(state=ImageFile.State.PENDING)
    assert ensure_fingerprints([image.pk]) == (1, 0)
    after = Fingerprint.objects.get(image=image)
    assert after.phash == before.phash and not after.searched and after.seq > before.seq
    assert Fingerprint.objects.filter(image=image).count() == 1
