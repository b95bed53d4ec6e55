"""A verify batch's verdicts, settled and queued in bulk (dedup.events.pairs_verified): the pairs the tier
rules settle automatically (exact copies first of all) and those they put in the review tier.

The per-pair path gives each pair, in turn, either a system duplicate decision (decisions.decide_duplicate:
the catalogue changed, the decision chained, its implied pairs closed, a regroup) or a queue item
(services.queue_pair: the item, and its answer if earlier decisions imply one). settle_verified gives the
same outcome with a few set-based statements wherever it can prove nothing depends on the order:

- A pair's *final record group* is the record groups its two records are in now, joined by every pair
  of the batch (record groups only ever join during a batch, so every group a pair's decision sees on
  the way is inside it).
- A queued pair's implied answer depends only on the duplicate, related and not-related decisions
  standing on its records' groups (review.implication), which only a settling decision changes (an
  implied answer is no fact): so consecutive queued pairs are one run for services.queue_pairs, in any
  group, provided the runs go in the batch's order.
- A settling pair is *quiet* when its final group has no open queue item (none before the batch, and no
  queued pair of the batch in it before this one) and its pair has no queue item. Then
  decide_duplicate's implied.after closes nothing and its item settling touches nothing: consecutive
  quiet settling pairs are one run for decisions.settle_copies (the decisions worked out in memory,
  records written with one statement, decisions appended together). Every other settling pair goes
  the per-pair way, in its place.

So the chain holds the same decisions in the same order as the per-pair path would write them, and a
batch costs a few statements per run: one run when its pairs all settle or all go to the queue.

Cost: the batch's record groups (their records, images and pairs), read once, never the queue."""

from django.apps import apps

from catalogue.models import CatalogueRecord, ImageFile
from dedup.groups import components
from dedup.models import CandidatePair
from mastercopy import dbstats

from . import decisions, implied, services
from .models import Decision, ReviewItem


def _final_groups(entries):
    """{record: a label of its final record group} for every record of the groups the pairs touch."""
    records = {r for pair, _, _ in entries for r in (pair.image_a.record_id, pair.image_b.record_id)}
    roots = implied.record_groups(records)
    edges = [(roots[pair.image_a.record_id], roots[pair.image_b.record_id]) for pair, _, _ in entries]
    label = {}
    for members in components(edges + [(r, r) for r in set(roots.values())]):
        for root in members:
            label[root] = members[0]
    return {record: label[root] for record, root in roots.items()}


def _busy_groups(entries, group_of):
    """Labels of the final groups where a settling pair must go the per-pair way: an open queue item in
    the group, or a pair of the batch in it with a queue item already (see the module docstring)."""
    busy = {
        group_of[record]
        for ab in implied.open_pairs(set(group_of)).values()
        for record in ab
        if record in group_of
    }
    batch = sorted(pair.pk for pair, _, _ in entries)
    for start in range(0, len(batch), 5000):
        chunk = batch[start : start + 5000]
        with_items = ReviewItem.objects.filter(pair__in=chunk).values_list("pair_id", flat=True)
        busy.update(group_of[pair.image_a.record_id] for pair in _pairs(entries, set(with_items)))
    return busy


def _pairs(entries, ids):
    return [pair for pair, _, _ in entries if pair.pk in ids]


def settle_verified(entries):
    """Settle or queue each (pair, master image or None, reason) of a verify batch's verdicts, by pair id,
    as dedup's per-pair signals would (see the module docstring). Inside the transaction that stored the
    pairs' verdicts; the chain lock is taken first."""
    if not entries:
        return
    entries = sorted(entries, key=lambda entry: entry[0].pk)
    # The batch's look-ups are lists of ids: on a table never analysed they are whole-table scans that
    # grow with every batch of a first mirror merge (mastercopy.dbstats).
    dbstats.analyse_new(
        [
            Decision,
            ReviewItem,
            CandidatePair,
            ImageFile,
            CatalogueRecord,
            apps.get_model("licensing", "RecordState"),
        ]
    )
    with decisions.chain_transaction(savepoint=False):
        group_of = _final_groups(entries)
        busy = _busy_groups(entries, group_of)
        run, run_kind = [], None
        for entry in entries:
            pair, master_image, _ = entry
            group = group_of[pair.image_a.record_id]
            if master_image is None:
                kind = "queue"
                busy.add(group)  # its item is open now: a later settling pair of the group may close it
            else:
                kind = "one" if group in busy else "settle"
            if run and (kind != run_kind or kind == "one"):
                busy |= _flush(run, run_kind, group_of)
                run = []
            run.append(entry)
            run_kind = kind
        if run:
            _flush(run, run_kind, group_of)


def _flush(run, kind, group_of):
    """Settle or queue a run; returns the groups where it may have left an open item by surprise (a
    refused settlement queued)."""
    if kind == "queue":
        services.queue_pairs([pair for pair, _, _ in run])
        return set()
    if kind == "settle":
        try:
            decisions.settle_copies(run)
            return set()
        except decisions.Unsimulated:
            pass  # decide_duplicate refuses one of them: the run goes pair by pair, as it would
    for entry in run:
        _one(entry)
    return {group_of[pair.image_a.record_id] for pair, _, _ in run}


def _one(entry):
    """The per-pair path's receivers for one pair (review.apps)."""
    pair, master_image, reason = entry
    if master_image is None:
        services.queue_pair(pair)
    else:
        services.settle_or_queue(pair, master_image, reason)
