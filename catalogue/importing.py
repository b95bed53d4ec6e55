"""Bringing files into a collection: from a browser upload, a server folder or a zip archive.

Every file is checked, stored content-addressed and recorded on its own, so one bad file never stops
the rest and nothing already stored is changed. Importing the same folder twice adds nothing: a path
already in the collection is skipped.

A zip archive is measured from its central directory before a single member is extracted: more members,
more uncompressed bytes, or a higher compression ratio than the settings allow refuses the whole archive
(a decompression bomb costs a directory read, not minutes of inflating). Python's zipfile never returns
more bytes for a member than the directory declares, so the declared sizes bound the real work.
"""

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from .inspect import RejectedFile, inspect_image
from .manifest import normalise_path
from .models import CatalogueRecord, ImageFile, ImportBatch
from .signals import images_added

STORED, SKIPPED, REJECTED = "stored", "skipped", "rejected"
_SYSTEM_FILES = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\._)")
_CHUNK = 1024 * 1024
# Below this many uncompressed bytes a high ratio is harmless (a small text file, a blank test image).
RATIO_FLOOR_BYTES = 32 * 1024 * 1024


@dataclass
class FileResult:
    path: str
    status: str
    message: str = ""
    image_id: int | None = None


def sha256_of(fileobj):
    digest, size = hashlib.sha256(), 0
    fileobj.seek(0)
    while chunk := fileobj.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


def storage_key(sha):
    return f"originals/{sha[:2]}/{sha[2:4]}/{sha}"


def store_original(fileobj, sha):
    """Store the bytes under their SHA-256 unless an identical file is already there."""
    key = storage_key(sha)
    if default_storage.exists(key):
        return key
    fileobj.seek(0)
    return default_storage.save(key, File(fileobj, name=key))


