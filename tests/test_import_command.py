import io
import os
import shutil
import zipfile

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from catalogue.models import CatalogueRecord, Collection, ImageFile, ImportBatch
from tests.conftest import jpeg_bytes, png_bytes


def run_import(*args, **options):
    out = io.StringIO()
    call_command("import_collection", *args, no_progress=True, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "scans"
    (root / "box1").mkdir(parents=True)
    (root / "box1" / "a.jpg").write_bytes(jpeg_bytes(color=(200, 10, 10)))
    (root / "box1" / "b.png").write_bytes(png_bytes(color=(10, 200, 10)))
    (root / "c.jpg").write_bytes(jpeg_bytes(color=(10, 10, 200)))
    return root


@pytest.mark.django_db
def test_it_imports_a_folder_recursively_keeping_relative_paths(folder, _storage):
    output = run_import(str(folder), collection="Harbour")

    paths = sorted(ImageFile.objects.values_list("source_path", flat=True))
    assert paths == ["box1/a.jpg", "box1/b.png", "c.jpg"]
    assert "3 stored, 0 skipped" in output
    image = ImageFile.objects.get(source_path="box1/b.png")
    assert (image.format, image.width, image.height, image.mode) == ("PNG", 64, 48, "RGB")
    assert image.record.catalogue_number == "box1/b.png"
    assert image.state == ImageFile.State.READY or image.state == ImageFile.State.PENDING
    assert (_storage / image.storage_key).read_bytes() == (folder / "box1" / "b.png").read_bytes()
    assert image.storage_key.endswith(image.sha256)


@pytest.mark.django_db
def test_a_second_run_adds_nothing(folder):
    run_import(str(folder), collection="Harbour")
    output = run_import(str(folder), collection="Harbour")

    assert "0 stored, 3 skipped" in output
    assert ImageFile.objects.count() == 3
    assert CatalogueRecord.objects.count() == 3


@pytest.mark.django_db
def test_byte_identical_files_are_stored_once_but_keep_their_own_records(tmp_path, _storage):
    root = tmp_path / "dups"
    root.mkdir()
    data = jpeg_bytes()
    (root / "one.jpg").write_bytes(data)
    (root / "two.jpg").write_bytes(data)

    run_import(str(root), collection="Harbour")

    images = list(ImageFile.objects.all())
    assert len(images) == 2 and images[0].storage_key == images[1].storage_key
    assert len({image.record_id for image in images}) == 2
    assert len(list((_storage / "originals").rglob("*"))) == 3  # two folders and one file


@pytest.mark.django_db
def test_bad_files_are_rejected_with_reasons_and_the_rest_imported(folder, settings):
    good = jpeg_bytes(size=(160, 120))
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    png = bytearray(png_bytes())
    at = png.index(b"IDAT") + 6
    png[at : at + 4] = b"\xff\x00\xff\x00"
    (folder / "corrupt.png").write_bytes(bytes(png))
    Image.new("RGB", (200, 200)).save(folder / "big.png")
    settings.MASTERCOPY_MAX_PIXELS = 30_000

    output = run_import(str(folder), collection="Harbour")

    batch = ImportBatch.objects.get()
    reasons = {r["path"]: r["message"] for r in batch.results}
    assert "not an image" in reasons["notes.txt"]
    assert "empty file" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"]
    assert "corrupt PNG" in reasons["corrupt.png"]
    assert "200×200 = 0.04 megapixels, above the limit of 0.03 megapixels" in reasons["big.png"]
    assert batch.stored == 3 and batch.rejected == 5
    assert "rejected truncated.jpg: truncated JPEG file" in output
    assert ImageFile.objects.count() == 3


@pytest.mark.django_db
def test_a_hostile_zip_writes_nothing_outside_the_storage(tmp_path, _storage):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape.jpg", jpeg_bytes())
        zf.writestr("/etc/absolute.jpg", jpeg_bytes())
        zf.writestr("C:/windows.jpg", jpeg_bytes())
        zf.writestr("ok/inside.jpg", jpeg_bytes())
        zf.writestr("__MACOSX/ok/._inside.jpg", b"resource fork")
        link = zipfile.ZipInfo("link.jpg")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    before = set(os.listdir(tmp_path))

    run_import(str(archive), collection="Harbour")

    results = {r["path"]: r for r in ImportBatch.objects.get().results}
    assert "outside the archive" in results["../escape.jpg"]["message"]
    assert "absolute path" in results["/etc/absolute.jpg"]["message"]
    assert "absolute path" in results["C:/windows.jpg"]["message"]
    assert "symbolic link" in results["link.jpg"]["message"]
    assert list(ImageFile.objects.values_list("source_path", flat=True)) == ["ok/inside.jpg"]
    assert set(os.listdir(tmp_path)) - {"media"} == before
    assert not os.path.exists("/etc/absolute.jpg")
    assert not (tmp_path.parent / "escape.jpg").exists()


@pytest.mark.django_db
def test_a_zip_member_that_lies_about_its_size_is_refused(tmp_path, settings):
    settings.MASTERCOPY_MAX_FILE_BYTES = 2000
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.jpg", b"\0" * 1_000_000)
        zf.writestr("small.jpg", jpeg_bytes(size=(16, 16), pattern=False))

    run_import(str(archive), collection="Harbour")

    results = {r["path"]: r["message"] for r in ImportBatch.objects.get().results}
    assert "MASTERCOPY_MAX_FILE_BYTES" in results["zeros.jpg"]
    assert ImageFile.objects.filter(source_path="small.jpg").exists()


@pytest.mark.django_db
def test_a_manifest_fills_the_catalogue_fields_in_chinese_too(folder, tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "filename,catalogue_number,title,creator,date,rights,credit_line,negative_no\n"
        "box1/a.jpg,HK-1962-001,維多利亞港夜景,陳復禮,1962,CC BY 4.0,香港歷史檔案館,N-77\n"
        "c.jpg,HK-1962-002,Star Ferry,Unknown,1962,All rights reserved,City Archive,\n",
        encoding="utf-8-sig",
    )

    run_import(str(folder), collection="Harbour", manifest=str(manifest))

    record = CatalogueRecord.objects.get(catalogue_number="HK-1962-001")
    assert (record.title, record.creator, record.rights) == ("維多利亞港夜景", "陳復禮", "CC BY 4.0")
    assert record.metadata == {"negative_no": "N-77"}
    assert record.images.get().source_path == "box1/a.jpg"
    assert CatalogueRecord.objects.get(catalogue_number="box1/b.png").title == ""


@pytest.mark.django_db
def test_a_big5_manifest_is_read_and_said_so(folder, tmp_path):
    manifest = tmp_path / "big5.csv"
    manifest.write_bytes("filename,catalogue_number,title\nc.jpg,HK-7,香港仔避風塘\n".encode("big5"))

    output = run_import(str(folder), collection="Harbour", manifest=str(manifest))

    assert CatalogueRecord.objects.get(catalogue_number="HK-7").title == "香港仔避風塘"
    assert "manifest read as big5hkscs" in output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"filename,title\na.jpg,x\n", r"lacks the column\(s\) catalogue_number"),
        ("filename,catalogue_number,title\nc.jpg,1,Café\n".encode("latin-1"), "not valid UTF-8"),
        (b"", "empty"),
    ],
)
@pytest.mark.django_db
def test_an_unusable_manifest_imports_nothing_and_says_why(folder, tmp_path, content, message):
    manifest = tmp_path / "bad.csv"
    manifest.write_bytes(content)

    with pytest.raises(CommandError, match=message):
        run_import(str(folder), collection="Harbour", manifest=str(manifest))

    assert ImageFile.objects.count() == 0


