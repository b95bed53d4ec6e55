"""Licences from a CSV file: every row is checked on its own, the good ones are stored, each bad one
gets a message saying what to fix, and nothing already stored changes (a licence number that exists is
refused, never updated).

Columns (header row, any order, any case): licence_number, client, catalogue_number, licence_date
(YYYY-MM-DD), and optionally usage, territory, sha256."""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from catalogue.models import CatalogueRecord

from .models import Licence

REQUIRED = ("licence_number", "client", "catalogue_number", "licence_date")
OPTIONAL = ("usage", "territory", "sha256")
ALIASES = {
    "licence": "licence_number",
    "license_number": "licence_number",
    "number": "licence_number",
    "date": "licence_date",
    "license_date": "licence_date",
    "catalogue": "catalogue_number",
    "catalog_number": "catalogue_number",
    "file_sha256": "sha256",
}
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
# Bytes that are not UTF-8 are kept as lone surrogates by the decoder, so the row can be named.
_UNDECODED = re.compile("[\udc80-\udcff]")


class LicenceFileError(Exception):
    """The file as a whole cannot be read (no header, missing columns): nothing is imported."""


@dataclass
class Result:
    created: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # {"row", "licence_number", "message"}

    @property
    def rejected(self):
        return len(self.problems)

    def as_dict(self):
        return {
            "imported": len(self.created),
            "rejected": self.rejected,
            "licences": [licence.number for licence in self.created],
            "problems": self.problems,
        }


def _header(names):
    columns = []
    for name in names:
        key = (name or "").strip().lower().replace(" ", "_").replace("-", "_")
        columns.append(ALIASES.get(key, key))
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise LicenceFileError(
            _("the header row lacks the column(s) %(names)s (expected %(all)s)")
            % {"names": ", ".join(missing), "all": ", ".join(REQUIRED + OPTIONAL)}
        )
    return columns


def rows(data):
    """(line number, {column: value}) for each row of the CSV bytes; raises LicenceFileError."""
    text = data.decode("utf-8-sig", errors="surrogateescape") if isinstance(data, bytes) else data
    if not text.strip():
        raise LicenceFileError(_("the file is empty"))
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    columns = _header(next(reader))
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        yield reader.line_num, dict(zip(columns, (v.strip() for v in values), strict=False))


def _problem(values, collection, seen):
    """Why this row cannot be imported ("" when it can), and the record it names."""
    if any(_UNDECODED.search(value or "") for value in values.values()):
        return _("the row is not valid UTF-8 (save the file as UTF-8 and import it again)"), None
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        return _("empty %(names)s") % {"names": ", ".join(missing)}, None
    number = values["licence_number"]
    if number in seen:
        return _("licence number %(n)s appears twice in this file; only the first row was used") % {
            "n": number
        }, None
    if Licence.objects.filter(number=number).exists():
        return _("licence number %(n)s is already stored; it was left as it is") % {"n": number}, None
    try:
        date.fromisoformat(values["licence_date"])
    except ValueError:
        return _("licence date “%(d)s” is not a date as YYYY-MM-DD") % {"d": values["licence_date"]}, None
    if values.get("sha256") and not _HEX64.match(values["sha256"]):
        return _("sha256 “%(s)s” is not 64 hexadecimal digits") % {"s": values["sha256"][:80]}, None
    record = find_record(collection, values["catalogue_number"])
    if record is None:
        return _("catalogue number %(c)s is not in collection %(collection)s") % {
            "c": values["catalogue_number"],
            "collection": collection.name,
        }, None
    return "", record


def find_record(collection, number):
    """The record a catalogue number names in collection: exact, else the only case-insensitive match."""
    records = CatalogueRecord.objects.filter(collection=collection)
    exact = records.filter(catalogue_number=number).first()
    if exact is not None:
        return exact
    loose = list(records.filter(catalogue_number__iexact=number)[:2])
    return loose[0] if len(loose) == 1 else None


def import_licences(data, collection, *, user=None, source=""):
    """Import the licences in CSV bytes into collection; returns a Result."""
    return import_rows(rows(data), collection, user=user, source=source)


def import_rows(numbered_rows, collection, *, user=None, source=""):
    """Import (row number, {column: value}) pairs, each checked on its own; returns a Result."""
    result, seen = Result(), set()
    for line, values in numbered_rows:
        message, record = _problem(values, collection, seen)
        number = values.get("licence_number", "")
        if not message:
            try:
                with transaction.atomic():
                    licence = Licence.objects.create(
                        number=number,
                        client=values["client"][:500],
                        collection=collection,
                        catalogue_number=values["catalogue_number"],
                        record=record,
                        licensed_on=date.fromisoformat(values["licence_date"]),
                        usage=values.get("usage", ""),
                        territory=values.get("territory", ""),
                        sha256=values.get("sha256", "").lower(),
                        source=source[:500],
                        created_by=user,
                    )
            except IntegrityError:
                message = _("licence number %(n)s was stored by someone else meanwhile") % {"n": number}
            else:
                result.created.append(licence)
                seen.add(number)
        if message:
            result.problems.append(
                {"row": line, "licence_number": _UNDECODED.sub("?", number), "message": message}
            )
    return result
