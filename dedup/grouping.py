"""Candidate groups kept up to date where pairs change, with stable ids (the split itself: dedup.groups).

The graph is every pair not rejected by verification. A verify batch calls regroup_pairs with its pair
ids, which recomputes the connected components those pairs touch and nothing else:

1. collect: from the pairs' images, every image of their components (ComponentMember: one indexed
   query per component label, however long its chains), every pair of those images and every group
   they are in. An image those pairs or groups reach outside (a pair not grouped yet that joins two
   components, or a component never labelled) is collected the same way, until nothing new is
   reached: what is collected is whole components of the current graph.
2. compute: dedup.groups.regroup on those pairs, continuing the groups and labels stored for them (a
   group keeps its id when its master stays, else the group it shares most members with gives it).
3. write only what changed: component labels, groups, members, and each pair's group (the group that
   holds both its images, or none).

Cost. Reads are proportional to the components touched (their images, pairs and groups) and writes to
what changed in them; nothing else of the archive is read. A batch of 50 new pairs among 1.1M pairs of
picture-sized components reads ~550 images and ~1,500 pairs in a few dozen queries: p50 96 ms, p95 147
ms (bench/groups.py, 2 shared cores; the whole rebuild it replaces took 37 s at 50k pairs). A
component of 100k pairs touched by one new pair is read whole (its 100k pairs, 50k images and their
groups: 5 s there), because the greedy split may change anywhere in it. That is the bound: the size of
the touched components, never the archive.

Many workers. A regroup is one transaction that first takes one PostgreSQL transaction-level advisory
lock, so concurrent batches' regroups run one after another, each costing only its own components, and
each reads what the previous ones committed. A pair another worker adds or rejects meanwhile is
regrouped by that worker's own batch afterwards, so the last regroup of a component sees its final
pairs. (SQLite's IMMEDIATE transactions let one writer in at a time anyway.)

rebuild_groups does the same for the whole archive at once: a repair step (`manage.py rebuild_groups`),
which also keeps the ids of the groups that come out the same.
"""

from collections import defaultdict
from types import SimpleNamespace

from django.db import connection, transaction
from django.utils import timezone

from catalogue.models import CatalogueRecord, Collection, ImageFile

from . import groups as core
from . import policy
from .models import CandidateGroup, CandidatePair, ComponentMember

LOCK = "mastercopy-regroup"
_CHUNK = 5000  # ids per query: under SQLite's variable limit, and a short IN list for PostgreSQL
_REJECTED = CandidatePair.Tier.REJECTED
_MEMBERS = CandidateGroup.members.through
_PAIR_FIELDS = ("pk", "image_a", "image_b", "tier", "group", "source_side", "derivation")


def keep_best_rank(rows):
    """The default keep-best rule, for (pk, width, height, size) rows: most pixels, then the larger
    file, then the earliest import."""
    return {pk: (width * height, size, -pk) for pk, width, height, size in rows}