class Importer:
    """Imports files one by one into a collection, recording the outcome of each in an ImportBatch."""

    def __init__(
        self, collection, *, source, root="", user=None, manifest=None, keep_all_results=True, on_result=None
    ):
        self.collection = collection
        self.on_result = on_result  # called with each FileResult as it is decided (upload progress)
        self.manifest = manifest
        self.keep_all_results = keep_all_results
        self.batch = ImportBatch.objects.create(
            collection=collection, source=source, root=str(root)[:1000], created_by=user
        )
        self.known_paths = set(collection.images.values_list("source_path", flat=True))
        self.seen = set()
        self.new_ids = []
        self.counts = {STORED: 0, SKIPPED: 0, REJECTED: 0}
        self.results = []

    def add(self, rel_path, fileobj):
        """Import one file; returns its FileResult. Never raises for a problem with the file itself."""
        path = normalise_path(rel_path)
        try:
            result = self._add(path, fileobj)
        except RejectedFile as exc:
            result = FileResult(path, REJECTED, str(exc))
        return self._record(result)

    def reject(self, rel_path, message):
        return self._record(FileResult(normalise_path(rel_path), REJECTED, message))

    def skip(self, rel_path, message):
        return self._record(FileResult(normalise_path(rel_path), SKIPPED, message))

    def _record(self, result):
        self.counts[result.status] += 1
        if self.keep_all_results or result.status != STORED:
            self.results.append(asdict(result))
        if self.on_result:
            self.on_result(result)
        return result

    def _add(self, path, fileobj):
        if not path or path.endswith("/"):
            raise RejectedFile("no file name")
        if path in self.seen:
            raise RejectedFile(
                "duplicate name within this import: only the first file with this name was used"
            )
        self.seen.add(path)
        if path in self.known_paths:
            return FileResult(path, SKIPPED, "already imported into this collection")
        sha, size = sha256_of(fileobj)
        if size > settings.MASTERCOPY_MAX_FILE_BYTES:
            raise RejectedFile(
                f"file is {size / 1e9:.1f} GB, above the limit of "
                f"{settings.MASTERCOPY_MAX_FILE_BYTES / 1e9:.1f} GB (MASTERCOPY_MAX_FILE_BYTES)"
            )
        info = inspect_image(fileobj, settings.MASTERCOPY_MAX_PIXELS)
        fields, note = self._record_fields(path)
        if CatalogueRecord.objects.filter(
            collection=self.collection, catalogue_number=fields["catalogue_number"]
        ).exists():
            raise RejectedFile(
                f"catalogue number {fields['catalogue_number']} already belongs to another record "
                "in this collection"
            )
        key = store_original(fileobj, sha)
        try:
            with transaction.atomic():
                record = CatalogueRecord.objects.create(collection=self.collection, **fields)
                image = ImageFile.objects.create(
                    record=record,
                    collection=self.collection,
                    import_batch=self.batch,
                    storage_key=key,
                    original_filename=path.rsplit("/", 1)[-1][:500],
                    source_path=path,
                    size=size,
                    sha256=sha,
                    format=info.format,
                    width=info.width,
                    height=info.height,
                    mode=info.mode,
                    icc_profile=info.icc_profile,
                )
        except IntegrityError:
            # Another import took this path or number at the same moment; the stored blob is harmless.
            raise RejectedFile("imported concurrently by another import; skipped here")
        self.known_paths.add(path)
        self.new_ids.append(image.pk)
        return FileResult(path, STORED, note, image.pk)

    def _record_fields(self, path):
        row = self.manifest.lookup(path) if self.manifest else None
        fields = {
            "catalogue_number": path[:300],
            "title": "",
            "rights": self.collection.default_rights,
            "credit_line": self.collection.default_credit_line,
            "metadata": {},
        }
        note = ""
        if row:
            for name in (
                "catalogue_number",
                "title",
                "creator",
                "date_text",
                "rights",
                "credit_line",
                "source",
            ):
                if row.get(name):
                    fields[name] = row[name]
            fields["metadata"] = row["metadata"]
        elif self.manifest:
            note = "not in the manifest: catalogue number taken from the path"
        return fields, note

    def finish(self):
        """Save the batch's outcome and, once committed, hand the new images to fingerprinting."""
        batch = self.batch
        if self.manifest:
            batch.manifest_messages = self.manifest.messages + [
                f"manifest row for {name} matches no imported file" for name in self.manifest.unused()
            ]
        batch.stored, batch.skipped, batch.rejected = (self.counts[k] for k in (STORED, SKIPPED, REJECTED))
        batch.results = self.results
        batch.finished_at = timezone.now()
        batch.save()
        ids, collection = list(self.new_ids), self.collection
        if ids:
            transaction.on_commit(
                lambda: images_added.send(sender=ImageFile, collection=collection, image_ids=ids)
            )
        return batch


def _member_problem(info):
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "unsafe path in zip (absolute path): not extracted"
    if ".." in re.split(r"[\\/]+", name):
        return "unsafe path in zip (goes outside the archive with ..): not extracted"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in zip: not extracted"
    if info.flag_bits & 0x1:
        return "encrypted zip member: not extracted"
    if info.file_size > settings.MASTERCOPY_MAX_FILE_BYTES:
        return f"zip member is {info.file_size / 1e9:.1f} GB, above MASTERCOPY_MAX_FILE_BYTES"
    ratio = _ratio(info.file_size, info.compress_size)
    if ratio is not None:
        return (
            f"zip member expands {ratio:.0f} times, above MASTERCOPY_ZIP_MAX_RATIO "
            f"({settings.MASTERCOPY_ZIP_MAX_RATIO}): not extracted, a possible decompression bomb"
        )
    return None


