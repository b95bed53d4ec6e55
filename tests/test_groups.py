"""dedup.groups, the plain core of candidate groups: the chaining guard, and how groups and component
labels continue from one regroup to the next. Runs without Django too (`pytest -p no:django`)."""

import random
import time

from dedup.groups import build_groups, components, label_components, match_groups, regroup, source_order


def reference_groups(pairs, rank):
    """The split as first written (quadratic): the best remaining image, its remaining neighbours, again."""
    neighbours = {}
    for a, b in pairs:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    groups = []
    for component in components(pairs):
        remaining = set(component)
        while remaining:
            master = max(remaining, key=lambda x: (rank(x), -x))
            members = {master} | (neighbours[master] & remaining)
            if len(members) > 1:
                groups.append((master, sorted(members)))
            remaining -= members
    return sorted(groups, key=lambda group: group[1][0])


def random_graph(rng, images, pairs):
    links, pairs = set(), min(pairs, images * (images - 1) // 2)
    while len(links) < pairs:
        a, b = rng.sample(range(1, images + 1), 2)
        links.add((min(a, b), max(a, b)))
    return sorted(links)


def test_the_split_is_the_one_first_written_on_random_graphs():
    rng = random.Random(7)
    for trial in range(200):
        pairs = random_graph(rng, rng.randint(2, 40), rng.randint(1, 60) if trial % 2 else 30)
        ranks = {x: rng.randint(0, 5) for x in range(1, 41)}

        assert build_groups(pairs, ranks.__getitem__) == reference_groups(pairs, ranks.__getitem__)


def test_a_long_chain_splits_in_near_linear_time():
    chain = [(i, i + 1) for i in range(100_000)]
    started = time.perf_counter()

    groups = build_groups(chain, rank=lambda x: x % 7)

    # About a second; the first version took minutes here (each master a scan of everything left).
    assert time.perf_counter() - started < 20
    assert max(len(members) for _, members in groups) <= 3
    assert all(abs(m - master) <= 1 for master, members in groups for m in members)


def test_an_unchanged_group_keeps_its_id_and_a_growing_one_too():
    old = {10: (1, {1, 2, 3}), 11: (5, {5, 6})}

    assert match_groups(old, [(1, [1, 2, 3]), (5, [5, 6])]) == [10, 11]
    assert match_groups(old, [(1, [1, 2, 3, 4]), (5, [5, 6])]) == [10, 11]


def test_a_group_with_a_better_new_master_keeps_its_id():
    old = {10: (1, {1, 2, 3})}

    # Image 9 arrives, ranks above 1 and is close to all three: the group is 9's now, and still group 10.
    assert match_groups(old, [(9, [1, 2, 3, 9])]) == [10]


def test_two_groups_merged_take_the_larger_ones_id():
    old = {10: (1, {1, 2}), 11: (5, {5, 6, 7})}

    assert match_groups(old, [(9, [1, 2, 5, 6, 7, 9])]) == [11]


def test_a_split_group_gives_its_id_to_one_part_only():
    old = {10: (1, {1, 2, 3, 4, 5})}

    ids = match_groups(old, [(1, [1, 2]), (4, [3, 4, 5])])

    assert ids == [10, None]


def test_overlap_decides_when_no_master_matches_and_each_id_goes_once():
    old = {10: (1, {1, 2, 3}), 11: (4, {4, 5})}

    ids = match_groups(old, [(8, [2, 3, 8]), (7, [1, 7]), (4, [4, 5])])

    assert ids == [10, None, 11]


def test_merged_components_keep_the_larger_ones_label():
    old = {1: 1, 2: 1, 5: 5, 6: 5, 7: 5}

    assert label_components([[1, 2, 5, 6, 7, 9]], old) == [5]


def test_a_split_component_keeps_its_label_on_the_part_holding_that_image():
    old = dict.fromkeys([3, 4, 5, 6], 3)

    # 3 and 4 were split from 5 and 6: the part without image 3 cannot keep label 3.
    assert label_components([[5, 6], [3, 4]], old) == [5, 3]
    assert label_components([[4, 5, 6], [3, 8]], old) == [4, 3]


def test_a_new_component_is_labelled_with_its_smallest_image():
    assert label_components([[8, 4, 6]], {}) == [4]


class Archive:
    """Stored groups and labels, regrouped the way dedup.grouping does: only the components that the
    changed pairs touch (found through the stored labels and the pairs), the rest left alone."""

    def __init__(self, rank):
        self.rank, self.links, self.groups, self.labels, self.next_id = rank, set(), {}, {}, 1

    def regroup(self, touched):
        scope, frontier = set(), set(touched)
        while frontier:
            labels = {self.labels[x] for x in frontier if x in self.labels}
            frontier |= {x for x, label in self.labels.items() if label in labels}
            scope |= frontier
            reached = {y for a, b in self.links if a in scope or b in scope for y in (a, b)}
            reached |= {y for _m, members in self.groups.values() if members & scope for y in members}
            frontier = reached - scope
        links = [link for link in self.links if link[0] in scope]
        old = {pk: group for pk, group in self.groups.items() if group[1] & scope}
        plan = regroup(links, self.rank, old, {x: self.labels[x] for x in scope if x in self.labels})
        for pk in plan.removed:
            del self.groups[pk]
        for pk, master, members in plan.groups:
            if pk is None:
                pk, self.next_id = self.next_id, self.next_id + 1
            self.groups[pk] = (master, set(members))
        for x in scope:
            self.labels.pop(x, None)
        self.labels.update(plan.labels)

    def as_built_whole(self):
        return sorted((m, sorted(members)) for m, members in self.groups.values())


def test_regrouping_touched_components_only_ends_where_a_whole_rebuild_does():
    rng = random.Random(11)
    ranks = {x: rng.randint(0, 3) for x in range(1, 121)}
    archive = Archive(ranks.__getitem__)
    for _step in range(300):
        batch = set()
        for _ in range(rng.randint(1, 4)):
            a, b = sorted(rng.sample(range(1, 121), 2))
            if (a, b) in archive.links and rng.random() < 0.5:
                archive.links.discard((a, b))  # rejected by verification
            else:
                archive.links.add((a, b))
            batch |= {a, b}
        before = {x: archive.labels[x] for x in archive.labels}
        groups_before = dict(archive.groups)

        archive.regroup(batch)

        whole = sorted((m, members) for m, members in build_groups(sorted(archive.links), ranks.__getitem__))
        assert archive.as_built_whole() == whole
        # What the batch's components did not hold, before or after, is left exactly as it was.
        after = archive.labels
        touched = {before[x] for x in batch if x in before} | {after[x] for x in batch if x in after}
        reached = {x for x in before if before[x] in touched} | {x for x in after if after[x] in touched}
        reached |= batch
        for x, label in before.items():
            if x not in reached:
                assert archive.labels[x] == label
        for pk, (master, members) in groups_before.items():
            if not members & reached:
                assert archive.groups[pk] == (master, members)
        # Every label is one of its component's images, and two components never share one.
        for comp in components(sorted(archive.links)):
            assert {archive.labels[x] for x in comp} == {archive.labels[comp[0]]}
            assert archive.labels[comp[0]] in comp
        assert len(set(archive.labels.values())) == len(components(sorted(archive.links)))


def test_ids_stay_put_while_a_picture_gains_copies_batch_after_batch():
    ranks = {1: 9, **{x: 1 for x in range(2, 40)}}
    archive = Archive(ranks.__getitem__)
    archive.links = {(1, 2)}
    archive.regroup({1, 2})
    (first,) = archive.groups

    for copy in range(3, 40):
        archive.links.add((1, copy))
        archive.regroup({1, copy})

        assert list(archive.groups) == [first]
        assert archive.groups[first] == (1, set(range(1, copy + 1)))


def test_the_source_of_sources_is_the_proposed_master_whatever_the_keep_best_rank():
    # 3 is the source of 1, 1 of 2 (an upscale of 1 has the most pixels: keep-best alone picks 2).
    pairs, edges = [(1, 2), (1, 3), (2, 3)], [(3, 1), (1, 2), (3, 2)]
    pixels = {1: 5, 2: 9, 3: 1}

    order = source_order([1, 2, 3], edges, pixels.__getitem__)

    assert build_groups(pairs, pixels.__getitem__) == [(2, [1, 2, 3])]
    assert build_groups(pairs, order.__getitem__) == [(3, [1, 2, 3])]


def test_without_suggestions_the_order_is_the_keep_best_rank():
    ranks = {1: 3, 2: 7, 3: 5}

    order = source_order([1, 2, 3], [], ranks.__getitem__)

    assert sorted(order, key=order.get, reverse=True) == [2, 3, 1]


def test_every_group_master_is_what_its_pairs_suggest_on_random_graphs():
    # Suggestions that follow some hidden order of "made from" (no cycle): every pair between a group's
    # master and a member suggests the master, so the strip and the pair screen never disagree.
    rng = random.Random(11)
    for _trial in range(200):
        pairs = random_graph(rng, rng.randint(2, 30), rng.randint(1, 50))
        hidden = {x: rng.random() for x in range(1, 31)}
        edges = [(a, b) if hidden[a] > hidden[b] else (b, a) for a, b in pairs]
        suggested = {frozenset(edge): edge[0] for edge in edges}
        keep_best = {x: rng.randint(0, 5) for x in range(1, 31)}

        order = source_order({x for pair in pairs for x in pair}, edges, keep_best.__getitem__)

        for master, members in build_groups(pairs, order.__getitem__):
            for member in members:
                pair = frozenset((master, member))
                assert member == master or pair not in suggested or suggested[pair] == master


def test_suggestions_in_a_cycle_still_give_every_node_a_place():
    order = source_order([1, 2, 3, 4], [(1, 2), (2, 3), (3, 1), (3, 4)], {1: 0, 2: 2, 3: 1, 4: 9}.__getitem__)

    assert sorted(order.values()) == [1, 2, 3, 4]
    assert order[2] > order[3] > order[1] > order[4]  # 2 breaks the cycle (best rank), then the edges