def lock():
    """Serialise regroups across workers until the caller's transaction ends (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [LOCK])


def _chunks(ids):
    ids = sorted(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class _Stored:
    """What the database holds for some whole components: their images, component labels
    ({image: label}), pairs ({pk: (a, b, tier, group)}) and groups ({pk: (master, members)})."""

    def __init__(self):
        self.images, self.labels, self.pairs, self.groups = set(), {}, {}, {}
        self.directions = {}  # {pair: (source side, derivation)} of the pairs with a direction

    @classmethod
    def around(cls, seeds):
        """The components of the seed images (see the module docstring, step 1)."""
        stored, frontier, seen = cls(), set(seeds), set()
        while frontier:
            found, rows = {}, ComponentMember.objects.values_list("image", "component")
            for chunk in _chunks(frontier):
                found.update(rows.filter(image__in=chunk))
            labels = set(found.values()) - seen
            seen |= labels
            for chunk in _chunks(labels):
                found.update(rows.filter(component__in=chunk))
            fresh = (frontier | set(found)) - stored.images
            stored.images |= fresh
            stored.labels.update(found)
            frontier = (stored._read_pairs(fresh) | stored._read_groups(fresh)) - stored.images
        return stored

    @classmethod
    def everything(cls):
        stored = cls()
        stored.labels = dict(ComponentMember.objects.values_list("image", "component").iterator(_CHUNK))
        rows = CandidatePair.objects.values_list(*_PAIR_FIELDS)
        for pk, a, b, tier, group, side, derivation in rows.iterator(_CHUNK):
            stored._add_pair(pk, a, b, tier, group, side, derivation)
        stored._add_groups(CandidateGroup.objects.all(), _MEMBERS.objects.all())
        stored.images = set(stored.labels) | {x for a, b, *_ in stored.pairs.values() for x in (a, b)}
        stored.images |= {x for _master, members in stored.groups.values() for x in members}
        return stored

    def _read_pairs(self, images):
        """Read every pair of these images; returns the images their pairs (not rejected) reach."""
        reached = set()
        for chunk in _chunks(images):
            for side in ("image_a__in", "image_b__in"):
                rows = CandidatePair.objects.filter(**{side: chunk})
                for pk, a, b, tier, group, side, derivation in rows.values_list(*_PAIR_FIELDS):
                    self._add_pair(pk, a, b, tier, group, side, derivation)
                    if tier != _REJECTED:
                        reached |= {a, b}
        return reached

    def _add_pair(self, pk, a, b, tier, group, side, derivation):
        self.pairs[pk] = (a, b, tier, group)
        if side:
            self.directions[pk] = (side, derivation)

    def _read_groups(self, images):
        """Read every group these images are in; returns the groups' images."""
        ids = set()
        for chunk in _chunks(images):
            ids.update(_MEMBERS.objects.filter(imagefile__in=chunk).values_list("candidategroup", flat=True))
        ids -= set(self.groups)
        for chunk in _chunks(ids):
            self._add_groups(
                CandidateGroup.objects.filter(pk__in=chunk), _MEMBERS.objects.filter(candidategroup__in=chunk)
            )
        return {x for pk in ids for x in self.groups[pk][1]}

    def _add_groups(self, groups, memberships):
        members = defaultdict(set)
        for group, image in memberships.values_list("candidategroup", "imagefile").iterator(_CHUNK):
            members[group].add(image)
        for pk, master in groups.values_list("pk", "master").iterator(_CHUNK):
            self.groups[pk] = (master, members[pk] | {master})


# What dedup.policy.keep_best_key reads of an image, its record and its fingerprint: a regroup reads
# these as plain rows in one query (model instances with their joins cost several times more).
_IMAGE_FIELDS = (
    "pk",
    "width",
    "height",
    "size",
    "format",
    "collection_id",
    "record_id",
    "record__master_id",
    "record__collection_id",
    "fingerprint__quality",
)


def _facts(image_ids):
    """{image: what the keep-best keys read of it}, from rows: the image's size and format, its
    collection, its record (master; the descriptive fields only when a rule ranks by richness) and its
    fingerprint's quality facts."""
    images = {}
    for chunk in _chunks(image_ids):
        for (
            pk,
            width,
            height,
            size,
            fmt,
            collection,
            record,
            master,
            home,
            quality,
        ) in ImageFile.objects.filter(pk__in=chunk).values_list(*_IMAGE_FIELDS):
            images[pk] = SimpleNamespace(
                pk=pk,
                width=width,
                height=height,
                size=size,
                format=fmt,
                collection=collection,
                record=SimpleNamespace(pk=record, master_id=master, collection=home),
                fingerprint=SimpleNamespace(quality=quality or {}),
            )
    ids = {image.collection for image in images.values()} | {
        image.record.collection for image in images.values()
    }
    collections = Collection.objects.in_bulk(ids)
    for image in images.values():
        image.collection, image.record.collection = (
            collections[image.collection],
            collections[image.record.collection],
        )
    if any("richness" in policy.for_collection(c)["keep_best"] for c in collections.values()):
        _add_descriptions(images)
    return images


