"""The licensing team's two lists, per collection: licences whose licensed file is no longer what the
catalogue number delivers, and licences whose record was merged into one with other rights or credit.
Each licence's answer costs a handful of indexed queries (history.as_of), so a report is linear in the
collection's licences, streamed, never in the size of the decision chain."""

from mastercopy.spreadsheet import neutralise

from .history import as_of, end_of_day
from .models import Licence

FIELDS = (
    "licence_number",
    "client",
    "licence_date",
    "catalogue_number",
    "licensed_record",
    "licensed_sha256",
    "licensed_file",
    "master_now",
    "file_now",
    "sha256_now",
    "rights_then",
    "rights_now",
    "credit_line_then",
    "credit_line_now",
)
KINDS = ("superseded", "rights")


def formula_safe(value):
    """The cell as text, neutralised against formula injection by the one rule every CSV follows."""
    return neutralise("" if value is None else str(value))


def licences(collection):
    return (
        Licence.objects.filter(collection=collection)
        .select_related("record__collection", "collection")
        .order_by("licensed_on", "number")
    )


def affected(answer, kind):
    if kind == "superseded":
        return bool(answer.superseded_since)
    return (answer.master_changed or answer.merged_since) and answer.rights_changed


def rows(collection, kind, user):
    for licence in licences(collection).iterator(chunk_size=500):
        answer = as_of(licence.record, end_of_day(licence.licensed_on), user, licence.sha256)
        if affected(answer, kind):
            yield _row(licence, answer)


def _row(licence, answer):
    then, now = answer.file_then, answer.file_now
    return {
        "licence_number": licence.number,
        "client": licence.client,
        "licence_date": licence.licensed_on.isoformat(),
        "catalogue_number": licence.catalogue_number,
        "licensed_record": answer.resolved_then.catalogue_number,
        "licensed_sha256": then.sha256 if then else "",
        "licensed_file": then.source_path if then else "",
        "master_now": answer.resolved_now.catalogue_number,
        "file_now": now.source_path if now else "",
        "sha256_now": now.sha256 if now else "",
        "rights_then": answer.rights_then["rights"],
        "rights_now": answer.rights_now["rights"],
        "credit_line_then": answer.rights_then["credit_line"],
        "credit_line_now": answer.rights_now["credit_line"],
    }
