"""A verify batch's byte-identical pairs, settled and queued in bulk (dedup.events.exact_pairs_verified).

The per-pair path gives each pair, in turn, either a system duplicate decision (decisions.decide_duplicate:
the catalogue changed, the decision chained, its implied pairs closed, a regroup) or a queue item
(services.queue_pair: the item, and its answer if earlier decisions imply one). settle_exact gives the
same outcome with a few set-based statements wherever it can prove nothing depends on the order:

- A pair's *final record group* is the record groups its two records are in now, joined by every pair
  of the batch (record groups only ever join during a batch, so every group a pair's decision sees on
  the way is inside it).
- A final group is *quiet* when no open queue item has a pair with an image in it, no pair of the batch
  in it has a queue item already, and the batch's pairs in it either all settle or all go to the queue.
  Then decide_duplicate's implied.after closes nothing and its item settling touches nothing, and
  queue_pair's implied answers depend only on decisions standing before the batch.
- Pairs are taken by id, as the per-pair path takes them: consecutive settling pairs of quiet groups
  are one run for decisions.settle_copies (the decisions worked out in memory, records written with one
  statement, decisions appended together), consecutive queued pairs of quiet groups one run for
  services.queue_pairs, and every other pair goes the per-pair way, in its place. So the chain holds the
  same decisions in the same order as the per-pair path would write them.

Cost: the batch's record groups (their records, images and pairs), read once, never the queue."""

from collections import defaultdict

from dedup.groups import components

from . import decisions, implied, services
from .models import ReviewItem


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
    """Labels of the final groups where order matters (see the module docstring)."""
    busy = {
        group_of[record]
        for ab in implied.open_pairs(set(group_of)).values()
        for record in ab
        if record in group_of
    }
    batch = sorted(pair.pk for pair, _, _ in entries)
    with_items = set()
    for start in range(0, len(batch), 5000):
        chunk = batch[start : start + 5000]
        with_items.update(ReviewItem.objects.filter(pair__in=chunk).values_list("pair_id", flat=True))
    kinds = defaultdict(set)
    for pair, master_image, _ in entries:
        group = group_of[pair.image_a.record_id]
        kinds[group].add(master_image is None)
        if pair.pk in with_items:
            busy.add(group)
    busy |= {group for group, seen in kinds.items() if len(seen) > 1}
    return busy


def settle_exact(entries):
    """Settle or queue each (pair, master image or None, reason) of a verify batch's exact copies, by
    pair id, as dedup's per-pair signals would (see the module docstring). Inside the transaction that
    stored the pairs' verdicts; the chain lock is taken first."""
    if not entries:
        return
    entries = sorted(entries, key=lambda entry: entry[0].pk)
    with decisions.chain_transaction(savepoint=False):
        group_of = _final_groups(entries)
        busy = _busy_groups(entries, group_of)
        run, run_kind = [], None
        for entry in entries:
            pair, master_image, _ = entry
            if group_of[pair.image_a.record_id] in busy:
                kind = "one"
            else:
                kind = "queue" if master_image is None else "settle"
            if run and (kind != run_kind or kind == "one"):
                _flush(run, run_kind)
                run = []
            run.append(entry)
            run_kind = kind
        if run:
            _flush(run, run_kind)


def _flush(run, kind):
    if kind == "queue":
        services.queue_pairs([pair for pair, _, _ in run])
    elif kind == "settle":
        try:
            decisions.settle_copies(run)
        except decisions.Unsimulated:
            for entry in run:
                _one(entry)  # decide_duplicate refuses one of them, as it would pair by pair
    else:
        for entry in run:
            _one(entry)


def _one(entry):
    """The per-pair path's receivers for one pair (review.apps)."""
    pair, master_image, reason = entry
    if master_image is None:
        services.queue_pair(pair)
    else:
        services.settle_or_queue(pair, master_image, reason)

