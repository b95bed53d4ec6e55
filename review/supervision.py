"""What a supervisor does with decisions: revert them (one, or a cataloguer's period), see who decided
what, and export the outcome. Reverts are new decisions, never edits (see review.audit)."""

import uuid
from collections import Counter, defaultdict
from datetime import date, timedelta

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Sum, Value
from django.db.models.functions import Cast, Floor, Least, Trunc, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue import access
from catalogue.models import CatalogueRecord

from . import decisions, implied, summaries
from .models import Decision, DecisionCount, ReReviewItem, ReviewItem, not_corrected

REVERTIBLE = decisions.SETTLING
# Relations that say the two files are the same picture, bit for bit or pixel for pixel.
EXACT_RELATIONS = ("identical", "pixel-identical")


class SupervisionError(Exception):
    """A refused supervisor action, said to the user."""


def standing(decisions):
    """Decisions not undone or reverted since."""
    return decisions.filter(not_corrected())


def touched_records(decision):
    ids = {state["record"] for state in decision.before}
    if decision.pair_id:
        ids |= {decision.pair.image_a.record_id, decision.pair.image_b.record_id}
    return ids


def dependents(decision, exclude=()):
    """Later standing decisions that touch any record this one touched: their outcome may rest on it."""
    records = touched_records(decision)
    later = standing(Decision.objects.filter(sequence__gt=decision.sequence)).exclude(
        kind__in=[Decision.Kind.UNDO, Decision.Kind.REVERT, Decision.Kind.SKIP]
    )
    later = later.filter(
        Q(pair__image_a__record__in=records)
        | Q(pair__image_b__record__in=records)
        | Q(master__in=records)
        | Q(superseded__in=records)
    ).exclude(flagged=True, evidence__has_key="depends_on")
    # The system's decisions that followed from this one are reopened instead (review.implied).
    later = later.exclude(automatic=True, evidence__has_key=implied.MARK)
    return list(later.exclude(pk__in=[d.pk for d in exclude]).distinct().order_by("sequence"))


def _requeue(pair):
    """The reverted pair waits for a person again, whether or not it was ever in the queue."""
    item, _created = ReviewItem.objects.get_or_create(
        pair=pair,
        defaults={
            "collection_id": pair.image_a.collection_id,
            "relation": pair.relation,
            "score": pair.score,
            "priority": pair.priority,
        },
    )
    item.reopen(clear_skip=True)


def _flag_dependent(dependent, reverted, supervisor, batch=None):
    decisions.record(
        Decision.Kind.ESCALATE,
        pair=dependent.pair,
        actor=supervisor,
        flagged=True,
        reason=_("decision %(dependent)s may rest on decision %(reverted)s, which was reverted")
        % {"dependent": dependent.pk, "reverted": reverted.pk},
        evidence={"depends_on": reverted.pk, "dependent": dependent.pk},
        before=decisions.record_states(dependent.pair.image_a.record, dependent.pair.image_b.record)
        if dependent.pair_id
        else [],
        batch=batch,
    )


def _revert_one(decision, supervisor, reason, together=(), batch=None):
    """Revert decision; together: the other decisions reverted in the same action (not flagged as its
    dependents); batch: the batch id the revert decisions get."""
    if decision.kind not in REVERTIBLE:
        raise SupervisionError(_("Only duplicate, related and not-related decisions can be reverted."))
    if decision.pending:
        raise SupervisionError(
            _("This decision waited for approval and changed nothing: decline it, or revert its approval.")
        )
    if decision.corrections.exists():
        raise SupervisionError(_("This decision has already been undone or reverted."))
    ids = sorted({state["record"] for state in decision.before})
    list(CatalogueRecord.objects.select_for_update().filter(pk__in=ids))
    current = [decisions.current_state(state) for state in decision.before]
    closed = list(implied.citing(decision))
    decisions.restore_before(decision)
    flagged = dependents(decision, exclude=together)
    revert = decisions.record(
        Decision.Kind.REVERT,
        pair=decision.pair,
        actor=supervisor,
        corrects=decision,
        reason=reason or _("revert of %(kind)s") % {"kind": decision.get_kind_display()},
        evidence={"dependents": [d.pk for d in flagged]},
        before=current,
        after=[decisions.current_state(state) for state in decision.before],
        effects={"link_removed": decision.effects["link_created"]}
        if decision.effects.get("link_created")
        else {},
        batch=batch,
    )
    for dependent in flagged:
        _flag_dependent(dependent, decision, supervisor, batch)
    if decision.pair_id:
        _requeue(decision.pair)
        if decision.kind == Decision.Kind.DUPLICATE:
            decisions.regroup_after_commit(decision.pair_id)
    implied.reopen(closed, revert)
    return revert


