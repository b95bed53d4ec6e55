"""The partner mapping: for a partner's collection, how each of its records stands to ours, in the
partner's own catalogue numbers (and the reverse, for our records), with the decision that made it.

A partner record is superseded by our master, is the master our record was superseded by, or is
related to one of ours; or nothing yet (listed with empty fields, so the partner sees every number it
sent). Groups are flat (CatalogueRecord.supersede), so a record's master is one step away.
"""

from django.db.models import Q

from catalogue import access
from catalogue.models import CatalogueRecord, RecordLink

from . import provenance
from .models import Decision
from .supervision import standing

PARTNER_FIELDS = (
    "partner",
    "partner_number",
    "relation",
    "our_number",
    "our_collection",
    "decision",
    "decision_kind",
    "decided_by",
    "decided_at",
    "approved_by",
    "approved_at",
)
OUR_FIELDS = (
    "our_number",
    "our_collection",
    "relation",
    "partner",
    "partner_number",
    "decision",
    "decision_kind",
    "decided_by",
    "decided_at",
    "approved_by",
    "approved_at",
)
# The same link seen from the other side.
INVERSE = {"superseded by": "master of", "master of": "superseded by", "related to": "related to", "": ""}


def links(partner_collection, visible=None):
    """(partner record, relation, our record or None, decision or None) for every record of the
    partner collection, relation read from the partner record's side."""
    mine = CatalogueRecord.objects.filter(collection=partner_collection).select_related("master__collection")
    ours = access.within(
        CatalogueRecord.objects.exclude(collection=partner_collection), visible, "collection"
    ).select_related("collection", "master")
    decided = _decisions(partner_collection, visible)
    found = {}
    for record in mine.order_by("catalogue_number"):
        found[record.pk] = []
        master = record.master
        if master is not None and master.collection_id != partner_collection.pk and _shown(master, visible):
            found[record.pk].append(("superseded by", master, decided.get(record.pk)))
    for other in ours.filter(master__collection=partner_collection):
        found.setdefault(other.master_id, []).append(("master of", other, decided.get(other.pk)))
    for link in RecordLink.objects.filter(
        Q(record_a__collection=partner_collection) | Q(record_b__collection=partner_collection)
    ).select_related("record_a__collection", "record_b__collection"):
        theirs, other = (
            (link.record_a, link.record_b)
            if link.record_a.collection_id == partner_collection.pk
            else (link.record_b, link.record_a)
        )
        if other.collection_id == partner_collection.pk or not _shown(other, visible):
            continue
        key = frozenset((link.record_a_id, link.record_b_id))
        found.setdefault(theirs.pk, []).append(("related to", other, decided.get(key)))
    records = {r.pk: r for r in mine}
    for pk in sorted(found, key=lambda pk: records[pk].catalogue_number):
        if not found[pk]:
            yield records[pk], "", None, None
        for relation, other, decision in sorted(found[pk], key=lambda row: row[1].catalogue_number):
            yield records[pk], relation, other, decision


def _shown(record, visible):
    return visible is None or record.collection_id in visible


def _decisions(partner_collection, visible):
    """Standing decisions that touch the partner collection: by superseded record, and by the pair of
    records of a related link."""
    decisions = standing(Decision.objects.all()).filter(
        Q(pair__image_a__collection=partner_collection) | Q(pair__image_b__collection=partner_collection)
    )
    return provenance.deciding(access.within(decisions, visible, *access.DECISION_COLLECTIONS))


def _decision_fields(decision):
    if decision is None:
        return {"decision": "", "decision_kind": "", **provenance.credit(None)}
    return {"decision": decision.pk, "decision_kind": decision.kind, **provenance.credit(decision)}


def partner_rows(partner_collection, visible=None):
    """One row per partner record and link, in the partner's numbers."""
    for theirs, relation, other, decision in links(partner_collection, visible):
        yield {
            "partner": partner_collection.partner,
            "partner_number": theirs.catalogue_number,
            "relation": relation,
            "our_number": other.catalogue_number if other else "",
            "our_collection": other.collection.name if other else "",
            **_decision_fields(decision),
        }


def our_rows(partner_collection, visible=None):
    """The reverse: one row per our record linked to a partner record, relation from our side."""
    rows = [
        {
            "our_number": other.catalogue_number,
            "our_collection": other.collection.name,
            "relation": INVERSE[relation],
            "partner": partner_collection.partner,
            "partner_number": theirs.catalogue_number,
            **_decision_fields(decision),
        }
        for theirs, relation, other, decision in links(partner_collection, visible)
        if other is not None
    ]
    yield from sorted(rows, key=lambda row: (row["our_collection"], row["our_number"], row["partner_number"]))
