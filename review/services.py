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
from catalogue.models import CatalogueRecord, RecordLink
from dedup import grouping
from dedup.models import CandidatePair

from . import implied
from .models import Decision, ReviewItem, lock_chain

# Long enough to look closely at a hard pair, short enough that an abandoned item comes back soon.
LEASE = timedelta(minutes=10)
# After a skip the item goes to others first; the same person sees it again only after this.
SKIP_COOLDOWN = timedelta(minutes=30)
# Catalogue fields a cataloguer may carry from the superseded record into the master.
MERGE_FIELDS = ("title", "creator", "date_text", "rights", "credit_line", "source")
# Kinds that settle a pair; skip and escalate leave it waiting.
SETTLING = (Decision.Kind.DUPLICATE, Decision.Kind.RELATED, Decision.Kind.DISTINCT)
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


class ReviewError(Exception):
    """A request the queue refuses (someone else holds the item, nothing to undo, ...): said to the user."""


def reference_refusal(record):
    return _(
        "%(number)s is in the reference collection %(collection)s, whose records are never superseded by "
        "another collection's: keep it as the master, or call the pair related."
    ) % {"number": record.catalogue_number, "collection": record.collection.name}


def _evidence(pair):
    return {
        "score": pair.score,
        "tier": pair.tier,
        "relation": pair.relation,
        "relation_params": pair.relation_params,
        "explanation": pair.explanation,
        "distances": {
            name: getattr(pair, name)
            for name in (
                "phash_distance",
                "dhash_distance",
                "orientation_distance",
                "border_distance",
                "crop_distance",
            )
        },
    }


def _state(record, fields=()):
    state = record.state()
    if fields:
        merged = (record.metadata or {}).get("merged_fields", {})
        state["fields"] = {name: getattr(record, name) for name in fields}
        state["merged_fields"] = {name: merged.get(name) for name in fields}
    return state


def _states(*records):
    return [_state(r) for r in records if r is not None]


def _settle_item(pair, decision):
    ReviewItem.objects.filter(pair=pair).update(
        status=ReviewItem.Status.DECIDED,
        decision=decision,
        leased_by=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
    )


def _merge_fields(master, superseded, fields):
    """Carry the chosen fields' values from superseded into master; the source of each is kept."""
    merged = {}
    record_merges = dict((master.metadata or {}).get("merged_fields", {}))
    for name in fields:
        value = getattr(superseded, name)
        merged[name] = {
            "value": value,
            "previous": getattr(master, name),
            "from_record": superseded.pk,
            "from_number": superseded.catalogue_number,
        }
        setattr(master, name, value)
        record_merges[name] = dict(merged[name])
    master.metadata = {**(master.metadata or {}), "merged_fields": record_merges}
    master.save()
    return merged


@transaction.atomic(savepoint=False)
def decide_duplicate(
    pair,
    master_record,
    *,
    actor=None,
    automatic=False,
    reason="",
    comment="",
    merge=(),
    approves=None,
    evidence=None,
):
    """Supersede the other record of the pair by master_record, recording the decision; merge names
    fields whose values the superseded record gives to the master; evidence adds to what the decision
    records of the pair (licensing's updated versions say which file replaces which)."""
    lock_chain()
    records = {pair.image_a.record, pair.image_b.record}
    others = [r for r in records if r.pk != master_record.pk]
    superseded = others[0] if others else None
    touched = list(CatalogueRecord.objects.select_for_update().filter(pk__in=[r.pk for r in records]))
    followers = list(CatalogueRecord.objects.filter(master__in=[r.pk for r in others]))
    fields = [name for name in MERGE_FIELDS if name in merge] if superseded is not None else []
    target = master_record.resolve()
    before = [_state(r, fields if r.pk == target.pk else ()) for r in (*touched, *followers)]
    if target.pk not in {s["record"] for s in before}:
        before.append(_state(target, fields))
    if superseded is not None and not superseded.resolve().may_be_superseded_by(target):
        raise ReviewError(reference_refusal(superseded.resolve()))
    if superseded is not None and superseded.resolve().pk != target.pk:
        superseded.supersede(master_record)
    merged = {}
    if fields:
        merged = _merge_fields(CatalogueRecord.objects.get(pk=target.pk), superseded, fields)
    now = CatalogueRecord.objects.in_bulk([s["record"] for s in before])
    after = [_state(now[s["record"]], fields if s["record"] == target.pk else ()) for s in before]
    decision = Decision.objects.create(
        pair=pair,
        kind=Decision.Kind.DUPLICATE,
        master=master_record,
        superseded=superseded,
        actor=actor,
        automatic=automatic,
        reason=reason[:500],
        comment=comment,
        evidence={**_evidence(pair), **(evidence or {})},
        before=before,
        after=after,
        effects={"merged_fields": merged, "master": target.pk} if merged else {},
        approves=approves,
    )
    if merged:
        # The decision's id exists only now; the record says which decision brought each value.
        master = CatalogueRecord.objects.get(pk=target.pk)
        for name in merged:
            master.metadata["merged_fields"][name]["decision"] = decision.pk
        master.save(update_fields=["metadata", "updated_at"])
    _settle_item(pair, decision)
    implied.after(decision)
    regroup_after_commit(pair.pk)
    return decision


