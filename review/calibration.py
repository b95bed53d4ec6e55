"""Calibration: how often people found the pairs in each score band to be the same or related picture,
and the review cut-off that evidence suggests for each collection.

Only human decisions that still stand count: automatic ones say nothing about the score, and a decision
later undone or reverted is not what the institution concluded."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast, Floor, Least
from django.utils.translation import gettext as _

from catalogue.models import Collection, ImageFile, PolicyChange
from dedup import policy
from dedup.models import CandidatePair

from . import summaries, supervision
from .models import Decision, DecisionCount

BANDS = 10  # 0.0–0.1 … 0.9–1.0
DEFAULT_TARGET = 0.5
DEFAULT_MIN_DECISIONS = 10
POSITIVE = (Decision.Kind.DUPLICATE, Decision.Kind.RELATED)
JUDGED = (*POSITIVE, Decision.Kind.DISTINCT)


@dataclass
class Cell:
    band: int
    positive: int = 0
    total: int = 0

    @property
    def low(self):
        return self.band / BANDS

    @property
    def high(self):
        return (self.band + 1) / BANDS

    @property
    def precision(self):
        return self.positive / self.total if self.total else None


def standing_decisions():
    """People's judgements that took effect and still stand (a proposal waiting for approval has not)."""
    return supervision.standing(
        Decision.objects.filter(automatic=False, kind__in=JUDGED, pair__isnull=False, pending=False)
    )


def _with_band(decisions):
    """The decisions annotated with their pair's score band (0 … BANDS - 1)."""
    return decisions.annotate(
        band=Least(Cast(Floor(F("pair__score") * BANDS), IntegerField()), Value(BANDS - 1))
    )


def _counts(decisions, *fields):
    return (
        _with_band(decisions)
        .values("band", *fields)
        .annotate(total=Count("pk"), positive=Count("pk", filter=Q(kind__in=POSITIVE)))
        .order_by()
    )


def _cells(rows):
    return Cell(band=int(max(rows["band"] or 0, 0)), positive=rows["positive"], total=rows["total"])


def counted(visible=None, collection=None):
    """The standing decisions' cells (review.summaries) of pairs whose two collections are among visible
    (None: all), or whose first image is in collection: what standing_decisions() filtered so counts."""
    cells = DecisionCount.objects.filter(facet=summaries.CALIBRATION).exclude(n=0)
    if visible is not None:
        cells = cells.filter(collection_id__in=visible, collection_b_id__in=visible)
    if collection is not None:
        cells = cells.filter(collection_id=collection.pk)
    return cells


def _cell_rows(cells, *fields):
    """The cells summed as _counts' rows: band, fields, total, positive."""
    return (
        cells.values("band", *fields)
        .annotate(total=Sum("n"), positive=Sum("n", filter=Q(kind__in=POSITIVE)))
        .order_by()
    )


def _rows(decisions, *fields):
    """Rows of band, fields, total, positive: from the counts when decisions is None or a DecisionCount
    queryset (counted()), else grouped from the decisions given."""
    if decisions is None:
        decisions = counted()
    if decisions.model is DecisionCount:
        named = {field: field.removeprefix("pair__") for field in fields}
        for row in _cell_rows(decisions, *named.values()):
            renamed = {field: row[name] for field, name in named.items()}
            yield {**row, **renamed, "positive": row["positive"] or 0}
    else:
        yield from _counts(decisions, *fields)


def by_band(decisions=None):
    """Precision per score band, highest band first (every band, empty ones too): of the decisions
    given, or counted (None: every standing decision)."""
    cells = {b: Cell(b) for b in range(BANDS)}
    for row in _rows(decisions):
        cell = _cells(row)
        cells[cell.band].positive += cell.positive
        cells[cell.band].total += cell.total
    return [cells[b] for b in reversed(range(BANDS))]


def by_relation(decisions=None):
    """{relation label: [Cell, …] highest band first, only bands with decisions}."""
    table = {}
    for row in _rows(decisions, "pair__relation"):
        label = row["pair__relation"] or "—"
        cells = table.setdefault(label, {})
        cell = _cells(row)
        known = cells.setdefault(cell.band, Cell(cell.band))
        known.positive += cell.positive
        known.total += cell.total
    return {label: sorted(cells.values(), key=lambda c: -c.band) for label, cells in sorted(table.items())}


