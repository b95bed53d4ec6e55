"""Recording decisions and their consequences in the catalogue.

``record`` (Decision.objects.record) is the one way a Decision row is written: it takes the chain's
append lock and saves the row in the caller's transaction (Decision.save refuses any other caller). A
service that also locks or changes catalogue rows opens its transaction with ``chain_transaction()``,
which takes the chain lock first, before any row lock, so every such transaction waits in one place and
in one order.

``decide_duplicate`` and ``decide`` apply a decision to the catalogue and record it; ``contradiction``
says why a decision would contradict earlier ones; ``restore_before`` puts records back for undo and
revert. This module builds on review.models and review.implied (the pairs a settling decision closes
by implication); the queue (review.services), the two-person rules (review.approval) and supervision
build on it.
"""

import uuid
from collections import defaultdict
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from catalogue.models import CatalogueRecord, Collection, RecordLink
from dedup import tasks

from . import implied
from .models import Decision, ReviewItem, lock_chain, not_corrected

# Catalogue fields a cataloguer may carry from the superseded record into the master.
MERGE_FIELDS = ("title", "creator", "date_text", "rights", "credit_line", "source")
# Kinds that settle a pair; skip and escalate leave it waiting.
SETTLING = (Decision.Kind.DUPLICATE, Decision.Kind.RELATED, Decision.Kind.DISTINCT)
DISTANCES = ("phash_distance", "dhash_distance", "orientation_distance", "border_distance", "crop_distance")


class ReviewError(Exception):
    """A request the queue refuses (someone else holds the item, nothing to undo, ...): said to the user."""


@contextmanager
def chain_transaction(savepoint=True):
    """A transaction that records decisions: the chain lock is its first lock (see lock_chain).
    Usable as a decorator (``@chain_transaction()``) and as a context manager; savepoint as in
    transaction.atomic (False: a failure inside fails the whole enclosing transaction)."""
    with transaction.atomic(savepoint=savepoint):
        lock_chain()
        yield


def new_batch():
    """A fresh batch id for decisions taken together in one action."""
    return uuid.uuid4()


# The one way a decision is written: Decision.objects.record(kind, *, reason, comment, batch, **fields).
record = Decision.objects.record


# --- what a decision records ------------------------------------------------------------------------


def pair_evidence(pair):
    """What the decider was shown of the pair: score, tier, relation and the signals' distances."""
    return {
        "score": pair.score,
        "tier": pair.tier,
        "relation": pair.relation,
        "relation_params": pair.relation_params,
        "explanation": pair.explanation,
        "distances": {name: getattr(pair, name) for name in DISTANCES},
    }


def record_state(record, fields=()):
    """A record's state as a decision's before/after holds it; fields adds those catalogue fields and
    where their merged values came from."""
    state = record.state()
    if fields:
        merged = (record.metadata or {}).get("merged_fields", {})
        state["fields"] = {name: getattr(record, name) for name in fields}
        state["merged_fields"] = {name: merged.get(name) for name in fields}
    return state


def record_states(*records):
    return [record_state(r) for r in records if r is not None]


def current_state(state):
    """The state now of the record a recorded state is about, with the same fields."""
    record = CatalogueRecord.objects.get(pk=state["record"])
    return record_state(record, tuple(state.get("fields", {})))


def comparable(state):
    return {key: value for key, value in state.items() if key != "merged_fields"}


def reference_refusal(record):
    return _(
        "%(number)s is in the reference collection %(collection)s, whose records are never superseded by "
        "another collection's: keep it as the master, or call the pair related."
    ) % {"number": record.catalogue_number, "collection": record.collection.name}


# --- applying a decision ----------------------------------------------------------------------------


def merge_fields(master, superseded, fields):
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


def _known_collections(pair, rows):
    """Give rows (the pair's records, read again) the collections already read with the pair (its
    images', its records': the queue's reference check read them), so that the reference check here
    reads none again."""
    known = {}
    for image in (pair.image_a, pair.image_b):
        for obj in (image, image.record):
            if type(obj)._meta.get_field("collection").is_cached(obj):
                known[obj.collection_id] = obj.collection
    for row in rows:
        if row.collection_id in known:
            row._state.fields_cache["collection"] = known[row.collection_id]


