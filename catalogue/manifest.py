"""CSV manifests: file name → catalogue fields. No Django imports.

A manifest that cannot be read as a whole (encoding, missing columns) is refused before any file is
imported, because importing files without their catalogue numbers cannot be repaired by re-running
(imports are idempotent by path). Problems confined to one row are reported and the row is skipped.
"""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

# Column name (normalised) → record field. Anything else goes into the record's metadata.
ALIASES = {
    "filename": "filename",
    "file": "filename",
    "file_name": "filename",
    "path": "filename",
    "catalogue_number": "catalogue_number",
    "catalog_number": "catalogue_number",
    "catalogue_no": "catalogue_number",
    "catalog_no": "catalogue_number",
    "object_number": "catalogue_number",
    "accession_number": "catalogue_number",
    "title": "title",
    "creator": "creator",
    "photographer": "creator",
    "date": "date_text",
    "rights": "rights",
    "licence": "rights",
    "license": "rights",
    "credit_line": "credit_line",
    "credit": "credit_line",
    "source": "source",
    "provenance": "source",
}
REQUIRED = ("filename", "catalogue_number")
RECORD_FIELDS = ("catalogue_number", "title", "creator", "date_text", "rights", "credit_line", "source")
MAX_BYTES = 100 * 1024 * 1024


class ManifestError(Exception):
    """The manifest as a whole is unusable; nothing was imported."""


@dataclass
class Manifest:
    rows: dict = field(default_factory=dict)  # normalised path → {field: value, "metadata": {...}, "line": n}
    messages: list = field(default_factory=list)
    encoding: str = "utf-8"
    used: set = field(default_factory=set)
    numbers: dict = field(default_factory=dict)  # catalogue number → manifest line

    def lookup(self, rel_path):
        """The row for a file: by its path relative to the import root, else by its bare name."""
        key = normalise_path(rel_path)
        if key in self.rows:
            self.used.add(key)
            return self.rows[key]
        base = key.rsplit("/", 1)[-1]
        if base in self.rows:
            self.used.add(base)
            return self.rows[base]
        return None

    def unused(self):
        return sorted(set(self.rows) - self.used)


def normalise_path(path):
    """Forward slashes, NFC (macOS writes NFD names), no leading "./"; nothing else is changed."""
    path = unicodedata.normalize("NFC", path.replace("\\", "/").strip())
    while path.startswith("./"):
        path = path[2:]
    return path


def _column(name):
    return re.sub(r"[^0-9a-z]+", "_", (name or "").strip().lower()).strip("_")


def decode(data, encoding=None):
    """Text of the manifest and the encoding used. UTF-8 (with or without BOM), UTF-16, then Big5-HKSCS."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (LookupError, UnicodeDecodeError) as exc:
            raise ManifestError(f"the manifest cannot be read as {encoding}: {exc}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ManifestError(f"the manifest starts like UTF-16 but is not valid UTF-16: {exc.reason}")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        bad = data[utf8_error.start : utf8_error.start + 1].hex()
        try:
            text = data.decode("big5hkscs")
        except UnicodeDecodeError:
            raise ManifestError(
                f"the manifest is not valid UTF-8 (byte 0x{bad} at position {utf8_error.start}) and not Big5 "
                "either: save it as UTF-8 (CSV UTF-8 in Excel) and upload it again"
            )
        if not any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text):
            # Latin-1 text can decode as Big5 by accident; without any Chinese characters it is a guess.
            raise ManifestError(
                f"the manifest is not valid UTF-8 (byte 0x{bad} at position {utf8_error.start}); it may be "
                "Latin-1 or Windows-1252: save it as UTF-8 and upload it again"
            )
        return text, "big5hkscs"


def parse(data, encoding=None):
    """Parse manifest bytes into a Manifest, or raise ManifestError."""
    if len(data) > MAX_BYTES:
        raise ManifestError(f"the manifest is larger than {MAX_BYTES // 1024 // 1024} MB")
    text, used = decode(data, encoding)
    if "\x00" in text:
        raise ManifestError("the manifest contains NUL bytes: it is not a CSV text file")
    manifest = Manifest(encoding=used)
    if used != "utf-8":
        manifest.messages.append(f"manifest read as {used}")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ManifestError("the manifest is empty")
    columns = _map_columns(header)
    try:
        for row in reader:
            _add_row(manifest, columns, row, reader.line_num)
    except csv.Error as exc:
        raise ManifestError(f"the manifest is not valid CSV near line {reader.line_num}: {exc}")
    if not manifest.rows:
        raise ManifestError("the manifest has a header but no usable rows")
    return manifest


def _map_columns(header):
    columns = []
    for name in header:
        key = _column(name)
        columns.append((ALIASES.get(key), name.strip() or key))
    present = {target for target, _ in columns if target}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise ManifestError(
            "the manifest lacks the column(s) "
            + ", ".join(missing)
            + f"; its header is: {', '.join(h.strip() for h in header)}"
        )
    return columns


def _add_row(manifest, columns, row, line):
    if not any(cell.strip() for cell in row):
        return
    if len(row) != len(columns):
        manifest.messages.append(
            f"line {line}: {len(row)} fields where the header has {len(columns)}; skipped"
        )
        return
    entry = {"metadata": {}, "line": line}
    for (target, name), value in zip(columns, row, strict=True):
        value = value.strip()
        if target:
            entry[target] = value
        elif value:
            entry["metadata"][name] = value
    if not entry["filename"] or not entry["catalogue_number"]:
        manifest.messages.append(f"line {line}: no file name or no catalogue number; skipped")
        return
    key = normalise_path(entry["filename"])
    if key in manifest.rows:
        manifest.messages.append(
            f"line {line}: file {entry['filename']} is listed twice; the second is skipped"
        )
        return
    number = entry["catalogue_number"]
    if number in manifest.numbers:
        manifest.messages.append(
            f"line {line}: catalogue number {number} is already used on line "
            f"{manifest.numbers[number]}; skipped"
        )
        return
    manifest.numbers[number] = line
    manifest.rows[key] = entry