def zip_problem(archive):
    """Why the archive is refused as a whole before anything is extracted, from its central directory; or
    None. Each limit is named with the setting that raises it."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    total = sum(info.file_size for info in members)
    compressed = sum(info.compress_size for info in members)
    if len(members) > settings.MASTERCOPY_ZIP_MAX_MEMBERS:
        return (
            f"zip archive has {len(members)} files, above the limit of {settings.MASTERCOPY_ZIP_MAX_MEMBERS} "
            "(MASTERCOPY_ZIP_MAX_MEMBERS): refused before extraction, nothing imported from it"
        )
    if total > settings.MASTERCOPY_ZIP_MAX_TOTAL_BYTES:
        return (
            f"zip archive expands to {total / 1e9:.1f} GB, above the limit of "
            f"{settings.MASTERCOPY_ZIP_MAX_TOTAL_BYTES / 1e9:.1f} GB (MASTERCOPY_ZIP_MAX_TOTAL_BYTES): "
            "refused before extraction, nothing imported from it"
        )
    ratio = _ratio(total, compressed)
    if ratio is not None:
        return (
            f"zip archive expands {ratio:.0f} times ({compressed / 1e6:.1f} MB to {total / 1e6:.0f} MB), "
            f"above the limit of {settings.MASTERCOPY_ZIP_MAX_RATIO} (MASTERCOPY_ZIP_MAX_RATIO): refused "
            "before extraction as a possible decompression bomb, nothing imported from it"
        )
    return None


def _ratio(size, compressed):
    """The expansion ratio when it is above the setting and the bytes are worth worrying about, else None."""
    ratio = size / max(compressed, 1)
    if size >= RATIO_FLOOR_BYTES and ratio > settings.MASTERCOPY_ZIP_MAX_RATIO:
        return ratio
    return None


def zip_member_count(fileobj):
    """Files in the archive (for a progress total), 0 when it is not a readable zip. Leaves it at 0."""
    try:
        with zipfile.ZipFile(fileobj) as archive:
            return sum(1 for info in archive.infolist() if not info.is_dir())
    except (zipfile.BadZipFile, OSError):
        return 0
    finally:
        fileobj.seek(0)


def import_zip(importer, fileobj, prefix="", progress=None, name=None):
    """Import every member of a zip archive; hostile members are rejected, never written anywhere, and an
    archive over the limits (zip_problem) is refused whole before extraction. name: the archive's own
    name in the messages about it as a whole."""
    name = name or prefix or "archive"
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError) as exc:
        importer.reject(name, f"not a readable zip archive: {exc}")
        return
    with archive:
        problem = zip_problem(archive)
        if problem:
            importer.reject(name, problem)
            return
        for info in archive.infolist():
            if not info.is_dir():
                _import_member(importer, archive, info, prefix)
                if progress:
                    progress()


def _import_member(importer, archive, info, prefix):
    path = prefix + info.filename
    if _SYSTEM_FILES.search(info.filename):
        importer.skip(path, "system file, not an image")
        return
    problem = _member_problem(info)
    if problem:
        importer.reject(path, problem)
        return
    limit = settings.MASTERCOPY_MAX_FILE_BYTES
    with tempfile.SpooledTemporaryFile(max_size=16 * _CHUNK) as tmp:
        try:
            with archive.open(info) as member:
                # Copy at most limit+1 bytes: a member whose header lies about its size stops here.
                copied = _copy_limited(member, tmp, limit + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
            importer.reject(path, f"damaged zip member: {exc}")
            return
        if copied > limit:
            importer.reject(path, "zip member expands beyond MASTERCOPY_MAX_FILE_BYTES")
            return
        importer.add(path, tmp)


def _copy_limited(src, dst, limit):
    copied = 0
    while copied < limit and (chunk := src.read(min(_CHUNK, limit - copied))):
        dst.write(chunk)
        copied += len(chunk)
    return copied


def iter_folder(root):
    """Relative paths of the files under root, sorted, without following symlinks out of it."""
    root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            yield os.path.relpath(full, root).replace(os.sep, "/"), full


def count_folder(root):
    return sum(1 for _ in iter_folder(root))


def import_folder(importer, root, progress=None):
    root_real = os.path.realpath(root)
    for rel, full in iter_folder(root):
        _import_file(importer, rel, full, root_real)
        if progress:
            progress()


def _import_file(importer, rel, full, root_real):
    if _SYSTEM_FILES.search(rel) or rel.rsplit("/", 1)[-1].startswith("."):
        importer.skip(rel, "system or hidden file, not an image")
        return
    real = os.path.realpath(full)
    if os.path.commonpath([real, root_real]) != root_real:
        importer.reject(rel, "symbolic link pointing outside the imported folder: not followed")
        return
    if zipfile.is_zipfile(real):
        importer.reject(rel, "zip archive inside a folder: import it on its own")
        return
    try:
        with open(real, "rb") as fileobj:
            importer.add(rel, fileobj)
    except OSError as exc:
        importer.reject(rel, f"cannot read file: {exc.strerror or exc}")