def regroup_after_commit(pair_id):
    """A duplicate decision (or its undo) changes which image its group proposes as master (the decided
    master leads, dedup.grouping): regroup the pair's component once the decision is committed, outside
    the chain lock (a regroup takes its own lock)."""
    transaction.on_commit(lambda: grouping.regroup_pairs([pair_id]), robust=True)


@transaction.atomic(savepoint=False)
def decide(pair, kind, *, actor, comment="", reason="", approves=None):
    """related, distinct, skip or escalate: record it; related links the two records both ways."""
    lock_chain()
    a, b = pair.image_a.record, pair.image_b.record
    effects = {}
    if kind == Decision.Kind.RELATED and a.pk != b.pk:
        existed = RecordLink.objects.filter(record_a_id=min(a.pk, b.pk), record_b_id=max(a.pk, b.pk)).exists()
        RecordLink.link(a, b, note=pair.relation)
        if not existed:
            effects["link_created"] = sorted((a.pk, b.pk))
    decision = Decision.objects.create(
        pair=pair,
        kind=kind,
        actor=actor,
        comment=comment,
        reason=reason[:500],
        evidence=_evidence(pair),
        before=_states(a, b),
        after=_states(a, b),
        effects=effects,
        approves=approves,
    )
    if kind in SETTLING:
        _settle_item(pair, decision)
        implied.after(decision)
    return decision


# --- contradictions ---------------------------------------------------------------------------------


def _distinct_decided(a, b):
    """A standing 'not related' decision between the two records (not undone)."""
    return (
        Decision.objects.filter(kind=Decision.Kind.DISTINCT, corrections__isnull=True, pending=False)
        .filter(
            Q(pair__image_a__record=a, pair__image_b__record=b)
            | Q(pair__image_a__record=b, pair__image_b__record=a)
        )
        .exists()
    )


def contradiction(pair, kind):
    """Why this decision contradicts the catalogue's current state, or "" when it does not."""
    a, b = pair.image_a.record, pair.image_b.record
    if a.pk == b.pk or kind not in SETTLING:
        return ""
    ra, rb = a.resolve(), b.resolve()
    if kind != Decision.Kind.DUPLICATE and ra.pk == rb.pk:
        return _("%(a)s and %(b)s are already one record group under master %(m)s") % {
            "a": a.catalogue_number,
            "b": b.catalogue_number,
            "m": ra.catalogue_number,
        }
    linked = RecordLink.objects.filter(
        Q(record_a_id=min(ra.pk, rb.pk), record_b_id=max(ra.pk, rb.pk))
        | Q(record_a_id=min(a.pk, b.pk), record_b_id=max(a.pk, b.pk))
    ).exists()
    if kind == Decision.Kind.DUPLICATE and linked:
        return _("%(a)s and %(b)s are already linked as related but distinct") % {
            "a": a.catalogue_number,
            "b": b.catalogue_number,
        }
    if kind == Decision.Kind.DUPLICATE and _distinct_decided(a, b):
        return _("%(a)s and %(b)s were already decided to be not related") % {
            "a": a.catalogue_number,
            "b": b.catalogue_number,
        }
    if kind == Decision.Kind.DISTINCT and linked:
        return _("%(a)s and %(b)s are already linked as related") % {
            "a": a.catalogue_number,
            "b": b.catalogue_number,
        }
    return ""


