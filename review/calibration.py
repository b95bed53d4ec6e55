"""Calibration: how often people found the pairs in each score band to be the same or related picture,
and the review cut-off that evidence suggests for each collection.

Only human decisions that still stand count: automatic ones say nothing about the score, and a decision
later undone or reverted is not what the institution concluded."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, IntegerField, Q, Value
from django.db.models.functions import Cast, Floor, Least

from catalogue.models import Collection, PolicyChange

from . import supervision
from .models import Decision

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
    return supervision.standing(Decision.objects.filter(automatic=False, kind__in=JUDGED, pair__isnull=False))


def _counts(decisions, *fields):
    return (
        decisions.annotate(
            band=Least(Cast(Floor(F("pair__score") * BANDS), IntegerField()), Value(BANDS - 1))
        )
        .values("band", *fields)
        .annotate(total=Count("pk"), positive=Count("pk", filter=Q(kind__in=POSITIVE)))
        .order_by()
    )


def _cells(rows):
    return Cell(band=int(max(rows["band"] or 0, 0)), positive=rows["positive"], total=rows["total"])


def by_band(decisions=None):
    """Precision per score band, highest band first (every band, empty ones too)."""
    cells = {b: Cell(b) for b in range(BANDS)}
    for row in _counts(decisions if decisions is not None else standing_decisions()):
        cell = _cells(row)
        cells[cell.band].positive += cell.positive
        cells[cell.band].total += cell.total
    return [cells[b] for b in reversed(range(BANDS))]


def by_relation(decisions=None):
    """{relation label: [Cell, …] highest band first, only bands with decisions}."""
    table = {}
    for row in _counts(decisions if decisions is not None else standing_decisions(), "pair__relation"):
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


def suggestions(target=DEFAULT_TARGET, min_decisions=DEFAULT_MIN_DECISIONS):
    """[(collection, Cell or None, bands)] for every collection."""
    result = []
    for collection in Collection.objects.order_by("name"):
        bands = by_band(standing_decisions().filter(pair__image_a__collection=collection))
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