def suggest(cells, target=DEFAULT_TARGET, min_decisions=DEFAULT_MIN_DECISIONS):
    """The lowest band, walking down from the top, that still meets the target precision on at least
    min_decisions decisions. Bands with too little evidence are stepped over; the walk stops at the
    first well-evidenced band below the target, so one lucky low band cannot drag the cut-off past a
    bad one. Returns the Cell (its .low is the suggested review_min_score) or None."""
    chosen = None
    for cell in sorted(cells, key=lambda c: -c.band):
        if cell.total < min_decisions:
            continue
        if cell.precision < target:
            break
        chosen = cell
    return chosen


def suggestions(target=DEFAULT_TARGET, min_decisions=DEFAULT_MIN_DECISIONS, collections=None):
    """[(collection, Cell or None, bands)] for every collection (or those given)."""
    result = []
    collections = collections if collections is not None else Collection.objects.all()
    collections = list(collections.order_by("name"))
    found = {}
    for row in _cell_rows(counted().filter(collection_id__in=[c.pk for c in collections]), "collection_id"):
        found.setdefault(row["collection_id"], []).append(row)
    for collection in collections:
        cells = {b: Cell(b) for b in range(BANDS)}
        for row in found.get(collection.pk, ()):
            cell = _cells({**row, "positive": row["positive"] or 0})
            cells[cell.band].positive += cell.positive
            cells[cell.band].total += cell.total
        bands = [cells[b] for b in reversed(range(BANDS))]
        result.append((collection, suggest(bands, target, min_decisions), bands))
    return result


def apply(collection, min_score, actor):
    """Set the collection's review_min_score and record the change, in one transaction."""
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        before = dict(collection.policy or {})
        collection.policy = {**before, "review_min_score": min_score}
        collection.save(update_fields=["policy"])
        return PolicyChange.objects.create(
            collection=collection, actor=actor, before=before, after=collection.policy
        )


# --- automatic settling beyond exact copies -------------------------------------------------------------
# Switched on per collection and relation from a score upwards, only while the band from that score up
# holds at least MASTERCOPY_AUTO_MIN_DECISIONS standing human "duplicate" decisions and no rejection:
# no standing related/not-related decision, and no duplicate decision reverted or proposal declined.
OVERTURNS = (Decision.Kind.REVERT, Decision.Kind.DECLINE)


@dataclass
class AutoRow:
    relation: str
    low: float
    confirmations: int
    rejections: int
    enabled_from: float | None

    @property
    def eligible(self):
        return self.rejections == 0 and self.confirmations >= settings.MASTERCOPY_AUTO_MIN_DECISIONS


def _in_collection(decisions, collection):
    return decisions.filter(Q(pair__image_a__collection=collection) | Q(pair__image_b__collection=collection))


def _band(decisions, relation_field):
    rows = _with_band(decisions).values_list(relation_field, "band").annotate(n=Count("pk")).order_by()
    return {(relation, int(max(band or 0, 0))): n for relation, band, n in rows}


def counts_as_duplicate(relation, current):
    """A verified relation ("resized+recompressed") whose every label the collection counts as the same
    record, and that is not an exact copy (those are settled by the exact-copy rule already)."""
    return policy.same_record(relation, current) and not set(relation.split("+")) <= set(
        supervision.EXACT_RELATIONS
    )


def _counted_band(cells):
    rows = cells.values_list("relation", "band").annotate(n=Sum("n")).order_by()
    return {(relation, int(max(band or 0, 0))): n for relation, band, n in rows if n}


def auto_table(collection):
    """Per relation seen in the collection's decisions that it counts as a duplicate: for each score
    band's lower bound, the confirmations and rejections from that score up. From the counts
    (review.summaries): standing human decisions and overturns of pairs with an image in collection."""
    current = policy.for_collection(collection)
    ours = DecisionCount.objects.filter(Q(collection_id=collection.pk) | Q(collection_b_id=collection.pk))
    human = ours.filter(facet=summaries.CALIBRATION)
    confirmed = _counted_band(human.filter(kind=Decision.Kind.DUPLICATE))
    rejected = _counted_band(human.filter(kind__in=(Decision.Kind.RELATED, Decision.Kind.DISTINCT)))
    overturned = _counted_band(ours.filter(facet=summaries.OVERTURN))
    seen = {relation for relation, _band in (*confirmed, *rejected, *overturned)}
    table = {}
    for relation in sorted(seen | set(current["auto_relations"])):
        if not counts_as_duplicate(relation, current):
            continue
        rows, confirmations, rejections = [], 0, 0
        for band in reversed(range(BANDS)):
            confirmations += confirmed.get((relation, band), 0)
            rejections += rejected.get((relation, band), 0) + overturned.get((relation, band), 0)
            rows.append(
                AutoRow(
                    relation,
                    band / BANDS,
                    confirmations,
                    rejections,
                    current["auto_relations"].get(relation),
                )
            )
        table[relation] = rows
    return table


