"""The supervisor pages' counts, kept with the decisions: one row per cell (facet, period, actor, kind,
the pair's two collections, relation, score band) with the number of decisions, or of pairs, in it.

after_record runs in the transaction that writes each decision (review.apps connects it to the
decision's post_save, after_record_many to record_many's decisions_recorded; under the
chain lock, so the cells' writers are one at a time). A decision changes only what is counted of its
own pair: the pair's decisions are read (a handful of rows), what they contribute is worked out
without and with the new decision, and the difference is added to the cells in one upsert. rebuild()
recounts everything from the log (the repair_summaries command, and the migration that made the
table): the test suite checks that the two agree after decisions, undos, reverts, declines and batches.

The facets, each spelled as the page that reads it counts (review.calibration, review.supervision):

- calibration: people's standing judgements (duplicate, related, distinct; not pending, not undone or
  reverted), by pair collections, relation and score tenth (calibration.standing_decisions);
- overturn: reverts and declines of a duplicate decision (calibration.auto_table's rejections);
- chart: decisions per local day, kind, collections and score tenth (-1: no score), corrections and
  approvals left out (supervision.chart_data);
- kept / total / touched / overturned: for the figures page, per cataloguer, the pairs whose latest
  such decision fell on a day: kept (by kind), decided in the end (total), decided at all (touched),
  decided and later undone, reverted or declined (overturned). A period from a day onwards holds a
  pair exactly when its latest decision is in it, so summing the days from the start counts each pair
  once (supervision.cataloguer_figures' distinct pairs);
- hour: a cataloguer's deciding decisions per local hour (the figures' active hours);
- log: every decision, by actor (0: none), kind and collections (the decision log's count).

A pair's collections, relation and score are read when its decisions are recorded: a pair re-verified
to another score or relation after people decided it keeps its old cells until repair_summaries.
"""

import math
from collections import Counter
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

CALIBRATION = "calibration"
OVERTURN = "overturn"
CHART = "chart"
KEPT = "kept"
TOTAL = "total"
TOUCHED = "touched"
OVERTURNED = "overturned"
HOUR = "hour"
LOG = "log"

# Placeholders of the cells' key for what a facet does not count by (NULLs would not meet in a unique
# key): no period, no actor, no kind, no collection (a decision without a pair), no score band.
NO_PERIOD = datetime(1970, 1, 1, tzinfo=UTC)
NO_BAND = -1

JUDGED = ("duplicate", "related", "distinct")
CORRECTIONS = ("undo", "revert", "decline")
OVERTURNS = ("revert", "decline")
BANDS = 10

TABLE = "review_decisioncount"
KEY = ("facet", "period", "actor_id", "kind", "collection_id", "collection_b_id", "relation", "band")


def band(score):
    """The score's tenth, 0 … 9, as the pages compute it (Least(Floor(score * 10), 9), at least 0)."""
    if score is None:
        return 0
    return max(min(int(math.floor(score * BANDS)), BANDS - 1), 0)


def _day(moment):
    local = timezone.localtime(moment)
    return timezone.make_aware(datetime(local.year, local.month, local.day), timezone.get_current_timezone())


def _hour(moment):
    local = timezone.localtime(moment)
    return timezone.make_aware(
        datetime(local.year, local.month, local.day, local.hour), timezone.get_current_timezone()
    )


def _columns():
    has_dep = (
        "(d.evidence ? 'depends_on')"
        if connection.vendor == "postgresql"
        else "(json_type(d.evidence, '$.depends_on') IS NOT NULL)"
    )
    return (
        "d.id, d.kind, d.actor_id, d.automatic, d.pending, d.approves_id, d.corrects_id, d.flagged, "
        f"{has_dep}, d.created_at, p.score, p.relation, a.collection_id, b.collection_id"
    )


_FROM = (
    "review_decision d LEFT JOIN dedup_candidatepair p ON p.id = d.pair_id "
    "LEFT JOIN catalogue_imagefile a ON a.id = p.image_a_id "
    "LEFT JOIN catalogue_imagefile b ON b.id = p.image_b_id"
)
# What a decision's counts depend on: the decisions of its pair, or for one without a pair, that
# decision and its corrections.
_UNIT = "COALESCE(d.pair_id, -COALESCE(d.corrects_id, d.id))"


class _Row:
    __slots__ = (
        "id", "kind", "actor", "automatic", "pending", "approves", "corrects", "flagged", "has_dep", "at",
        "score", "relation", "a", "b",
    )

    def __init__(self, values):
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)
        self.at = _aware(self.at)