@chain_transaction(savepoint=False)
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
    batch=None,
    follow_up=True,
):
    """Supersede the other record of the pair by master_record, recording the decision; merge names
    fields whose values the superseded record gives to the master; evidence adds to what the decision
    records of the pair (licensing's updated versions say which file replaces which). follow_up=False
    leaves the implied pairs and the regroup to the caller, who records many decisions in one
    transaction and calls follow_up_many once for all of them (review.bands)."""
    records = {pair.image_a.record, pair.image_b.record}
    others = [r for r in records if r.pk != master_record.pk]
    superseded = others[0] if others else None
    touched = list(CatalogueRecord.objects.select_for_update().filter(pk__in=[r.pk for r in records]))
    # The rows as they are now, locked: the pair's records may have been loaded before an earlier
    # decision (of the same verify batch, say) superseded one of them, and a stale master would make a
    # chain A <- B <- C instead of a flat group.
    fresh = {r.pk: r for r in touched}
    _known_collections(pair, touched)
    master_record = fresh.get(master_record.pk, master_record)
    superseded = fresh.get(superseded.pk, superseded) if superseded is not None else None
    followers = list(CatalogueRecord.objects.filter(master__in=[r.pk for r in others]))
    fields = [name for name in MERGE_FIELDS if name in merge] if superseded is not None else []
    target = master_record.resolve()
    before = [record_state(r, fields if r.pk == target.pk else ()) for r in (*touched, *followers)]
    if target.pk not in {s["record"] for s in before}:
        before.append(record_state(target, fields))
    if superseded is not None and not superseded.resolve().may_be_superseded_by(target):
        raise ReviewError(reference_refusal(superseded.resolve()))
    if superseded is not None and superseded.resolve().pk != target.pk:
        superseded.supersede(master_record)
    merged = {}
    if fields:
        merged = merge_fields(CatalogueRecord.objects.get(pk=target.pk), superseded, fields)
    now = CatalogueRecord.objects.in_bulk([s["record"] for s in before])
    after = [record_state(now[s["record"]], fields if s["record"] == target.pk else ()) for s in before]
    decision = record(
        Decision.Kind.DUPLICATE,
        pair=pair,
        master=master_record,
        superseded=superseded,
        actor=actor,
        automatic=automatic,
        reason=reason,
        comment=comment,
        evidence={**pair_evidence(pair), **(evidence or {})},
        before=before,
        after=after,
        effects={"merged_fields": merged, "master": target.pk} if merged else {},
        approves=approves,
        batch=batch,
    )
    if merged:
        # The decision's id exists only now; the record says which decision brought each value.
        master = CatalogueRecord.objects.get(pk=target.pk)
        for name in merged:
            master.metadata["merged_fields"][name]["decision"] = decision.pk
        master.save(update_fields=["metadata", "updated_at"])
    ReviewItem.objects.filter(pair=pair).settle(decision)
    if follow_up:
        implied.after(decision)
        regroup_after_commit(pair.pk)
    return decision


# --- automatic settling in bulk ----------------------------------------------------------------------


class Unsimulated(Exception):
    """settle_copies met a pair it does not settle itself (decide_duplicate would refuse it)."""


class _Catalogue:
    """The state (status, master) of the records a run of automatic duplicates touches, read once and
    changed in memory as decide_duplicate would change the rows, decision after decision."""

    def __init__(self, record_ids):
        rows = CatalogueRecord.objects.values_list("pk", "status", "master_id", "collection_id")
        self.state, self.collection = {}, {}
        locked = CatalogueRecord.objects.select_for_update().filter(pk__in=sorted(record_ids)).order_by("pk")
        self._add(locked.values_list("pk", "status", "master_id", "collection_id"))
        # Records that follow them (their direct superseded records), and the masters above them.
        self._add(rows.filter(master__in=sorted(record_ids)))
        missing = {m for _s, m in self.state.values() if m is not None and m not in self.state}
        while missing:
            self._add(rows.filter(pk__in=sorted(missing)))
            missing = {m for _s, m in self.state.values() if m is not None and m not in self.state}
        self.children = defaultdict(set)
        for pk, (_status, master) in self.state.items():
            if master is not None:
                self.children[master].add(pk)
        # The order the default ordering gives (collection name, catalogue number, in the database's
        # collation): the order decide_duplicate lists them in.
        ordered = CatalogueRecord.objects.filter(pk__in=list(self.state)).values_list("pk", flat=True)
        self.rank = {pk: n for n, pk in enumerate(ordered)}
        self.reference = dict(
            Collection.objects.filter(pk__in=set(self.collection.values())).values_list("pk", "reference")
        )
        self.original = dict(self.state)

    def _add(self, rows):
        for pk, status, master, collection in rows:
            self.state[pk] = (status, master)
            self.collection[pk] = collection

    def resolve(self, pk):
        seen = {pk}
        while self.state[pk][1] is not None and self.state[pk][1] not in seen:
            pk = self.state[pk][1]
            seen.add(pk)
        return pk

    def record_state(self, pk):
        status, master = self.state[pk]
        return {"record": pk, "status": status, "master": master}

    def may_be_superseded_by(self, pk, master):
        return not self.reference[self.collection[pk]] or (
            self.collection[self.resolve(master)] == self.collection[pk]
        )

    def sorted(self, pks):
        return sorted(pks, key=self.rank.__getitem__)

    def changed(self):
        return {pk: state for pk, state in self.state.items() if state != self.original[pk]}

    def decide(self, pair, master):
        """decide_duplicate(pair, master, automatic=True) on the state: (superseded, before, after)."""
        records = {pair.image_a.record_id, pair.image_b.record_id}
        others = [r for r in records if r != master]
        superseded = others[0] if others else None
        touched = self.sorted(records)
        followers = self.sorted(set().union(*(self.children[r] for r in others)) - set(touched))
        target = self.resolve(master)
        listed = [*touched, *followers]
        if target not in listed:
            listed.append(target)
        before = [self.record_state(pk) for pk in listed]
        if superseded is not None:
            root = self.resolve(superseded)
            if not self.may_be_superseded_by(root, target) or (
                root != target and not self.may_be_superseded_by(superseded, target)
            ):
                raise Unsimulated(pair.pk)
            if root != target:
                for follower in self.children.pop(superseded, set()):
                    self.state[follower] = (self.state[follower][0], target)
                    self.children[target].add(follower)
                old = self.state[superseded][1]
                if old is not None:
                    self.children[old].discard(superseded)
                self.state[superseded] = (CatalogueRecord.Status.SUPERSEDED, target)
                self.children[target].add(superseded)
        after = [self.record_state(pk) for pk in listed]
        return superseded, before, after