def lowest_eligible(rows):
    """The lowest score the evidence allows (the walk stops at the first band with a rejection)."""
    chosen = None
    for row in rows:  # highest score first
        if row.rejections:
            break
        if row.eligible:
            chosen = row
    return chosen


def _change_policy(collection, actor, reason, change):
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        before = dict(collection.policy or {})
        autos = dict(before.get("auto_relations") or {})
        change(autos)
        collection.policy = {**before, "auto_relations": autos}
        collection.save(update_fields=["policy"])
        return PolicyChange.objects.create(
            collection=collection, actor=actor, before=before, after=collection.policy, reason=reason[:500]
        )


class CalibrationError(Exception):
    """A refused calibration change, said to the user."""


def enable_auto(collection, relation, low, actor):
    """Switch automatic settling on for relation from score low, if the evidence allows it now."""
    rows = auto_table(collection).get(relation)
    row = next((r for r in rows or () if f"{r.low:.1f}" == f"{low:.1f}"), None)
    # Counts are cumulative from the top band down: no rejection here means none above either.
    if row is None or not row.eligible:
        raise CalibrationError(
            _("The evidence does not allow automatic settling of %(relation)s from %(score)s.")
            % {"relation": relation, "score": f"{low:.1f}"}
        )
    reason = _(
        "automatic settling of %(relation)s from score %(score)s: %(n)d confirmations, no rejection"
    ) % {"relation": relation, "score": f"{row.low:.1f}", "n": row.confirmations}
    return _change_policy(collection, actor, reason, lambda autos: autos.__setitem__(relation, row.low))


def disable_auto(collection, relation, actor, reason=""):
    reason = reason or _("automatic settling of %(relation)s switched off") % {"relation": relation}
    return _change_policy(collection, actor, reason, lambda autos: autos.pop(relation, None))


def _may_settle_automatically(decision):
    """Whether either collection of the decision's pair settles its relation automatically: one query
    on the policies when the caller did not hand the pair over with its images' collections (the
    system's implied decisions name the pair by id), so most decisions do not load pair, images and
    collections one by one for nothing."""
    pair = decision.pair if Decision.pair.is_cached(decision) else None
    if pair is not None and all(
        getattr(CandidatePair, side).is_cached(pair) and ImageFile.collection.is_cached(getattr(pair, side))
        for side in ("image_a", "image_b")
    ):
        return True  # the full check below costs no query
    row = (
        CandidatePair.objects.filter(pk=decision.pair_id)
        .values_list("relation", "image_a__collection__policy", "image_b__collection__policy")
        .first()
    )
    return row is not None and any(row[0] in ((found or {}).get("auto_relations") or {}) for found in row[1:])


def suspend_on_rejection(decision):
    """A rejection in a band settled automatically switches that relation's automatic settling off in
    the pair's collections, recorded as the system's policy change. Called for every new decision."""
    rejecting = decision.kind in (Decision.Kind.RELATED, Decision.Kind.DISTINCT) and not decision.pending
    overturning = (
        decision.kind in OVERTURNS
        and decision.corrects_id is not None
        and decision.corrects.kind == Decision.Kind.DUPLICATE
    )
    if not (rejecting or overturning) or decision.pair_id is None:
        return []
    if not _may_settle_automatically(decision):
        return []
    pair = decision.pair
    changes = []
    for collection in {pair.image_a.collection, pair.image_b.collection}:
        low = policy.for_collection(collection)["auto_relations"].get(pair.relation)
        if low is None or pair.score < float(low):
            continue
        reason = _(
            "automatic settling of %(relation)s suspended: decision %(pk)s (%(kind)s) rejects a pair "
            "scoring %(score)s"
        ) % {
            "relation": pair.relation,
            "pk": decision.pk,
            "kind": decision.get_kind_display(),
            "score": f"{pair.score:.2f}",
        }
        changes.append(disable_auto(collection, pair.relation, None, reason))
    return changes