@pytest.mark.django_db
def test_manifest_row_problems_are_reported_and_do_not_stop_the_import(folder, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "filename,catalogue_number,title\n"
        "box1/a.jpg,N-1,first\n"
        "c.jpg,N-1,same number\n"
        "ghost.jpg,N-9,no such file\n"
        "box1/b.png,N-2,too,many,fields\n"
    )

    output = run_import(str(folder), collection="Harbour", manifest=str(manifest))

    assert "catalogue number N-1 is already used on line 2" in output
    assert "ghost.jpg matches no imported file" in output
    assert "line 5: 5 fields where the header has 3" in output
    assert ImageFile.objects.count() == 3
    assert CatalogueRecord.objects.get(catalogue_number="N-1").title == "first"


@pytest.mark.django_db
def test_a_catalogue_number_already_in_the_collection_rejects_only_that_file(folder, tmp_path):
    run_import(str(folder), collection="Harbour")
    (folder / "new.jpg").write_bytes(jpeg_bytes(color=(1, 2, 3)))
    manifest = tmp_path / "m.csv"
    manifest.write_text("filename,catalogue_number\nnew.jpg,c.jpg\n")

    output = run_import(str(folder), collection="Harbour", manifest=str(manifest))

    assert "catalogue number c.jpg already belongs to another record" in output
    assert ImageFile.objects.count() == 3


@pytest.mark.django_db
def test_it_refuses_a_missing_path():
    with pytest.raises(CommandError, match="does not exist"):
        run_import("/no/such/folder", collection="Harbour")
    assert not Collection.objects.exists()


@pytest.mark.django_db
def test_it_imports_real_photos_and_a_rerun_adds_nothing(photos, tmp_path):
    root = tmp_path / "real"
    root.mkdir()
    for path in photos[:40]:
        shutil.copy(path, root / path.name)
    shutil.copy(photos[0], root / "copy-of-first.jpg")

    first = run_import(str(root), collection="Real")
    second = run_import(str(root), collection="Real")

    assert "41 stored, 0 skipped (already imported or system files), 0 rejected" in first
    assert "0 stored, 41 skipped" in second