def _add_descriptions(images):
    by_record = defaultdict(list)
    for image in images.values():
        by_record[image.record.pk].append(image)
    rows = CatalogueRecord.objects.values_list("pk", *policy.RICH_FIELDS, "metadata")
    for chunk in _chunks(by_record):
        for pk, *values, metadata in rows.filter(pk__in=chunk):
            for image in by_record[pk]:
                image.record.__dict__.update(zip(policy.RICH_FIELDS, values, strict=True), metadata=metadata)


def _suggested(pairs, directions, images):
    """(master, other) image ids of each pair: the decided master where a decision made the two records
    one (the record the other resolves to), else the master the pair screen suggests: what
    dedup.policy.suggest_master compares, the keep-best keys of the two images under the rule of the
    left image's collection, with the derivative of a pair with a direction marked as made from the
    source. Without a direction an image's key is the same in every pair: computed once per rule."""
    rules, keys, edges = {}, {}, []
    for pk, (a, b) in pairs.items():
        side, derivation = directions.get(pk, ("", ""))
        first, second = images[a], images[b]
        decided = _decided(first.record, second.record, a, b)
        if decided is not None:
            edges += [decided] if decided else []
            continue
        collection = first.record.collection
        if collection.pk not in rules:
            rules[collection.pk] = policy.for_collection(collection)["keep_best"]
        rule = rules[collection.pk]
        if side:
            source, other = (first, second) if side == "a" else (second, first)
            derived = {other.pk: (source, (derivation or "").split("+"))}
            key_a, key_b = (policy.keep_best_key(image, rule, derived) for image in (first, second))
        else:
            for image in (first, second):
                if (image.pk, collection.pk) not in keys:
                    keys[image.pk, collection.pk] = policy.keep_best_key(image, rule)
            key_a, key_b = keys[a, collection.pk], keys[b, collection.pk]
        edges.append((a, b) if key_a >= key_b else (b, a))  # equal keys: the left one, as rank_images
    return edges


def _decided(a, b, image_a, image_b):
    """The edge a duplicate decision gives between two images' records a and b (the master's image
    first), () when both are superseded by a third, None when no decision made them one."""
    if a.pk == b.pk or (a.master_id or a.pk) != (b.master_id or b.pk):
        return None
    if a.master_id is None:
        return (image_a, image_b)
    if b.master_id is None:
        return (image_b, image_a)
    return ()


def _plan(stored):
    """The groups of the stored components: split greedily in the order the pairs' suggestions give
    (dedup.groups.source_order: the source of sources first), the keep-best rank among the free."""
    kept = {pk: (a, b) for pk, (a, b, tier, _group) in stored.pairs.items() if tier != _REJECTED}
    links = list(kept.values())
    images = _facts({x for link in links for x in link})
    ranks = keep_best_rank((x.pk, x.width, x.height, x.size) for x in images.values())
    order = core.source_order(images, _suggested(kept, stored.directions, images), ranks.__getitem__)
    return core.regroup(links, order.__getitem__, stored.groups, stored.labels)


def _write_labels(stored, plan):
    gone = [x for x in stored.labels if x not in plan.labels]
    for chunk in _chunks(gone):
        ComponentMember.objects.filter(image__in=chunk).delete()
    changed = [
        ComponentMember(image_id=x, component=label)
        for x, label in plan.labels.items()
        if stored.labels.get(x) != label
    ]
    ComponentMember.objects.bulk_create(
        changed, _CHUNK, update_conflicts=True, unique_fields=["image"], update_fields=["component"]
    )
    return len(changed) + len(gone)


