"""Decisions and their consequences in the catalogue, and the review queue's leases.

Every function that changes more than one row runs inside one transaction, so a decision, its
catalogue changes and the queue item that it takes out of the queue are written together or not at all.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue import access
from catalogue.models import CatalogueRecord
from dedup.models import CandidatePair

from . import approval, implied
from .decisions import (
    MERGE_FIELDS,
    SETTLING,
    ReviewError,
    chain_transaction,
    comparable,
    contradiction,
    current_state,
    decide,
    decide_duplicate,
    new_batch,
    pair_evidence,
    record,
    record_states,
    reference_refusal,
    regroup_after_commit,
    restore_before,
)
from .models import Decision, ReviewItem, not_corrected

__all__ = [
    "MERGE_FIELDS",
    "SETTLING",
    "ReviewError",
    "contradiction",
    "decide",
    "decide_duplicate",
    "reference_refusal",
    "restore_before",
]

# Long enough to look closely at a hard pair, short enough that an abandoned item comes back soon.
LEASE = timedelta(minutes=10)
# After a skip the item goes to others first; the same person sees it again only after this.
SKIP_COOLDOWN = timedelta(minutes=30)
SCORE_BANDS = {
    "high": (0.9, None),
    "good": (0.75, 0.9),
    "fair": (0.5, 0.75),
    "weak": (None, 0.5),
}
ORDERS = {
    "easy": ("-priority", "-score", "pk"),
    "hard": ("priority", "score", "pk"),
}


# --- the queue --------------------------------------------------------------------------------------


def _new_items(rows):
    """Queue items for (pk, collection, relation, score, priority) rows of review-tier pairs; a
    pair someone already settled gets its item decided, pointing at that decision."""
    settled = dict(
        Decision.objects.filter(
            not_corrected(), pair__in=[row[0] for row in rows], kind__in=SETTLING, pending=False
        ).values_list("pair_id", "pk")
    )
    return [
        ReviewItem.for_pair_row(pk, collection, relation, score, priority, settled.get(pk))
        for pk, collection, relation, score, priority in rows
    ]


def queue_pair(pair):
    """Give a pair the tier rules just put in the review tier its queue item, in their transaction
    (dedup.events.pair_for_review). A pair that already has one keeps it, so decisions stick."""
    queue_pairs([pair])


def settle_or_queue(pair, master_image, reason):
    """Settle a pair the tier rules settled automatically (dedup.events.pair_settled), or, when the
    catalogue refuses the merge (the other record already belongs to a reference collection's record),
    put it in the review tier with the refusal as its reason: a person decides it, and the rest of the
    verify batch goes on."""
    try:
        with transaction.atomic():  # a savepoint: decide_duplicate fails its enclosing transaction
            decide_duplicate(pair, master_image.record, automatic=True, reason=reason)
    except ReviewError as refusal:
        pair.tier, pair.tier_reason = CandidatePair.Tier.REVIEW, str(refusal)[:500]
        CandidatePair.objects.filter(pk=pair.pk).update(tier=pair.tier, tier_reason=pair.tier_reason)
        queue_pair(pair)


def queue_pairs(pairs):
    """queue_pair for many pairs at once (review.exact: pairs whose implied answers do not depend on
    each other, a verify batch's): their items in one insert, then one implied pass over them, by pair
    id."""
    rows = [(pair.pk, pair.image_a.collection_id, pair.relation, pair.score, pair.priority) for pair in pairs]
    ReviewItem.objects.bulk_create(_new_items(rows), batch_size=1000, ignore_conflicts=True)
    implied.settle_pairs([row[0] for row in rows])


def sync_queue():
    """Repair step, not part of the flow (the tier rules queue each pair as they put it in the review
    tier): give every verified review-tier pair without one its queue item. Run by resume_pending and
    the repair_queue command. Idempotent: pairs that already have an item, decided or not, are left
    alone, so decisions stick. Returns how many items it created."""
    missing = list(
        CandidatePair.objects.filter(
            tier=CandidatePair.Tier.REVIEW, verified=True, review_item__isnull=True
        ).values_list("pk", "image_a__collection_id", "relation", "score", "priority")
    )
    if not missing:
        return 0
    ReviewItem.objects.bulk_create(_new_items(missing), batch_size=1000, ignore_conflicts=True)
    implied.settle_pairs([row[0] for row in missing])
    return len(missing)


def band_q(band):
    """The condition for a score band (SCORE_BANDS key); everything for an unknown or empty one."""
    low, high = SCORE_BANDS.get(band or "", (None, None))
    condition = Q()
    if low is not None:
        condition &= Q(score__gte=low)
    if high is not None:
        condition &= Q(score__lt=high)
    return condition


def filtered(items, filters):
    if filters.get("collection"):
        items = items.filter(collection_id=filters["collection"])
    if filters.get("relation"):
        items = items.filter(relation=filters["relation"])
    return items.filter(band_q(filters.get("band")))


def visible_items(user):
    """The review items of pairs whose two collections user may see."""
    return access.only_visible(ReviewItem.objects.all(), user, "collection", "pair__image_b__collection")


def available(user, filters, now=None, escalated=False):
    now = now or timezone.now()
    status = ReviewItem.Status.ESCALATED if escalated else ReviewItem.Status.OPEN
    items = visible_items(user).filter(status=status).free_for(user, now)
    items = items.exclude(skipped_by=user, skipped_at__gt=now - SKIP_COOLDOWN)
    return filtered(items, filters)


def claim(item_pk, user, now=None):
    """Lease one item to user with a conditional UPDATE: of two simultaneous claims, exactly one
    matches the row (the other's WHERE no longer holds once the first commits), so it is the row count
    that says who won."""
    now = now or timezone.now()
    won = ReviewItem.objects.filter(pk=item_pk).claim(user, now, now + LEASE)
    if won:
        # One item at a time per person: leaving an item for the next gives the first back.
        ReviewItem.objects.filter(leased_by=user).exclude(pk=item_pk).release()
    return bool(won)


def claim_next(user, filters, order="easy", escalated=False, group=None, resume=True):
    """The next item for user (the one they already hold first, then the same candidate group, then
    the queue order), leased to them; None when nothing is left."""
    now = timezone.now()
    items = available(user, filters, now, escalated)
    held = (
        resume and items.filter(leased_by=user, lease_expires_at__gt=now).values_list("pk", flat=True).first()
    )
    if held:
        claim(held, user, now)
        return held
    for _attempt in range(5):
        candidates = []
        if group:
            # Through the pair: a regroup moves pairs between groups, never a copy on the item.
            same_group = items.filter(pair__group_id=group).order_by(*ORDERS["easy"])
            candidates += list(same_group.values_list("pk", flat=True)[:5])
        ordered = items.order_by(*ORDERS.get(order, ORDERS["easy"]))
        candidates += list(ordered.values_list("pk", flat=True)[:10])
        if not candidates:
            return None
        for pk in candidates:
            if claim(pk, user, now):
                return pk
    return None


def release(user):
    ReviewItem.objects.filter(leased_by=user).release()


# --- a cataloguer's decision on a queue item ----------------------------------------------------------


@chain_transaction()
def review(item_pk, user, kind, *, master_side=None, comment="", merge=(), supervisor=False):
    """Apply a cataloguer's decision on a leased item; returns the Decision recorded.

    A decision that contradicts the catalogue is not applied: it is recorded as an escalation, flagged,
    with the reason, and the item goes to the supervisors (who may then apply it)."""
    now = timezone.now()
    item = ReviewItem.objects.select_for_update().get(pk=item_pk)
    pair = CandidatePair.objects.select_related(
        "image_a__record", "image_b__record", "image_a__collection", "image_b__collection"
    ).get(pk=item.pair_id)
    if item.status == ReviewItem.Status.DECIDED:
        raise ReviewError(_("This pair has already been decided."))
    if item.status == ReviewItem.Status.PENDING:
        raise ReviewError(_("A decision on this pair waits for a supervisor's approval."))
    if item.status == ReviewItem.Status.ESCALATED and not supervisor:
        raise ReviewError(_("This pair waits for a supervisor."))
    if item.lease_held_by_other(user, now):
        raise ReviewError(_("Someone else is reviewing this pair."))
    previous_status = item.status
    if kind == Decision.Kind.SKIP:
        decision = decide(pair, kind, actor=user, comment=comment)
        item.skip(user, now)
    elif kind == Decision.Kind.ESCALATE:
        decision = decide(pair, kind, actor=user, comment=comment, reason=_("escalated by the reviewer"))
        item.escalate()
    else:
        conflict = "" if previous_status == ReviewItem.Status.ESCALATED else contradiction(pair, kind)
        if conflict:
            return _flag(item, pair, user, kind, master_side, comment, conflict)
        why = approval.reasons(pair, kind, user)
        if why:
            return approval.propose(item, pair, user, kind, master_side, comment, merge, why)
        if kind == Decision.Kind.DUPLICATE:
            image = pair.image_b if master_side == "right" else pair.image_a
            other = (pair.image_a if image is pair.image_b else pair.image_b).record.resolve()
            if not other.may_be_superseded_by(image.record):
                raise ReviewError(reference_refusal(other))
            decision = decide_duplicate(pair, image.record, actor=user, comment=comment, merge=merge)
        else:
            decision = decide(pair, kind, actor=user, comment=comment)
        return decision  # the decision took the item out of the queue and ended the lease
    return decision


def _flag(item, pair, user, kind, master_side, comment, conflict):
    a, b = pair.image_a.record, pair.image_b.record
    evidence = {**pair_evidence(pair), "proposed": kind, "master_side": master_side}
    decision = record(
        Decision.Kind.ESCALATE,
        pair=pair,
        actor=user,
        comment=comment,
        reason=_("contradicts earlier decisions: %(why)s") % {"why": conflict},
        evidence=evidence,
        before=record_states(a, b),
        after=record_states(a, b),
        flagged=True,
    )
    item.escalate()
    return decision


# --- undo -------------------------------------------------------------------------------------------


def last_decision(user):
    """The user's latest decision still standing: one already undone (or reverted) is passed over, so
    undo after undo goes back through the user's decisions one by one."""
    # NOT EXISTS, walked along decision_actor_latest newest first (an outer join to the corrections
    # made PostgreSQL read and sort every decision of the user: 150-350 ms at a million decisions).
    return (
        Decision.objects.filter(not_corrected(), actor=user, automatic=False)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.REVERT])
        .order_by("-created_at", "-pk")
        .first()
    )


@chain_transaction()
def undo_last(user):
    """Undo user's own last decision: a new Decision (kind undo, corrects it) that puts back the exact
    catalogue state from before, provided nothing has changed those records since. When it was one of
    a batch (a group screen's submit), all of user's decisions of that batch are undone together,
    newest first, or none. Returns the undo of the last decision."""
    last = last_decision(user)
    if last is None or last.corrections.exists():
        raise ReviewError(_("You have no decision to undo."))
    if last.batch is None:
        return _undo(last, user)
    together = (
        Decision.objects.filter(not_corrected(), batch=last.batch, actor=user)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.REVERT])
        .order_by("-sequence")
    )
    batch = new_batch()
    return [_undo(decision, user, batch) for decision in together][0]


