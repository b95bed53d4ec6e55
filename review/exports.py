"""Exports for supervisors: the master / superseded / related mapping, exact duplicates per collection,
and the decision log as PREMIS 3 events, and the partner mapping (review.partners). Each yields rows
(or XML text) in chunks, so a large log streams instead of being built in memory; the *_response
functions make the downloads the export pages and the API serve alike."""

import json
from xml.sax.saxutils import escape

from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from catalogue import access
from catalogue.models import CatalogueRecord, ImageFile, RecordLink
from mastercopy import spreadsheet

from . import partners, provenance
from .audit import head
from .models import Decision
from .supervision import EXACT_RELATIONS, standing

PREMIS_NS = "http://www.loc.gov/premis/v3"
# The first six are the export's original columns, in their order; the rest were added after them.
MAPPING_FIELDS = (
    "catalogue_number",
    "relation",
    "target_number",
    "collection",
    "decided_by",
    "decided_at",
    "record_id",
    "collection_id",
    "file",
    "target_record_id",
    "target_collection_id",
    "target_collection",
    "target_file",
    "decision",
    "decision_kind",
    "automatic",
    "approved_by",
    "approved_at",
)
EXACT_FIELDS = (
    "collection",
    "master_number",
    "duplicate_number",
    "relation",
    "master_file",
    "duplicate_file",
    "decided_by",
    "decided_at",
)
# PREMIS eventType per decision kind (local terms; the kind itself is in eventDetail).
EVENT_TYPES = {
    Decision.Kind.DUPLICATE: "deduplication",
    Decision.Kind.RELATED: "relationship assertion",
    Decision.Kind.DISTINCT: "deduplication rejection",
    Decision.Kind.SKIP: "review deferral",
    Decision.Kind.ESCALATE: "review escalation",
    Decision.Kind.UNDO: "reversion",
    Decision.Kind.REVERT: "reversion",
    Decision.Kind.DECLINE: "approval refusal",
}


def _who(decision):
    return provenance.who(decision)


def mapping_rows(collection=None, visible=None):
    """Every superseded record → its master, and every related link, with who decided and when (the
    decision that made the mapping what it is: review.provenance), both sides' record and collection
    ids and their files as imported (a file's name differs from one collection to the next).
    visible: ids of the collections the reader may see (catalogue.access), None for all."""
    records = CatalogueRecord.objects.filter(status=CatalogueRecord.Status.SUPERSEDED).select_related(
        "master__collection", "collection"
    )
    links = RecordLink.objects.select_related("record_a__collection", "record_b__collection")
    decisions = standing(Decision.objects.all())
    if collection is not None:
        records = records.filter(collection=collection)
        links = links.filter(record_a__collection=collection)
        decisions = decisions.filter(
            Q(pair__image_a__collection=collection) | Q(pair__image_b__collection=collection)
        )
    records = access.within(records, visible, "collection", "master__collection")
    links = access.within(links, visible, "record_a__collection", "record_b__collection")
    decisions = access.within(decisions, visible, *access.DECISION_COLLECTIONS)
    decided = provenance.deciding(decisions)
    for chunk in _chunks(records.order_by("collection__name", "catalogue_number")):
        masters = {record.pk: record.master if record.master.master_id is None else record.resolve()
                   for record in chunk}
        files = _files([*chunk, *masters.values()])
        for record in chunk:
            decision = decided.get(record.pk)
            updated = decision is not None and decision.evidence.get("updated_version")
            relation = "updated-version" if updated else "superseded"
            yield _mapping_row(record, relation, masters[record.pk], decision, files)
    for chunk in _chunks(links.order_by("pk")):
        files = _files([r for link in chunk for r in (link.record_a, link.record_b)])
        for link in chunk:
            decision = decided.get(frozenset((link.record_a_id, link.record_b_id)))
            yield _mapping_row(link.record_a, "related", link.record_b, decision, files)


def _chunks(queryset, size=1000):
    chunk = []
    for row in queryset.iterator(chunk_size=size):
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _files(records):
    """{record id: its images' paths as imported, joined by "; "} for one chunk of rows."""
    paths = {}
    rows = ImageFile.objects.filter(record__in={r.pk for r in records}).order_by("record_id", "pk")
    for record_id, path in rows.values_list("record_id", "source_path"):
        paths.setdefault(record_id, []).append(path)
    return {record_id: "; ".join(found) for record_id, found in paths.items()}