def settle_copies(settlements):
    """decide_duplicate(pair, master, automatic=True, reason=reason) for each (pair, master image,
    reason) in turn, in bulk: the catalogue's rows are read once and the decisions worked out on them
    in memory, in order, exactly as decide_duplicate works each out on the rows the one before left;
    then the records' new states are written with one statement and the decisions appended to the
    chain together (Decision.objects.record_many: each with the before, after, evidence and reason
    decide_duplicate records), and one regroup task covers every pair. Inside the caller's
    transaction, chain lock first.

    For settlements whose implied pairs are nothing (review.exact: no open queue item in the record
    groups they make) and whose pairs have no queue item: decide_duplicate's implied.after and item
    settling are no-ops for them, and are not done here. A pair decide_duplicate would refuse (a
    reference collection's record) raises Unsimulated before anything is written, inside a savepoint, so
    that the caller's transaction goes on (review.exact then takes the run pair by pair)."""
    if not settlements:
        return []
    with chain_transaction():
        records = {r for pair, _, _ in settlements for r in (pair.image_a.record_id, pair.image_b.record_id)}
        catalogue = _Catalogue(records)
        entries = []
        for pair, master_image, reason in settlements:
            superseded, before, after = catalogue.decide(pair, master_image.record_id)
            entries.append(
                {
                    "kind": Decision.Kind.DUPLICATE,
                    "pair": pair,
                    "master_id": master_image.record_id,
                    "superseded_id": superseded,
                    "actor": None,
                    "automatic": True,
                    "reason": reason,
                    "comment": "",
                    "evidence": pair_evidence(pair),
                    "before": before,
                    "after": after,
                    "effects": {},
                    "approves": None,
                }
            )
        CatalogueRecord.objects.set_states(catalogue.changed())
        decisions = Decision.objects.record_many(entries)
        pair_ids = [pair.pk for pair, _, _ in settlements]
        transaction.on_commit(lambda: tasks.regroup_batch.delay(pair_ids), robust=True)
    return decisions


def follow_up_many(decisions):
    """What decide_duplicate(follow_up=False) left for a batch of decisions, done once for all of them
    in the caller's transaction: the pairs their answers now imply are settled (one pass over the
    record groups they touched), and one worker task regroups all their pairs after the commit."""
    implied.after_many(decisions)
    pair_ids = [d.pair_id for d in decisions if d.pair_id]
    if pair_ids:
        transaction.on_commit(lambda: tasks.regroup_batch.delay(pair_ids), robust=True)


def regroup_after_commit(pair_id):
    """A duplicate decision (or its undo) changes which image its group proposes as master (the decided
    master leads, dedup.grouping): a worker regroups the pair's component once the decision is committed
    (outside the chain lock, and never inside the request: a component can hold 100k pairs)."""
    transaction.on_commit(lambda: tasks.regroup_batch.delay([pair_id]), robust=True)


@chain_transaction(savepoint=False)
def decide(pair, kind, *, actor, comment="", reason="", approves=None, batch=None, evidence=None):
    """related, distinct, skip or escalate: record it; related links the two records both ways;
    evidence adds to what the decision records of the pair."""
    a, b = pair.image_a.record, pair.image_b.record
    effects = {}
    if kind == Decision.Kind.RELATED and a.pk != b.pk:
        existed = RecordLink.objects.filter(record_a_id=min(a.pk, b.pk), record_b_id=max(a.pk, b.pk)).exists()
        RecordLink.link(a, b, note=pair.relation)
        if not existed:
            effects["link_created"] = sorted((a.pk, b.pk))
    decision = record(
        kind,
        pair=pair,
        actor=actor,
        comment=comment,
        reason=reason,
        evidence={**pair_evidence(pair), **(evidence or {})},
        before=record_states(a, b),
        after=record_states(a, b),
        effects=effects,
        approves=approves,
        batch=batch,
    )
    if kind in SETTLING:
        ReviewItem.objects.filter(pair=pair).settle(decision)
        implied.after(decision)
    return decision


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


# --- contradictions ---------------------------------------------------------------------------------


def distinct_decided(a, b):
    """A standing 'not related' decision between the two records (not undone)."""
    return (
        Decision.objects.filter(not_corrected(), kind=Decision.Kind.DISTINCT, pending=False)
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
    if kind == Decision.Kind.DUPLICATE and distinct_decided(a, b):
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
