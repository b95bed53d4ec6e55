"""What the decisions already taken answer about a pair of records. Plain Python, no Django imports.

Three kinds of standing decision are facts about records (catalogue records, not images):

- a duplicate decision joins two records into one record group (master and superseded);
- a related decision links two records kept apart;
- a not-related (distinct) decision keeps two records apart as unrelated.

Record groups are what the catalogue holds (every record resolves to one master, its root). Facts carry
over the whole group: what is said of a record is said of every record the same as it. So for a pair of
records x and y:

- the same root, joined by a path of duplicate decisions → duplicate;
- a related decision between a record of x's group and one of y's → related;
- a not-related decision between a record of x's group and one of y's → distinct.

The answer cites the decisions it follows from: the related or not-related decision and the duplicate
decisions that join x and y to its two records (the shortest such set). Where two of these answers hold at
once (one group holding records decided not related, or two groups both related and not related) the
decisions contradict each other and the pair is a supervisor's question, with both sets cited.

Only the catalogue's current groups count, and only duplicate decisions inside one group: a decision
whose effect was moved away by a later revert joins nothing (review.supervision flags those).
"""

from collections import deque, namedtuple

DUPLICATE, RELATED, DISTINCT = "duplicate", "related", "distinct"

Implied = namedtuple("Implied", "kind because conflict")
Implied.__doc__ = """kind: the answer the decisions give (DUPLICATE, RELATED or DISTINCT), None when they
contradict each other; because: the ids of the decisions it follows from, sorted (for a contradiction:
every decision of every answer); conflict: {kind: because} of each answer when they contradict, else {}."""


class Facts:
    """The standing decisions about some record groups, and the groups themselves.

    roots: {record: the record it resolves to} for every record of the groups (a record missing is its
    own root); duplicates: [(decision, master, superseded)]; related, distinct: [(decision, p, q)]."""

    def __init__(self, roots, duplicates=(), related=(), distinct=()):
        self.roots = dict(roots)
        self.neighbours = {}
        for decision, master, superseded in duplicates:
            if master == superseded or self.root(master) != self.root(superseded):
                continue
            self.neighbours.setdefault(master, []).append((superseded, decision))
            self.neighbours.setdefault(superseded, []).append((master, decision))
        self.links = {}
        for kind, rows in ((RELATED, related), (DISTINCT, distinct)):
            for decision, p, q in rows:
                if p == q:
                    continue
                key = frozenset((self.root(p), self.root(q)))
                self.links.setdefault(key, []).append((kind, decision, p, q))
        self._paths = {}

    def root(self, record):
        return self.roots.get(record, record)

    def path(self, start, end):
        """The duplicate decisions joining two records of one group (fewest first), or None."""
        if start == end:
            return frozenset()
        parents = self._paths.get(start)
        if parents is None:
            parents = self._paths[start] = self._search(start)
        if end not in parents:
            return None
        decisions, node = set(), end
        while node != start:
            node, decision = parents[node]
            decisions.add(decision)
        return frozenset(decisions)

    def _search(self, start):
        parents, queue = {start: None}, deque([start])
        while queue:
            node = queue.popleft()
            for other, decision in self.neighbours.get(node, ()):
                if other not in parents:
                    parents[other] = (node, decision)
                    queue.append(other)
        return parents

    def _through(self, x, y, p, q):
        """The duplicate decisions joining x to p and y to q, or None when either path is missing."""
        one, other = self.path(x, p), self.path(y, q)
        return None if one is None or other is None else one | other

    def _ends(self, x, p, q):
        """The ways round a fact about p and q applies to a pair whose first record is x: p on x's side,
        or q (both, when p and q are in one group)."""
        if self.root(p) == self.root(q):
            return [(p, q), (q, p)]
        return [(p, q)] if self.root(p) == self.root(x) else [(q, p)]

    def answers(self, x, y):
        """{kind: (decision ids)} of every answer the facts give for records x and y, each with the
        smallest set of decisions it follows from."""
        found = {}
        if x == y:
            return found
        if self.root(x) == self.root(y):
            joined = self.path(x, y)
            if joined:
                found[DUPLICATE] = joined
        for kind, decision, p, q in self.links.get(frozenset((self.root(x), self.root(y))), ()):
            for a, b in self._ends(x, p, q):
                through = self._through(x, y, a, b)
                if through is None:
                    continue
                because = through | {decision}
                if kind not in found or _shorter(because, found[kind]):
                    found[kind] = because
        return found

    def implied(self, x, y):
        """What the decisions answer about records x and y (an Implied), or None when they say nothing."""
        found = self.answers(x, y)
        if not found:
            return None
        if len(found) == 1:
            ((kind, because),) = found.items()
            return Implied(kind, tuple(sorted(because)), {})
        conflict = {kind: tuple(sorted(because)) for kind, because in found.items()}
        return Implied(None, tuple(sorted(set().union(*found.values()))), conflict)


def _shorter(one, other):
    return (len(one), sorted(one)) < (len(other), sorted(other))