def _mapping_row(record, relation, target, decision, files):
    return {
        "catalogue_number": record.catalogue_number,
        "relation": relation,
        "target_number": target.catalogue_number,
        "collection": record.collection.name,
        **provenance.credit(decision),
        "record_id": record.pk,
        "collection_id": record.collection_id,
        "file": files.get(record.pk, ""),
        "target_record_id": target.pk,
        "target_collection_id": target.collection_id,
        "target_collection": target.collection.name,
        "target_file": files.get(target.pk, ""),
        "decision": decision.pk if decision else "",
        "decision_kind": decision.kind if decision else "",
        "automatic": decision.automatic if decision else "",
    }


def exact_duplicate_rows(collection=None, visible=None):
    """Standing duplicate decisions on byte- or pixel-identical pairs: the same item scanned twice."""
    decisions = standing(Decision.objects.filter(kind=Decision.Kind.DUPLICATE, pending=False)).select_related(
        "actor",
        "master",
        "superseded",
        "pair__image_a__collection",
        "pair__image_b",
    )
    if collection is not None:
        decisions = decisions.filter(pair__image_a__collection=collection)
    decisions = access.within(decisions, visible, *access.DECISION_COLLECTIONS)
    for decision in decisions.order_by("pair__image_a__collection__name", "sequence").iterator(
        chunk_size=1000
    ):
        pair = decision.pair
        labels = set(pair.relation.split("+"))
        if not (pair.same_bytes or labels & set(EXACT_RELATIONS)) or decision.superseded is None:
            continue
        files = {pair.image_a.record_id: pair.image_a, pair.image_b.record_id: pair.image_b}
        yield {
            "collection": pair.image_a.collection.name,
            "master_number": decision.master.catalogue_number,
            "duplicate_number": decision.superseded.catalogue_number,
            "relation": pair.relation or ("identical" if pair.same_bytes else ""),
            "master_file": getattr(files.get(decision.master_id), "source_path", ""),
            "duplicate_file": getattr(files.get(decision.superseded_id), "source_path", ""),
            "decided_by": _who(decision),
            "decided_at": decision.created_at.isoformat(),
        }


# --- PREMIS -----------------------------------------------------------------------------------------


def _el(name, text):
    return f"<premis:{name}>{escape(str(text))}</premis:{name}>"


def _premis_event(decision, numbers):
    parts = [
        "<premis:event>",
        "<premis:eventIdentifier>",
        _el("eventIdentifierType", "local"),
        _el("eventIdentifierValue", f"mastercopy-decision-{decision.pk}"),
        "</premis:eventIdentifier>",
        _el("eventType", EVENT_TYPES[decision.kind]),
        _el("eventDateTime", decision.created_at.isoformat()),
        "<premis:eventDetailInformation>",
        _el(
            "eventDetail",
            " ".join(
                part
                for part in (
                    f"kind={decision.kind}",
                    f"sequence={decision.sequence}",
                    f"hmac-sha256={decision.hash}",
                    f"key={decision.key_id}" if decision.key_id else "",
                    f"prev={decision.prev_hash}",
                    f"corrects=mastercopy-decision-{decision.corrects_id}" if decision.corrects_id else "",
                    "relation=updated-version" if (decision.evidence or {}).get("updated_version") else "",
                    "pending=approval" if decision.pending else "",
                    f"approves=mastercopy-decision-{decision.approves_id}" if decision.approves_id else "",
                    f"reason={decision.reason}" if decision.reason else "",
                    f"comment={decision.comment}" if decision.comment else "",
                )
                if part
            ),
        ),
        "</premis:eventDetailInformation>",
        "<premis:eventOutcomeInformation>",
        _el(
            "eventOutcome",
            "flagged" if decision.flagged else "pending approval" if decision.pending else decision.kind,
        ),
    ]
    if decision.master_id and decision.superseded_id:
        note = (
            f"{numbers.get(decision.superseded_id, '')} superseded by {numbers.get(decision.master_id, '')}"
        )
        parts += [
            "<premis:eventOutcomeDetail>",
            _el("eventOutcomeDetailNote", note),
            "</premis:eventOutcomeDetail>",
        ]
    parts += [
        "</premis:eventOutcomeInformation>",
        "<premis:linkingAgentIdentifier>",
        _el("linkingAgentIdentifierType", "local"),
        _el("linkingAgentIdentifierValue", _who(decision)),
        _el("linkingAgentRole", "executing program" if decision.automatic else "implementer"),
        "</premis:linkingAgentIdentifier>",
    ]
    records = [state["record"] for state in decision.before]
    if decision.pair_id:
        records += [decision.pair.image_a.record_id, decision.pair.image_b.record_id]
    for record in dict.fromkeys(records):
        parts += [
            "<premis:linkingObjectIdentifier>",
            _el("linkingObjectIdentifierType", "catalogue number"),
            _el("linkingObjectIdentifierValue", numbers.get(record, record)),
            "</premis:linkingObjectIdentifier>",
        ]
    parts.append("</premis:event>\n")
    return "".join(parts)