# --- the queue --------------------------------------------------------------------------------------


def _new_items(rows):
    """Queue items for (pk, collection, relation, score, priority) rows of review-tier pairs; a
    pair someone already settled gets its item decided, pointing at that decision."""
    settled = dict(
        Decision.objects.filter(
            pair__in=[row[0] for row in rows], kind__in=SETTLING, corrections__isnull=True, pending=False
        ).values_list("pair_id", "pk")
    )
    return [
        ReviewItem(
            pair_id=pk,
            collection_id=collection,
            relation=relation,
            score=score,
            priority=priority,
            status=ReviewItem.Status.DECIDED if pk in settled else ReviewItem.Status.OPEN,
            decision_id=settled.get(pk),
        )
        for pk, collection, relation, score, priority in rows
    ]


def queue_pair(pair):
    """Give a pair the tier rules just put in the review tier its queue item, in their transaction
    (dedup.events.pair_for_review). A pair that already has one keeps it, so decisions stick."""
    row = (pair.pk, pair.image_a.collection_id, pair.relation, pair.score, pair.priority)
    ReviewItem.objects.bulk_create(_new_items([row]), ignore_conflicts=True)
    implied.settle_pairs([pair.pk])


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


def _free(user, now):
    return Q(leased_by__isnull=True) | Q(lease_expires_at__lte=now) | Q(leased_by=user)


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
    items = visible_items(user).filter(status=status).filter(_free(user, now))
    items = items.exclude(skipped_by=user, skipped_at__gt=now - SKIP_COOLDOWN)
    return filtered(items, filters)


def claim(item_pk, user, now=None):
    """Lease one item to user with a conditional UPDATE: of two simultaneous claims, exactly one
    matches the row (the other's WHERE no longer holds once the first commits), so it is the row count
    that says who won."""
    now = now or timezone.now()
    won = (
        ReviewItem.objects.filter(
            pk=item_pk, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.ESCALATED]
        )
        .filter(_free(user, now))
        .update(leased_by=user, lease_expires_at=now + LEASE, updated_at=now)
    )
    if won:
        # One item at a time per person: leaving an item for the next gives the first back.
        ReviewItem.objects.filter(leased_by=user).exclude(pk=item_pk).update(
            leased_by=None, lease_expires_at=None
        )
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
    ReviewItem.objects.filter(leased_by=user).update(leased_by=None, lease_expires_at=None)


# --- a cataloguer's decision on a queue item ----------------------------------------------------------


@transaction.atomic
def review(item_pk, user, kind, *, master_side=None, comment="", merge=(), supervisor=False):
    """Apply a cataloguer's decision on a leased item; returns the Decision recorded.

    A decision that contradicts the catalogue is not applied: it is recorded as an escalation, flagged,
    with the reason, and the item goes to the supervisors (who may then apply it)."""
    lock_chain()
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
        item.skipped_by, item.skipped_at = user, now
    elif kind == Decision.Kind.ESCALATE:
        decision = decide(pair, kind, actor=user, comment=comment, reason=_("escalated by the reviewer"))
        item.status = ReviewItem.Status.ESCALATED
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
    item.leased_by, item.lease_expires_at = None, None
    item.save()
    return decision


def _flag(item, pair, user, kind, master_side, comment, conflict):
    a, b = pair.image_a.record, pair.image_b.record
    evidence = {**_evidence(pair), "proposed": kind, "master_side": master_side}
    decision = Decision.objects.create(
        pair=pair,
        kind=Decision.Kind.ESCALATE,
        actor=user,
        comment=comment,
        reason=(_("contradicts earlier decisions: %(why)s") % {"why": conflict})[:500],
        evidence=evidence,
        before=_states(a, b),
        after=_states(a, b),
        flagged=True,
    )
    item.status = ReviewItem.Status.ESCALATED
    item.leased_by, item.lease_expires_at = None, None
    item.save()
    return decision


