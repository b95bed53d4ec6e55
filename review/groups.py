"""Whole candidate groups at once: the group screen's submit and the open groups overview.

A submit names the master chosen among the group's members and marks every other member duplicate,
related or not related to it. That answers each open pair of the group: two members of the master's
record group (the master and the duplicates) are duplicates of each other; a duplicate (or the master)
and a related or not-related member are related or not related; two members neither of which is a
duplicate are left in the queue (the marks say nothing about them). Every answer is one decision in
the chain, all under one batch id, each under the two-person rules of its pair (a pair a rule holds is
proposed, as on the pair screen). A submit whose answers contradict each other or the decisions
already standing is refused whole, naming the members. Undo (review.services.undo_last) and revert
(review.supervision.revert_batch) take the whole submit back.
"""

from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalogue import access
from dedup.models import CandidateGroup, CandidatePair

from . import approval, decisions
from .models import Decision, ReviewItem
from .services import LEASE, ORDERS, filtered, visible_items

MARKS = {
    "duplicate": Decision.Kind.DUPLICATE,
    "related": Decision.Kind.RELATED,
    "distinct": Decision.Kind.DISTINCT,
}
PAGE = 25
# Items read at a time while walking the queue for the overview's next page of groups.
WALK = 200


class GroupError(decisions.ReviewError):
    """A refused group submit, said to the user; nothing was recorded."""


def members(group):
    return list(
        group.members.select_related("record__collection", "collection", "fingerprint").order_by("pk")
    )


def waiting_statuses(supervisor):
    if supervisor:
        return [ReviewItem.Status.OPEN, ReviewItem.Status.ESCALATED]
    return [ReviewItem.Status.OPEN]


def open_items(group, supervisor):
    """The group's queue items a submit by this person decides (escalated ones only for supervisors)."""
    return ReviewItem.objects.filter(pair__group=group, status__in=waiting_statuses(supervisor))


def _number(image):
    return image.record.catalogue_number


def _names(images):
    return ", ".join(sorted({_number(image) for image in images}))


def plan(group_members, pairs, master, marks):
    """[(pair, kind)] for the pairs the marks answer, duplicates through the master first; raises
    GroupError for marks that are missing or contradict each other. pairs: CandidatePair rows with
    their images and records; master: the chosen member; marks: {member pk: mark}."""
    by_pk = {image.pk: image for image in group_members}
    missing = [image for image in group_members if image.pk != master.pk and marks.get(image.pk) not in MARKS]
    if missing:
        raise GroupError(
            _("Mark every member duplicate, related or not related: %(members)s have no answer.")
            % {"members": _names(missing)}
        )
    duplicates = {master.pk} | {pk for pk, mark in marks.items() if mark == "duplicate" and pk in by_pk}
    # One record is one picture: its files cannot be both duplicates of the master and something else.
    one_record = {by_pk[pk].record_id for pk in duplicates}
    split = [image for image in group_members if image.pk not in duplicates and image.record_id in one_record]
    if split:
        raise GroupError(
            _(
                "%(members)s belong to a record that is also the master's or a duplicate's: "
                "mark them duplicate."
            )
            % {"members": _names(split)}
        )
    answered = []
    for pair in pairs:
        a, b = pair.image_a_id in duplicates, pair.image_b_id in duplicates
        if a and b:
            answered.append((pair, Decision.Kind.DUPLICATE))
        elif a or b:
            other = pair.image_b_id if a else pair.image_a_id
            answered.append((pair, MARKS[marks[other]]))
    answered.sort(key=lambda found: (found[1] != Decision.Kind.DUPLICATE, master.pk not in _ids(found[0])))
    return answered


def _ids(pair):
    return (pair.image_a_id, pair.image_b_id)