@decisions.chain_transaction()
def revert(decision, supervisor, reason=""):
    """Revert one decision: its records return exactly to their state before it, its pair returns to
    the queue, and later decisions on the same records are flagged for a supervisor."""
    decision = Decision.objects.select_related("pair__image_a", "pair__image_b").get(pk=decision.pk)
    return _revert_one(decision, supervisor, reason)


def period_decisions(cataloguer, start, end, visible=None):
    """The cataloguer's standing decisions that took effect in [start, end): their own, and those of
    their proposals a supervisor approved (the applied decision, by whenever it was proposed).
    visible: ids of the collections the supervisor may see (catalogue.access), None for all."""
    decisions = standing(
        Decision.objects.filter(kind__in=REVERTIBLE, pending=False).filter(
            Q(actor=cataloguer, approves__isnull=True, created_at__gte=start, created_at__lt=end)
            | Q(approves__actor=cataloguer, approves__created_at__gte=start, approves__created_at__lt=end)
        )
    )
    return access.within(decisions, visible, *access.DECISION_COLLECTIONS)


@decisions.chain_transaction()
def revert_period(cataloguer, start, end, supervisor, reason="", visible=None):
    """Revert all of one cataloguer's standing decisions made in [start, end), newest first, so each
    restores the state the one before it left; decisions in the batch are not flagged as dependents.
    visible: the supervisor's collections (catalogue.access.visible_ids); decisions on a pair in any
    other collection are left alone, as the supervisor cannot see them to judge them."""
    batch = list(
        period_decisions(cataloguer, start, end, visible)
        .select_related("pair__image_a", "pair__image_b")
        .order_by("-sequence")
    )
    reason = reason or _("revert of %(user)s's decisions from %(start)s to %(end)s") % {
        "user": cataloguer.get_username(),
        "start": start.isoformat(timespec="minutes"),
        "end": end.isoformat(timespec="minutes"),
    }
    return [_revert_one(decision, supervisor, reason, batch) for decision in batch]


def batch_decisions(batch):
    """The decisions recorded under one batch id, in the order of the chain."""
    try:
        batch = uuid.UUID(str(batch))
    except ValueError:
        return Decision.objects.none()
    return Decision.objects.filter(batch=batch).order_by("sequence")


@decisions.chain_transaction()
def revert_batch(batch, supervisor, reason=""):
    """Revert a whole batch (a group screen's submit, a band decision) in one transaction: every
    standing applied decision of it, newest first, so the catalogue returns exactly to its state before
    the batch; proposals of it still waiting for approval are declined. Decisions of the batch are not
    flagged as each other's dependents; later decisions outside it on the same records are. The
    reverts and declines share a new batch id of their own. Returns the decisions recorded; refuses a
    batch with nothing left standing (SupervisionError), so a double submit reverts once."""
    members = list(
        batch_decisions(batch).select_related("pair__image_a__record", "pair__image_b__record", "actor")
    )
    if not members:
        raise SupervisionError(_("There is no such batch of decisions."))
    corrected = set(
        Decision.objects.filter(corrects__in=[d.pk for d in members]).values_list("corrects_id", flat=True)
    )
    approved = set(
        Decision.objects.filter(approves__in=[d.pk for d in members]).values_list("approves_id", flat=True)
    )
    standing_members = [d for d in members if d.pk not in corrected]
    applied = [d for d in standing_members if d.kind in REVERTIBLE and not d.pending]
    waiting_members = [d for d in standing_members if d.pending and d.pk not in approved]
    if not applied and not waiting_members:
        raise SupervisionError(_("Every decision of this batch has already been undone or reverted."))
    reason = reason or _("revert of batch %(batch)s") % {"batch": members[0].batch}
    own = decisions.new_batch()
    recorded = [
        _revert_one(decision, supervisor, reason, applied, own)
        for decision in sorted(applied, key=lambda d: d.sequence, reverse=True)
    ]
    for proposal in waiting_members:
        recorded.append(_withdraw(proposal, supervisor, reason, own))
    return recorded


def _withdraw(proposal, supervisor, reason, batch):
    """A waiting proposal of a reverted batch is declined (it changed nothing) and its pair reopened."""
    a, b = proposal.pair.image_a.record, proposal.pair.image_b.record
    decline = decisions.record(
        Decision.Kind.DECLINE,
        pair=proposal.pair,
        actor=supervisor,
        corrects=proposal,
        reason=reason,
        evidence={"proposal": proposal.pk},
        before=decisions.record_states(a, b),
        after=decisions.record_states(a, b),
        batch=batch,
    )
    ReviewItem.objects.filter(pair_id=proposal.pair_id).reopen()
    return decline