def _write_groups(stored, plan, now):
    """Groups and members; returns [(group id, members)] of the groups as they are now."""
    for chunk in _chunks(plan.removed):
        CandidateGroup.objects.filter(pk__in=chunk).delete()
    created = CandidateGroup.objects.bulk_create(
        [CandidateGroup(master_id=master) for pk, master, _members in plan.groups if pk is None],
        batch_size=_CHUNK,
    )
    fresh, result, add, touched = iter(created), [], [], set()
    for pk, master, members in plan.groups:
        if pk is None:
            pk = next(fresh).pk
            old_master, old_members = None, set()
        else:
            old_master, old_members = stored.groups[pk]
        members = set(members)
        add += [_MEMBERS(candidategroup_id=pk, imagefile_id=x) for x in sorted(members - old_members)]
        dropped = old_members - members
        if dropped:
            _MEMBERS.objects.filter(candidategroup_id=pk, imagefile__in=sorted(dropped)).delete()
        if old_master is not None and old_master != master:
            CandidateGroup.objects.filter(pk=pk).update(master_id=master, updated_at=now)
        elif old_master is not None and members != old_members:
            touched.add(pk)
        result.append((pk, members))
    _MEMBERS.objects.bulk_create(add, batch_size=_CHUNK, ignore_conflicts=True)
    for chunk in _chunks(touched):
        CandidateGroup.objects.filter(pk__in=chunk).update(updated_at=now)
    return result


def _write_pairs(stored, current):
    """Each pair's group: the group holding both its images (pairs not rejected only), else none."""
    member_of = {x: pk for pk, members in current for x in members}
    changes = {}
    for pk, (a, b, tier, group) in stored.pairs.items():
        wanted = member_of.get(a) if tier != _REJECTED and member_of.get(a) == member_of.get(b) else None
        if wanted != group:
            changes[pk] = wanted
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(CandidatePair._meta.db_table)
        items = sorted(changes.items())
        with connection.cursor() as cursor:
            for start in range(0, len(items), 50_000):
                part = items[start : start + 50_000]
                cursor.execute(
                    # One statement per 50,000 pairs, whatever their groups (a full rebuild sets ~1M).
                    f"UPDATE {table} AS p SET group_id = v.g "  # noqa: S608 - the model's own table name
                    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, g) WHERE p.id = v.id",
                    [[pk for pk, _g in part], [g for _pk, g in part]],
                )
    else:
        by_group = defaultdict(list)
        for pk, group in changes.items():
            by_group[group].append(pk)
        for group, pks in by_group.items():
            for chunk in _chunks(pks):
                CandidatePair.objects.filter(pk__in=chunk).update(group_id=group)
    return len(changes)


def _apply(stored):
    plan = _plan(stored)
    current = _write_groups(stored, plan, timezone.now())
    return {
        "images": len(stored.images),
        "pairs read": len(stored.pairs),
        "groups": len(plan.groups),
        "groups created": sum(pk is None for pk, _master, _members in plan.groups),
        "groups removed": len(plan.removed),
        "labels written": _write_labels(stored, plan),
        "pairs regrouped": _write_pairs(stored, current),
    }


def regroup_pairs(pair_ids):
    """Bring the groups of the components these pairs touch up to date (after the pairs were added,
    verified or rejected); other groups are not read. Returns counts of what was read and written."""
    pair_ids = list(pair_ids)
    with transaction.atomic():
        lock()
        seeds = set()
        for chunk in _chunks(pair_ids):
            for a, b in CandidatePair.objects.filter(pk__in=chunk).values_list("image_a", "image_b"):
                seeds |= {a, b}
        return _apply(_Stored.around(seeds))


def rebuild_groups():
    """Repair: recompute every group from every pair (reads the whole archive), keeping the ids of the
    groups that continue. Returns the counts regroup_pairs returns."""
    with transaction.atomic():
        lock()
        return _apply(_Stored.everything())
