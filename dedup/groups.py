"""Candidate groups from pairs, without chaining. No Django imports.

Connected components alone chain: A~B, B~C, ... Y~Z puts A and Z in one review item although they
may look nothing alike, and a long run of borderline links can make a 10,000-image "group". So each
component is split greedily: its best-ranked image is a proposed master, the group is the master and
its direct neighbours, and the rest is split again the same way. Every member of a group is then one
pair away from the master, and a group is never larger than the master's number of pairs + 1.
"""


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
    """[(master, sorted members)] for every group of two or more; rank(id) orders the master choice."""
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