# --- figures ----------------------------------------------------------------------------------------


def cataloguer_figures(decisions):
    """Per person: pairs decided, their mix, escalations, pairs per active hour, overturns, and agreement
    with sample re-review. Pairs, not decision rows: a pair decided, undone and decided again counts
    once, in the mix by what it was decided in the end (a decision its author undid is a keystroke
    taken back, not part of the mix); the supervisor's approval that applied a proposal is not counted
    again (the proposal is its proposer's); the escalations a revert raises for later decisions that may
    rest on it are the revert's consequences, not its author's escalations. A skip decides nothing: it
    has its column and is not in the total. Overturned: pairs on which a decision of theirs was later
    undone, reverted or declined; the overturn rate divides it by every pair they decided, undone or
    not. Counted by the database (grouped queries), not row by row."""
    own = (
        decisions.filter(automatic=False, actor__isnull=False, approves__isnull=True)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.REVERT, Decision.Kind.DECLINE])
        .exclude(kind=Decision.Kind.ESCALATE, flagged=True, evidence__has_key="depends_on")
    )
    deciding = own.exclude(kind=Decision.Kind.SKIP)
    taken_back = Exists(Decision.objects.filter(corrects=OuterRef("pk"), kind=Decision.Kind.UNDO))
    kept = own.exclude(taken_back)
    people = defaultdict(lambda: {"kinds": Counter(), "total": 0, "touched": 0, "hours": 0, "overturned": 0})
    names = {}
    for actor, name, kind, n in (
        kept.values_list("actor_id", "actor__username", "kind").annotate(n=_pairs()).order_by()
    ):
        names[actor] = name
        people[actor]["kinds"][kind] += n
    decided = kept.exclude(kind=Decision.Kind.SKIP)
    for actor, n in decided.values_list("actor_id").annotate(n=_pairs()).order_by():
        people[actor]["total"] = n
    touched = deciding.values_list("actor_id", "actor__username").annotate(n=_pairs())
    for actor, name, n in touched.order_by():
        names[actor] = name
        people[actor]["touched"] = n
    hours = deciding.values_list("actor_id").annotate(n=Count(Trunc("created_at", "hour"), distinct=True))
    for actor, n in hours.order_by():
        people[actor]["hours"] = n
    overturned = deciding.filter(Exists(Decision.objects.filter(corrects=OuterRef("pk"))))
    for actor, n in overturned.values_list("actor_id").annotate(n=_pairs()).order_by():
        people[actor]["overturned"] = n
    return _figure_rows(people, names, _rereview_agreement(decisions))


def _figure_rows(people, names, rereviewed):
    figures = []
    for actor, name in sorted(names.items(), key=lambda item: item[1]):
        person = people[actor]
        total, touched = person["total"], person["touched"]
        answered, agreed = rereviewed.get(actor, (0, 0))
        figures.append(
            {
                "actor": actor,
                "name": name,
                "total": total,
                "kinds": [(kind, label, person["kinds"][kind]) for kind, label in Decision.Kind.choices[:5]],
                "escalations": person["kinds"][Decision.Kind.ESCALATE],
                "active_hours": person["hours"],
                "per_hour": round(total / max(person["hours"], 1), 1),
                "overturned": person["overturned"],
                "overturn_rate": round(person["overturned"] / touched, 3) if touched else 0.0,
                "rereviewed": answered,
                "agreement": round(agreed / answered, 3) if answered else None,
            }
        )
    return figures


def _counted_cells(facets, since, visible):
    """The cells of these facets (review.summaries) from the moment since on, of pairs whose two
    collections are among visible (None: every decision, those without a pair too)."""
    cells = DecisionCount.objects.filter(facet__in=facets, period__gte=since).exclude(n=0)
    if visible is not None:
        cells = cells.filter(collection_id__in=visible, collection_b_id__in=visible)
    return cells


