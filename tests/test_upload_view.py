import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalogue.models import CatalogueRecord, ImageFile, ImportBatch, UploadJob
from tests.conftest import jpeg_bytes, png_bytes


def upload(name, data, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def zip_bytes(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.django_db
def test_an_administrator_uploads_a_zip_with_a_manifest(
    client_for, collection, django_capture_on_commit_callbacks
):
    client = client_for("administrator")
    archive = zip_bytes({"roll1/001.jpg": jpeg_bytes(), "roll1/002.png": png_bytes(), "readme.txt": b"hello"})
    manifest = "filename,catalogue_number,title,creator\nroll1/001.jpg,P-001,碼頭,何藩\n".encode("utf-8-sig")

    # The request stages the upload; the import runs once it commits (eagerly here, in a worker in life).
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("catalogue-upload", args=[collection.pk]),
            {"files": [upload("roll.zip", archive)], "manifest": upload("m.csv", manifest)},
        )

    job = UploadJob.objects.get()
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert batch.get_absolute_url() in client.get(job.get_absolute_url()).content.decode()
    page = client.get(batch.get_absolute_url()).content.decode()
    assert "2 stored, 0 skipped, 1 rejected" in page
    assert "readme.txt" in page and "not an image" in page
    assert "roll1/002.png" in page and "not in the manifest" in page
    record = CatalogueRecord.objects.get(catalogue_number="P-001")
    assert (record.title, record.creator, record.collection) == ("碼頭", "何藩", collection)
    assert batch.created_by.username == "administrator"


@pytest.mark.django_db
def test_the_upload_answers_json_for_the_progress_script(client_for, collection):
    response = client_for("administrator").post(
        reverse("catalogue-upload", args=[collection.pk]),
        {"files": [upload("a.jpg", jpeg_bytes())]},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"redirect": UploadJob.objects.get().get_absolute_url()}


@pytest.mark.django_db
def test_duplicate_names_within_one_upload_keep_the_first(
    client_for, collection, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for("administrator").post(
            reverse("catalogue-upload", args=[collection.pk]),
            {
                "files": [
                    upload("same.jpg", jpeg_bytes(color=(1, 1, 1))),
                    upload("same.jpg", jpeg_bytes(color=(9, 9, 9))),
                ]
            },
        )

    batch = ImportBatch.objects.get()
    assert [r["status"] for r in batch.results] == ["stored", "rejected"]
    assert "duplicate name within this import" in batch.results[1]["message"]
    assert ImageFile.objects.count() == 1


@pytest.mark.django_db
def test_a_bad_manifest_is_refused_with_the_reason_and_nothing_is_stored(client_for, collection):
    response = client_for("administrator").post(
        reverse("catalogue-upload", args=[collection.pk]),
        {"files": [upload("a.jpg", jpeg_bytes())], "manifest": upload("m.csv", b"\xff\xfe\xfa\x00junk\x81")},
    )

    assert response.status_code == 400
    assert "Manifest refused, nothing was imported" in response.content.decode()
    assert not ImageFile.objects.exists() and not ImportBatch.objects.exists()
    assert not UploadJob.objects.exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused_before_reading(client_for, collection, settings):
    settings.MASTERCOPY_MAX_UPLOAD_BYTES = 100

    response = client_for("administrator").post(
        reverse("catalogue-upload", args=[collection.pk]), {"files": [upload("a.jpg", jpeg_bytes())]}
    )

    assert response.status_code == 413
    assert not ImageFile.objects.exists() and not UploadJob.objects.exists()


@pytest.mark.django_db
def test_an_administrator_creates_a_collection(client_for):
    response = client_for("administrator").post(
        reverse("catalogue-collection-new"), {"name": "新界鄉村", "institution": "Rural Archive"}
    )

    assert response.status_code == 302
    page = client_for("administrator").get(reverse("catalogue-collections")).content.decode()
    assert "新界鄉村" in page


@pytest.mark.django_db
def test_the_collection_page_shows_processing_progress(
    client_for, collection, django_capture_on_commit_callbacks
):
    client = client_for("administrator")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("catalogue-upload", args=[collection.pk]), {"files": [upload("a.jpg", jpeg_bytes())]}
        )

    partial = client.get(reverse("dedup-collection-progress", args=[collection.pk])).content.decode()

    assert "of 1 images" in partial
    assert 'data-pending="1"' in partial or 'data-pending="0"' in partial