def _contradictions(answered, decided, master):
    """Why these answers contradict the catalogue or the group's standing decisions ([] if not)."""
    found = []
    for pair, kind in answered:
        why = decisions.contradiction(pair, kind)
        if why:
            found.append(why)
        if kind == Decision.Kind.DUPLICATE:
            loser = pair.image_b if pair.image_a_id == _master_side(pair, master).pk else pair.image_a
            target = _master_side(pair, master).record
            if not loser.record.resolve().may_be_superseded_by(target):
                found.append(decisions.reference_refusal(loser.record.resolve()))
    for pair, kind, standing in decided:
        if standing is not None and standing.kind != kind:
            found.append(
                _("%(a)s and %(b)s were decided %(kind)s already (decision %(pk)s)")
                % {
                    "a": _number(pair.image_a),
                    "b": _number(pair.image_b),
                    "kind": standing.get_kind_display(),
                    "pk": standing.pk,
                }
            )
    return found


def _master_side(pair, master):
    """The image of the pair that is the master of its duplicate decision: the chosen master when it is
    in the pair, else image a (both already resolve to the master by then)."""
    return pair.image_b if pair.image_b_id == master.pk else pair.image_a


def _take(group, user, seen, supervisor):
    """Lease the group's waiting pairs to user, in the caller's transaction; returns (items, waiting
    items, pairs by id). Refused (GroupError) when the pairs waiting are not the ones the screen showed
    (seen) or someone else holds one of them. The screen's GET only reads: the first mark takes the
    lease (hold), so that nobody takes a pair of the group on the pair screen meanwhile, and the submit
    takes it again; its answers end it, and the pairs the marks leave open stay with this person for a
    while, as on the pair screen."""
    now = timezone.now()
    items = list(ReviewItem.objects.select_for_update().filter(pair__group=group).order_by("pk"))
    waiting = [item for item in items if item.status in waiting_statuses(supervisor)]
    if {item.pair_id for item in waiting} != set(seen):
        raise GroupError(
            _("This group has changed since you opened it (pairs decided or added meanwhile): look again.")
        )
    pairs = {
        pair.pk: pair
        for pair in CandidatePair.objects.filter(pk__in=[item.pair_id for item in items]).select_related(
            "image_a__record__collection",
            "image_b__record__collection",
            "image_a__collection",
            "image_b__collection",
        )
    }
    held = [pairs[item.pair_id] for item in waiting if item.lease_held_by_other(user, now)]
    if held:
        raise GroupError(
            _("Someone else is reviewing pairs of this group (%(members)s): try again later.")
            % {"members": _names([image for pair in held for image in (pair.image_a, pair.image_b)])}
        )
    # The rows are locked above, so a second submit of the group waits for this one and then finds the
    # group changed.
    ReviewItem.objects.filter(pk__in=[item.pk for item in waiting]).claim(user, now, now + LEASE)
    return items, waiting, pairs


@transaction.atomic
def hold(group_pk, user, seen, *, supervisor=False):
    """The group screen's first mark: lease the group's waiting pairs to user (see _take); returns how
    long the lease lasts."""
    group = CandidateGroup.objects.filter(pk=group_pk).first()
    if group is None:
        raise GroupError(_("This group no longer exists: the pairs were regrouped. Open the overview again."))
    _take(group, user, seen, supervisor)
    return LEASE