def _aware(value):
    if isinstance(value, str):  # SQLite through a plain cursor
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def contributions(rows):
    """{cell key: n} that the decisions of one unit (a pair, or a decision without one and its
    corrections) add to the counts."""
    cells = Counter()
    if not rows:
        return cells
    first = rows[0]
    a, b = first.a or 0, first.b or 0
    relation = first.relation or ""
    paired = first.a is not None
    corrected = {}
    for row in rows:
        if row.corrects is not None:
            corrected.setdefault(row.corrects, set()).add(row.kind)
    latest = {}

    def late(key, row):
        if key not in latest or row.at > latest[key]:
            latest[key] = row.at

    for row in rows:
        corrections = corrected.get(row.id, set())
        cells[(LOG, NO_PERIOD, row.actor or 0, row.kind, a, b, "", NO_BAND)] += 1
        # Calibration: people's standing judgements.
        if (
            paired
            and not row.automatic
            and row.kind in JUDGED
            and not row.pending
            and not corrections
        ):
            cells[(CALIBRATION, NO_PERIOD, 0, row.kind, a, b, relation, band(row.score))] += 1
        if paired and row.kind in OVERTURNS and row.corrects is not None:
            target = next((r for r in rows if r.id == row.corrects), None)
            if target is not None and target.kind == "duplicate":
                cells[(OVERTURN, NO_PERIOD, 0, "", a, b, relation, band(row.score))] += 1
        # Charts: every decision but corrections and approvals, when it was taken.
        if row.kind not in CORRECTIONS and row.approves is None:
            tenth = band(row.score) if paired and row.score is not None else NO_BAND
            cells[(CHART, _day(row.at), 0, row.kind, a, b, "", tenth)] += 1
        # Figures: a person's own decisions (not an approval of someone's proposal, not a correction, not
        # the escalation a revert raises for a decision that may rest on the reverted one).
        own = (
            not row.automatic
            and row.actor is not None
            and row.approves is None
            and row.kind not in CORRECTIONS
            and not (row.kind == "escalate" and row.flagged and row.has_dep)
        )
        if not own:
            continue
        kept = "undo" not in corrections
        deciding = row.kind != "skip"
        if kept:
            late((KEPT, row.actor, row.kind), row)
            if deciding:
                late((TOTAL, row.actor, ""), row)
        if deciding:
            late((TOUCHED, row.actor, ""), row)
            cells[(HOUR, _hour(row.at), row.actor, "", a, b, "", NO_BAND)] += 1
            if corrections:
                late((OVERTURNED, row.actor, ""), row)
    for (facet, actor, kind), at in latest.items():
        cells[(facet, _day(at), actor, kind, a, b, "", NO_BAND)] += 1
    return cells


def _unit_rows(cursor, decision):
    """The decisions decision's counts depend on (each condition an index look-up)."""
    if decision.pair_id is not None:
        where, params = "d.pair_id = %s", [decision.pair_id]
    else:
        root = decision.corrects_id or decision.pk
        where, params = "d.pair_id IS NULL AND (d.id = %s OR d.corrects_id = %s)", [root, root]
    cursor.execute(
        f"SELECT {_columns()} FROM {_FROM} WHERE {where} ORDER BY d.id",  # noqa: S608 (constants)
        params,
    )
    return [_Row(values) for values in cursor.fetchall()]


def _add(cursor, cells):
    """Add {cell key: n} to the counts (one upsert)."""
    cells = [(key, n) for key, n in cells.items() if n]
    if not cells:
        return
    adapt = connection.ops.adapt_datetimefield_value
    values, params = [], []
    for key, n in sorted(cells, key=lambda cell: tuple(map(str, cell[0]))):
        facet, period, *rest = key
        values.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s)")
        params += [facet, adapt(period), *rest, n]
    columns = ", ".join(KEY)
    cursor.execute(
        f"INSERT INTO {TABLE} ({columns}, n) VALUES {', '.join(values)} "  # noqa: S608 (constants)
        f"ON CONFLICT ({columns}) DO UPDATE SET n = {TABLE}.n + excluded.n",
        params,
    )


def after_record(decision):
    """Bring the counts up to date for a decision just saved (inside its transaction)."""
    with connection.cursor() as cursor:
        rows = _unit_rows(cursor, decision)
        before = contributions([row for row in rows if row.id != decision.pk])
        after = contributions(rows)
        delta = Counter(after)
        delta.subtract(before)
        _add(cursor, delta)


def after_record_many(decisions):
    """after_record for decisions just saved together (Decision.objects.record_many), in one read of
    their pairs' decisions and one upsert per 500 cells: per pair, what its decisions contribute with
    and without the new ones, which is the sum of what after_record adds for each in turn."""
    new = {decision.pk for decision in decisions}
    units = sorted({decision.pair_id for decision in decisions if decision.pair_id is not None})
    delta = Counter()
    with connection.cursor() as cursor:
        for start in range(0, len(units), 1000):
            chunk = units[start : start + 1000]
            cursor.execute(
                f"SELECT d.pair_id, {_columns()} FROM {_FROM} "  # noqa: S608 (constants)
                f"WHERE d.pair_id IN ({', '.join(['%s'] * len(chunk))}) ORDER BY d.pair_id, d.id",
                chunk,
            )
            by_pair = {}
            for values in cursor.fetchall():
                by_pair.setdefault(values[0], []).append(_Row(values[1:]))
            for rows in by_pair.values():
                delta.update(contributions(rows))
                delta.subtract(contributions([row for row in rows if row.id not in new]))
        cells = [(key, n) for key, n in delta.items() if n]
        for start in range(0, len(cells), 500):
            _add(cursor, dict(cells[start : start + 500]))
    for decision in decisions:
        if decision.pair_id is None:
            after_record(decision)  # none of record_many's callers records these; kept exact anyway


def rebuild(chunk=20_000):
    """Recount every cell from the decision log (a full pass: for repairs, not pages). Returns the
    number of cells."""
    from .models import lock_chain

    with transaction.atomic():
        lock_chain()  # no decision is recorded meanwhile
        totals = Counter()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 (constant)
        with connection.chunked_cursor() as cursor:
            cursor.execute(
                f"SELECT {_UNIT}, {_columns()} FROM {_FROM} ORDER BY 1, d.id"  # noqa: S608 (constants)
            )
            unit, rows = None, []
            while True:
                fetched = cursor.fetchmany(chunk)
                for values in fetched:
                    if values[0] != unit:
                        totals.update(contributions(rows))
                        unit, rows = values[0], []
                    rows.append(_Row(values[1:]))
                if not fetched:
                    break
            totals.update(contributions(rows))
        with connection.cursor() as cursor:
            items = list(totals.items())
            for start in range(0, len(items), 500):
                _add(cursor, dict(items[start : start + 500]))
    return len(totals)
