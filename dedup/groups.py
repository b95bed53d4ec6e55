"""Candidate groups from pairs, without chaining, and how they continue from one regroup to the next.
No Django imports.

Connected components alone chain: A~B, B~C, ... Y~Z puts A and Z in one review item although they
may look nothing alike, and a long run of borderline links can make a 10,000-image "group". So each
component is split greedily: its best-ranked image is a proposed master, the group is the master and
its direct neighbours, and the rest is split again the same way. Every member of a group is then one
pair away from the master, and a group is never larger than the master's number of pairs + 1.

The greedy split depends only on the component, so a change to the pairs changes the groups of the
components it touches and no others (dedup.grouping recomputes just those). regroup() does that for
some components, given what was stored for them before: a new group continues an old one (keeps its
id) when it has the same master, otherwise the old group it shares most members with; and each
component keeps a stable label (see label_components) by which its images are found again.
"""

import heapq
from collections import Counter, namedtuple


def components(pairs):
    """Connected components (lists of ids) of an undirected graph given as (a, b) pairs."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    found = {}
    for x in parent:
        found.setdefault(find(x), []).append(x)
    return [sorted(members) for members in found.values()]


def build_groups(pairs, rank):
    """[(master, sorted members)] for every group of two or more; rank(id) orders the master choice
    (highest first, the smaller id on a tie). O(p + n log n) for p pairs on n images: the candidates
    for master are visited once, best first, skipping those an earlier group took."""
    neighbours = {}
    for a, b in pairs:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    groups = []
    for component in components(pairs):
        taken = set()
        for master in sorted(component, key=lambda x: (rank(x), -x), reverse=True):
            if master in taken:
                continue
            members = {master} | (neighbours[master] - taken)
            taken |= members
            if len(members) > 1:
                groups.append((master, sorted(members)))
    return sorted(groups, key=lambda group: group[1][0])


def match_groups(old, new):
    """The old group id each new group continues, or None for a new group (a list aligned with new).

    old: {id: (master, members)}; new: [(master, members)]. A new group continues the old group with
    the same master; the others, the unclaimed old group they share most members with (the largest
    overlaps first, then the smaller old id). Each old id is used at most once, so a group that is
    unchanged, grows, shrinks or gets a better master keeps its id, and of two groups merged into one
    the larger gives its id."""
    ids = [None] * len(new)
    by_master = {master: pk for pk, (master, _members) in old.items()}
    used = set()
    for n, (master, _members) in enumerate(new):
        pk = by_master.get(master)
        if pk is not None and pk not in used:
            ids[n] = pk
            used.add(pk)
    owner = {x: pk for pk, (_master, members) in sorted(old.items()) for x in members}
    overlaps = []
    for n, (_master, members) in enumerate(new):
        if ids[n] is None:
            shared = Counter(owner[x] for x in members if x in owner)
            overlaps += [(-count, pk, n) for pk, count in shared.items() if pk not in used]
    for _count, pk, n in sorted(overlaps):
        if ids[n] is None and pk not in used:
            ids[n] = pk
            used.add(pk)
    return ids


def label_components(comps, old_labels):
    """A label for each component (a list aligned with comps): the id of one of its images, so two
    components never share a label however they were formed. A component keeps the old label that
    most of its images carry, provided the image of that id is still in it (merging the smaller into
    the larger: fewest rows to relabel); otherwise it is labelled with its smallest id.

    old_labels: {image: label} as stored. Labels stay unique across the whole archive when every label
    stored is carried by its own image, which this keeps true for the components it is given (they
    must hold every image that carries any of their images' old labels)."""
    labels = []
    for members in comps:
        inside = set(members)
        carried = Counter(old_labels[x] for x in members if x in old_labels)
        kept = [(-count, label) for label, count in carried.items() if label in inside]
        labels.append(min(kept)[1] if kept else min(members))
    return labels


Regrouped = namedtuple("Regrouped", "groups removed labels")
Regrouped.__doc__ = """groups: [(old id or None, master, members)]; removed: the old ids no group
continues (sorted); labels: {image: component label} for every image of the pairs."""


def regroup(pairs, rank, old_groups=None, old_labels=None):
    """The groups and component labels of the graph given by pairs (every pair of one or more whole
    components), continuing the old groups and labels stored for those components."""
    old_groups, old_labels = old_groups or {}, old_labels or {}
    new = build_groups(pairs, rank)
    ids = match_groups(old_groups, new)
    comps = components(pairs)
    labels = {}
    for members, label in zip(comps, label_components(comps, old_labels), strict=True):
        labels.update(dict.fromkeys(members, label))
    groups = [(pk, master, members) for pk, (master, members) in zip(ids, new, strict=True)]
    removed = sorted(set(old_groups) - set(ids))
    return Regrouped(groups, removed, labels)


def source_order(nodes, edges, rank):
    """A rank for build_groups that follows the pairs' suggestions: {node: rank}, higher first.

    edges: (suggested master, other) of each pair. The order is topological (Kahn's algorithm): a node
    comes only after every node suggested over it, so the source of sources comes first, and the greedy
    split then makes every group's master the member its pairs' suggestions point to (a member suggested
    over the master would have come first and taken it). Among the nodes free to come next, rank(node)
    decides (the keep-best rule; highest first, the smaller id on a tie). Suggestions that go round in a
    cycle are taken as one node (a strongly connected component), its members in rank order.
    O((n + e) log n)."""
    nodes = sorted(set(nodes), key=lambda x: (rank(x), -x), reverse=True)
    place = {x: n for n, x in enumerate(nodes)}
    after = {}
    for better, worse in set(edges):
        if better != worse and better in place and worse in place:
            after.setdefault(better, []).append(worse)
    part = _strong_components(nodes, after)
    members, waiting, later = {}, {}, {}
    for x in nodes:  # in rank order, so each component's members are too
        members.setdefault(part[x], []).append(x)
        waiting.setdefault(part[x], 0)
    for better, worse_ones in after.items():
        for worse in worse_ones:
            if part[better] != part[worse]:
                later.setdefault(part[better], []).append(part[worse])
                waiting[part[worse]] += 1
    free = [(place[members[c][0]], c) for c in members if waiting[c] == 0]
    heapq.heapify(free)
    order = []
    while free:
        _place, c = heapq.heappop(free)
        order += members[c]
        for d in later.get(c, ()):
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(free, (place[members[d][0]], d))
    return {x: len(order) - n for n, x in enumerate(order)}


def _strong_components(nodes, after):
    """{node: component id} of the directed graph (Kosaraju's two passes, iteratively)."""
    finished, seen = [], set()
    for root in nodes:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(after.get(root, ())))]
        while stack:
            node, rest = stack[-1]
            for nxt in rest:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, iter(after.get(nxt, ()))))
                    break
            else:
                stack.pop()
                finished.append(node)
    before = {}
    for better, worse_ones in after.items():
        for worse in worse_ones:
            before.setdefault(worse, []).append(better)
    part = {}
    for root in reversed(finished):
        if root in part:
            continue
        part[root], stack = root, [root]
        while stack:
            for prev in before.get(stack.pop(), ()):
                if prev not in part:
                    part[prev] = root
                    stack.append(prev)
    return part