@decisions.chain_transaction()
def submit(group_pk, user, master_pk, marks, seen, *, supervisor=False, comment=""):
    """Record the group screen's answers as one batch; returns (batch id, decisions recorded, pairs
    left open). seen: the pair ids the screen showed as waiting, so a group that changed meanwhile
    (another submit, a new pair) is refused instead of decided on what the person did not see."""
    group = CandidateGroup.objects.filter(pk=group_pk).first()
    if group is None:
        raise GroupError(_("This group no longer exists: the pairs were regrouped. Open the overview again."))
    group_members = members(group)
    master = next((image for image in group_members if image.pk == master_pk), None)
    if master is None:
        raise GroupError(_("Choose the master among the group's members."))
    items, waiting, pairs = _take(group, user, seen, supervisor)
    member_ids = {image.pk for image in group_members}
    within = [pair for pair in pairs.values() if set(_ids(pair)) <= member_ids]
    answers = dict(((pair.pk, kind) for pair, kind in plan(group_members, within, master, marks)))
    open_ids = {item.pair_id for item in waiting}
    answered = [(pairs[pk], kind) for pk, kind in answers.items() if pk in open_ids]
    standing = {
        d.pair_id: d
        for d in Decision.objects.filter(pk__in=[i.decision_id for i in items if i.status == "decided"])
    }
    decided = [
        (pairs[item.pair_id], answers[item.pair_id], standing.get(item.pair_id))
        for item in items
        if item.status == ReviewItem.Status.DECIDED and item.pair_id in answers
    ]
    conflicts = _contradictions(answered, decided, master)
    if conflicts:
        raise GroupError(
            _("Nothing was recorded: the marks contradict each other or earlier decisions: %(why)s.")
            % {"why": "; ".join(dict.fromkeys(conflicts))}
        )
    batch = decisions.new_batch()
    evidence = {
        "group": group.pk,
        "group_master": master.pk,
        "group_marks": {str(k): v for k, v in marks.items()},
    }
    recorded = []
    by_pair = {item.pair_id: item for item in waiting}
    for pair, kind in answered:
        item = ReviewItem.objects.get(pk=by_pair[pair.pk].pk)
        if item.status not in waiting_statuses(supervisor):
            continue  # closed meanwhile by a system decision that follows from this batch (review.implied)
        recorded.append(_answer(item, pair, kind, master, user, comment, evidence, batch))
    left = len(open_ids) - len(answered)
    return batch, recorded, left


def _answer(item, pair, kind, master, user, comment, evidence, batch):
    master_image = _master_side(pair, master)
    side = "right" if master_image.pk == pair.image_b_id else "left"
    why = approval.reasons(pair, kind, user)
    if why:
        return approval.propose(item, pair, user, kind, side, comment, (), why, batch=batch)
    if kind == Decision.Kind.DUPLICATE:
        return decisions.decide_duplicate(
            pair, master_image.record, actor=user, comment=comment, evidence=evidence, batch=batch
        )
    return decisions.decide(pair, kind, actor=user, comment=comment, evidence=evidence, batch=batch)


# --- the screen -----------------------------------------------------------------------------------


def screen(group, supervisor):
    """What the group screen shows: the members (visible ones only; a group with a hidden member is not
    shown at all, see visible_group), the proposed master, each member's pair with it and the pairs a
    submit would decide. It only reads (a GET): the submit leases the pairs, refuses a group whose pairs
    someone else holds, and refuses a group changed since these pairs were shown (submit's seen)."""
    group_members = members(group)
    rows = CandidatePair.objects.filter(group=group).values_list(
        "pk",
        "image_a_id",
        "image_b_id",
        "relation",
        "score",
        "review_item__status",
        "derivation",
        "source_side",
    )
    with_master = {}
    seen = []
    for pk, a, b, relation, score, status, derivation, source_side in rows:
        if status in waiting_statuses(supervisor):
            seen.append(pk)
        if group.master_id in (a, b):
            other = b if a == group.master_id else a
            made_from_master = (source_side == "a" and a == group.master_id) or (
                source_side == "b" and b == group.master_id
            )
            with_master[other] = {
                "relation": relation,
                "score": score,
                "status": status or "",
                "derivation": derivation if made_from_master else "",
            }
    return {"members": group_members, "with_master": with_master, "seen": sorted(seen)}


def visible_group(group_pk, user):
    """The group if user may see every member's collection, else None (a 404 like any hidden object)."""
    group = CandidateGroup.objects.filter(pk=group_pk).first()
    if group is None:
        return None
    ids = access.visible_ids(user)
    if ids is not None and group.members.exclude(collection_id__in=ids).exists():
        return None
    return group


# --- the overview ---------------------------------------------------------------------------------