def _undo(last, user, batch=None):
    if last.pending and last.approvals.exists():
        raise ReviewError(_("A supervisor has approved this decision; ask a supervisor to revert it."))
    # Evaluated (a queryset that is only built locks nothing): the comparison below reads locked rows.
    ids = {s["record"] for s in (*last.before, *last.after)}
    list(CatalogueRecord.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    now_states = [current_state(s) for s in last.after]
    if [comparable(s) for s in now_states] != [comparable(s) for s in last.after]:
        raise ReviewError(
            _("These records have changed since your decision; ask a supervisor to revert it instead.")
        )
    closed = list(implied.citing(last))
    restore_before(last)
    undo = record(
        Decision.Kind.UNDO,
        pair=last.pair,
        actor=user,
        corrects=last,
        reason=_("undo of %(kind)s") % {"kind": last.get_kind_display()},
        before=now_states,
        after=[current_state(s) for s in last.before],
        batch=batch,
    )
    if last.pair_id:
        _reopen(last, user)
        if last.kind == Decision.Kind.DUPLICATE:
            regroup_after_commit(last.pair_id)
    implied.reopen(closed, undo)
    return undo


def _reopen(last, user):
    """The undone pair comes back to the one who undid it, in the status it had before."""
    now = timezone.now()
    earlier = (
        Decision.objects.filter(pair_id=last.pair_id, created_at__lte=last.created_at)
        .filter(not_corrected())
        .exclude(pk=last.pk)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.SKIP])
        .order_by("-created_at", "-pk")
        .first()
    )
    status = ReviewItem.Status.OPEN
    if earlier is not None and earlier.kind == Decision.Kind.ESCALATE:
        status = ReviewItem.Status.ESCALATED
    ReviewItem.objects.filter(pair_id=last.pair_id).reopen(
        status, lease_to=user, until=now + LEASE, clear_skip=last.kind == Decision.Kind.SKIP
    )