def premis_events(decisions=None, chunk=1000):
    """The decision log as one PREMIS 3 document, one <event> per decision, in chain order."""
    decisions = decisions if decisions is not None else Decision.objects.all()
    decisions = decisions.select_related("actor", "pair__image_a", "pair__image_b").order_by("sequence", "pk")
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<premis:premis xmlns:premis="{PREMIS_NS}" version="3.0">\n'
    # The chain's head when the export was made: a copy of it kept elsewhere is a checkpoint that
    # verify_audit --head can check later (events deleted from the end of the log no longer match).
    sequence, value = head(Decision.objects)
    yield f"<!-- mastercopy audit head {sequence}:{value} at {timezone.now().isoformat()} -->\n"
    last = None
    while True:
        batch = decisions if last is None else decisions.filter(sequence__gt=last)
        batch = list(batch[:chunk])
        if not batch:
            break
        ids = {s["record"] for d in batch for s in d.before}
        ids |= {r for d in batch if d.pair_id for r in (d.pair.image_a.record_id, d.pair.image_b.record_id)}
        numbers = dict(CatalogueRecord.objects.filter(pk__in=ids).values_list("pk", "catalogue_number"))
        for decision in batch:
            yield _premis_event(decision, numbers)
        last = batch[-1].sequence
        if last is None:  # unchained rows (see verify_audit) cannot be paged by sequence
            break
    yield "</premis:premis>\n"


# --- downloads ------------------------------------------------------------------------------------


def with_audit_head(response):
    """Every export names the chain's head when it was made (sequence:hash), so a copy kept outside
    the archive can later be checked with verify_audit --head."""
    sequence, value = head(Decision.objects)
    response["X-Mastercopy-Audit-Head"] = f"{sequence}:{value}"
    return response


class _Echo:
    def write(self, value):
        return value


def table_response(rows, fields, name, fmt):
    """rows as a JSON download (fmt "json") or a streamed CSV one."""
    if fmt == "json":
        response = HttpResponse(
            json.dumps(list(rows), ensure_ascii=False, indent=1), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
        return response
    # Opened in spreadsheets: every text cell is neutralised against formula injection.
    writer = spreadsheet.DictWriter(_Echo(), fieldnames=fields)
    lines = (writer.writerow(row) for row in rows)
    response = StreamingHttpResponse(
        _with_header(writer.writerow(dict(zip(fields, fields, strict=True))), lines), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _with_header(header, lines):
    yield header
    yield from lines


def mapping_response(user, collection, fmt):
    """The mapping export of collection (None: all) as user may see it."""
    rows = mapping_rows(collection, visible=access.visible_ids(user))
    return with_audit_head(table_response(rows, MAPPING_FIELDS, "mastercopy-mapping", fmt))


def exact_response(user, collection, fmt):
    rows = exact_duplicate_rows(collection, visible=access.visible_ids(user))
    return with_audit_head(table_response(rows, EXACT_FIELDS, "mastercopy-exact-duplicates", fmt))


def premis_response(decisions):
    response = StreamingHttpResponse(premis_events(decisions), content_type="application/xml")
    response["Content-Disposition"] = 'attachment; filename="mastercopy-premis-events.xml"'
    return with_audit_head(response)


def partner_response(user, collection, side, fmt):
    """The partner mapping of a partner collection user may see: per partner record in its numbers
    (side "partner", the default) or per record of ours (side "ours")."""
    visible = access.visible_ids(user)
    if side == "ours":
        rows, fields, name = partners.our_rows(collection, visible), partners.OUR_FIELDS, "ours"
    else:
        rows, fields, name = partners.partner_rows(collection, visible), partners.PARTNER_FIELDS, "partner"
    return with_audit_head(table_response(rows, fields, f"mastercopy-{name}-mapping-{collection.pk}", fmt))