def _after(items, key):
    """The items after key, a (priority, score, pk) position, in the easy-first order."""
    priority, score, pk = key
    return items.filter(
        Q(priority__lt=priority)
        | Q(priority=priority, score__lt=score)
        | Q(priority=priority, score=score, pk__gt=pk)
    )


def _up_to(items, key):
    """The items before key or at it (the cursor is the position of a group listed already)."""
    priority, score, pk = key
    return items.filter(
        Q(priority__gt=priority)
        | Q(priority=priority, score__gt=score)
        | Q(priority=priority, score=score, pk__lte=pk)
    )


def overview(user, filters, after=None, size=PAGE):
    """A page of open groups, easiest first: the queue's open items walked in its easy-first order (an
    index scan, review_item_easy_first), each group listed where its easiest open pair stands; filters
    as the queue's (collection, relation). after: the previous page's cursor, the (priority, score,
    item pk) position of its last group. Returns (rows, next cursor or None). The cost is the page's
    groups and the items walked to find them, never the whole queue."""
    waiting = filtered(visible_items(user).filter(status=ReviewItem.Status.OPEN), filters)
    waiting = waiting.filter(pair__group__isnull=False)
    items = waiting.order_by(*ORDERS["easy"])
    if after is not None:
        items = _after(items, after)
    found = {}
    while len(found) < size:
        chunk = list(items.values_list("priority", "score", "pk", "pair__group_id")[:WALK])
        new = [group for group in dict.fromkeys(row[3] for row in chunk) if group not in found]
        listed = set()
        if after is not None and new:
            earlier = _up_to(waiting, after).filter(pair__group__in=new)
            listed = set(earlier.values_list("pair__group_id", flat=True))
        for priority, score, pk, group in chunk:
            if group not in found and group not in listed and len(found) < size:
                found[group] = (priority, score, pk)
        if len(chunk) < WALK:
            break
        items = _after(items, chunk[-1][:3])
    cursor = list(found.values())[-1] if len(found) == size else None
    return _rows(found, user), cursor


def _rows(found, user):
    """The overview's figures for these groups: one grouped query over their items, one over their
    members, one for their masters."""
    if not found:
        return []
    figures = {}
    per_relation = (
        ReviewItem.objects.filter(pair__group__in=list(found), status=ReviewItem.Status.OPEN)
        .values_list("pair__group_id", "relation")
        .annotate(n=Count("pk"), low=Min("score"), high=Max("score"))
        .order_by()
    )
    for group, relation, n, low, high in per_relation:
        entry = figures.setdefault(group, {"open": 0, "mix": [], "low": low, "high": high})
        entry["open"] += n
        entry["mix"].append((relation, n))
        entry["low"], entry["high"] = min(entry["low"], low), max(entry["high"], high)
    sizes = dict(
        CandidateGroup.members.through.objects.filter(candidategroup_id__in=list(found))
        .values_list("candidategroup_id")
        .annotate(n=Count("imagefile_id"))
        .order_by()
    )
    groups = CandidateGroup.objects.filter(pk__in=list(found)).select_related(
        "master__record", "master__collection"
    )
    by_pk = {group.pk: group for group in groups}
    ids = access.visible_ids(user)
    hidden = set()
    if ids is not None:
        hidden = set(
            CandidateGroup.members.through.objects.filter(candidategroup_id__in=list(found))
            .exclude(imagefile__collection_id__in=ids)
            .values_list("candidategroup_id", flat=True)
        )
    rows = []
    for group_pk in found:
        if group_pk not in by_pk or group_pk in hidden or group_pk not in figures:
            continue
        entry = figures[group_pk]
        rows.append(
            {
                "group": by_pk[group_pk],
                "size": sizes.get(group_pk, 0),
                "open": entry["open"],
                "mix": sorted(entry["mix"], key=lambda m: -m[1]),
                "low": entry["low"],
                "high": entry["high"],
                "ease": found[group_pk][0],
            }
        )
    return rows