def counted_figures(since, visible, decisions):
    """cataloguer_figures of the decisions from the moment since on (a day's start) whose pairs' two
    collections are among visible (None: all), from the counts (review.summaries) instead of the log:
    a few dozen rows per cataloguer and day. decisions: those same decisions (a queryset, for the
    re-review agreement, which reads the answered re-review items)."""
    from django.contrib.auth import get_user_model

    facets = (summaries.KEPT, summaries.TOTAL, summaries.TOUCHED, summaries.OVERTURNED)
    people = defaultdict(lambda: {"kinds": Counter(), "total": 0, "touched": 0, "hours": 0, "overturned": 0})
    named = set()
    rows = _counted_cells(facets, since, visible).values_list("facet", "actor_id", "kind")
    rows = rows.annotate(n=Sum("n"))
    for facet, actor, kind, n in rows.order_by():
        if not n:
            continue
        if facet == summaries.KEPT:
            people[actor]["kinds"][kind] += n
            named.add(actor)
        elif facet == summaries.TOUCHED:
            people[actor]["touched"] = n
            named.add(actor)
        else:
            people[actor][{summaries.TOTAL: "total", summaries.OVERTURNED: "overturned"}[facet]] = n
    # Each active hour once (a hash of the period's few thousand hours, not a sort for COUNT DISTINCT).
    hours = _counted_cells([summaries.HOUR], since, visible).values_list("actor_id", "period").distinct()
    for actor, _hour in hours.order_by():
        people[actor]["hours"] += 1
    names = dict(get_user_model().objects.filter(pk__in=named).values_list("pk", "username"))
    return _figure_rows(people, names, _rereview_agreement(decisions))


def _pairs():
    """Distinct pairs in a group (a decision without a pair counts as one)."""
    return Count("pair", distinct=True) + Count("pk", filter=Q(pair__isnull=True))


def _rereview_agreement(decisions):
    """{actor id: (re-reviewed, agreed)}: how often a blind second look reached the same verdict as the
    person's decisions among these."""
    counts = defaultdict(lambda: [0, 0])
    answered = ReReviewItem.objects.exclude(kind="").filter(decision__in=decisions.values("pk"))
    for actor, kind, first in answered.values_list("decision__actor_id", "kind", "decision__kind"):
        counts[actor][0] += 1
        counts[actor][1] += kind == first
    return {actor: tuple(pair) for actor, pair in counts.items()}


def chart_data(decisions):
    """Decisions per day by kind, and the score distribution (tenths) by kind, for the charts page
    (grouped by the database: one row per day and kind, one per tenth and kind)."""
    corrections = (Decision.Kind.UNDO, Decision.Kind.REVERT, Decision.Kind.DECLINE)
    kinds = [k for k, _label in Decision.Kind.choices if k not in corrections]
    per_day = defaultdict(Counter)
    scores = {kind: [0] * 10 for kind in kinds}
    # An approval applies a proposal already counted: each decision is counted once, when proposed.
    counted = decisions.filter(kind__in=kinds, approves__isnull=True)
    for kind, day, n in (
        counted.values_list("kind", TruncDate("created_at")).annotate(n=Count("pk")).order_by()
    ):
        per_day[day.isoformat()][kind] += n
    tenth = Least(Cast(Floor(F("pair__score") * 10), IntegerField()), Value(9))
    for kind, band, n in (
        counted.exclude(pair__score=None)
        .values_list("kind", tenth)
        .annotate(n=Count("pk"))
        .order_by()
    ):
        scores[kind][max(band, 0)] += n
    return _chart(kinds, per_day, scores)


def counted_chart_data(since, visible):
    """chart_data of the decisions from the moment since on whose pairs' two collections are among
    visible (None: all), from the counts (review.summaries): one row per day, kind and score tenth."""
    corrections = (Decision.Kind.UNDO, Decision.Kind.REVERT, Decision.Kind.DECLINE)
    kinds = [k for k, _label in Decision.Kind.choices if k not in corrections]
    per_day = defaultdict(Counter)
    scores = {kind: [0] * 10 for kind in kinds}
    cells = _counted_cells([summaries.CHART], since, visible)
    for kind, period, tenth, n in cells.values_list("kind", "period", "band").annotate(n=Sum("n")).order_by():
        if not n or kind not in scores:
            continue
        per_day[timezone.localtime(period).date().isoformat()][kind] += n
        if tenth >= 0:
            scores[kind][tenth] += n
    return _chart(kinds, per_day, scores)


def _chart(kinds, per_day, scores):
    """The charts page's data from decisions per day and kind and per score tenth and kind (from the log
    or from the counts)."""
    days = _days(sorted(per_day))
    labels = dict(Decision.Kind.choices)
    return {
        "days": days,
        "over_time": [
            {"kind": kind, "label": str(labels[kind]), "counts": [per_day[d][kind] for d in days]}
            for kind in kinds
        ],
        "bands": [f"{n / 10:.1f}–{(n + 1) / 10:.1f}" for n in range(10)],
        "scores": [{"kind": kind, "label": str(labels[kind]), "counts": scores[kind]} for kind in kinds],
    }


def _days(present):
    if not present:
        return []
    first, last = (date.fromisoformat(d) for d in (present[0], present[-1]))
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