# --- undo -------------------------------------------------------------------------------------------


def last_decision(user):
    return (
        Decision.objects.filter(actor=user, automatic=False)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.REVERT])
        .order_by("-created_at", "-pk")
        .first()
    )


def _current(state):
    record = CatalogueRecord.objects.get(pk=state["record"])
    return _state(record, tuple(state.get("fields", {})))


def _comparable(state):
    return {key: value for key, value in state.items() if key != "merged_fields"}


@transaction.atomic
def undo_last(user):
    """Undo user's own last decision: a new Decision (kind undo, corrects it) that puts back the exact
    catalogue state from before, provided nothing has changed those records since."""
    lock_chain()
    last = last_decision(user)
    if last is None or last.corrections.exists():
        raise ReviewError(_("You have no decision to undo."))
    if last.pending and last.approvals.exists():
        raise ReviewError(_("A supervisor has approved this decision; ask a supervisor to revert it."))
    CatalogueRecord.objects.select_for_update().filter(pk__in=[s["record"] for s in last.before])
    now_states = [_current(s) for s in last.after]
    if [_comparable(s) for s in now_states] != [_comparable(s) for s in last.after]:
        raise ReviewError(
            _("These records have changed since your decision; ask a supervisor to revert it instead.")
        )
    closed = list(implied.citing(last))
    restore_before(last)
    undo = Decision.objects.create(
        pair=last.pair,
        kind=Decision.Kind.UNDO,
        actor=user,
        corrects=last,
        reason=(_("undo of %(kind)s") % {"kind": last.get_kind_display()})[:500],
        before=now_states,
        after=[_current(s) for s in last.before],
    )
    if last.pair_id:
        _reopen(last, user)
        if last.kind == Decision.Kind.DUPLICATE:
            regroup_after_commit(last.pair_id)
    implied.reopen(closed, undo)
    return undo


def restore_before(decision):
    """Put the records a decision touched back in their state from before it (status, master, merged
    fields) and remove the related link it created. Used by undo and by a supervisor's revert."""
    for state in decision.before:
        record = CatalogueRecord.objects.get(pk=state["record"])
        record.restore(state)
        if "fields" in state:
            for name, value in state["fields"].items():
                setattr(record, name, value)
            merges = dict((record.metadata or {}).get("merged_fields", {}))
            for name, entry in state["merged_fields"].items():
                if entry is None:
                    merges.pop(name, None)
                else:
                    merges[name] = entry
            record.metadata = {**(record.metadata or {}), "merged_fields": merges}
            if not merges:
                record.metadata.pop("merged_fields")
            record.save()
    link = decision.effects.get("link_created")
    if link:
        RecordLink.objects.filter(record_a_id=link[0], record_b_id=link[1]).delete()


def _reopen(last, user):
    """The undone pair comes back to the one who undid it, in the status it had before."""
    now = timezone.now()
    earlier = (
        Decision.objects.filter(pair_id=last.pair_id, created_at__lte=last.created_at)
        .filter(corrections__isnull=True)
        .exclude(pk=last.pk)
        .exclude(kind__in=[Decision.Kind.UNDO, Decision.Kind.SKIP])
        .order_by("-created_at", "-pk")
        .first()
    )
    status = ReviewItem.Status.OPEN
    if earlier is not None and earlier.kind == Decision.Kind.ESCALATE:
        status = ReviewItem.Status.ESCALATED
    changes = {"status": status, "decision": None, "leased_by": user, "lease_expires_at": now + LEASE}
    if last.kind == Decision.Kind.SKIP:
        changes.update(skipped_by=None, skipped_at=None)
    ReviewItem.objects.filter(pair_id=last.pair_id).update(**changes, updated_at=now)


from . import approval  # noqa: E402 - approval builds on this module's helpers
