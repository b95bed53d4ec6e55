"""dedup.grouping: a verify batch regroups only the components its pairs touch, groups keep their ids
from one batch to the next, and the end state is the one a whole rebuild gives."""

import random

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue.models import CatalogueRecord, ImageFile
from dedup.grouping import rebuild_groups, regroup_pairs
from dedup.groups import build_groups
from dedup.models import CandidateGroup, CandidatePair, ComponentMember

pytestmark = pytest.mark.django_db


def make_images(collection, count, width=100):
    """count images (no files: grouping reads only ids and sizes); wider ones rank higher as master."""
    start = ImageFile.objects.count()
    records = CatalogueRecord.objects.bulk_create(
        CatalogueRecord(collection=collection, catalogue_number=f"G-{start + n:05d}") for n in range(count)
    )
    return [
        image.pk
        for image in ImageFile.objects.bulk_create(
            ImageFile(
                record=record,
                collection=collection,
                storage_key=f"originals/none/g{record.pk}",
                original_filename=f"{record.pk}.jpg",
                source_path=f"g/{record.pk}.jpg",
                size=1000,
                sha256=f"{record.pk:064x}",
                format="JPEG",
                width=width,
                height=100,
                mode="RGB",
            )
            for record in records
        )
    ]


def link(a, b, tier="review"):
    a, b = min(a, b), max(a, b)
    pair, _ = CandidatePair.objects.update_or_create(
        image_a_id=a,
        image_b_id=b,
        defaults={"phash_distance": 3, "dhash_distance": 3, "score": 0.9, "tier": tier, "verified": True},
    )
    return pair.pk


def stored_groups():
    """{group id: (master, members)} as stored."""
    return {
        group.pk: (group.master_id, sorted(m.pk for m in group.members.all()))
        for group in CandidateGroup.objects.prefetch_related("members")
    }


def whole(groups):
    return sorted((master, members) for master, members in groups.values())


def expected():
    """The groups a rebuild of everything gives (dedup.groups on every pair not rejected)."""
    links = CandidatePair.objects.exclude(tier="rejected").values_list("image_a", "image_b")
    sizes = {i.pk: (i.width * i.height, i.size, -i.pk) for i in ImageFile.objects.all()}
    return sorted(build_groups(list(links), sizes.__getitem__))


def assert_pairs_point_at_their_group(groups):
    member_of = {x: pk for pk, (_m, members) in groups.items() for x in members}
    for pair in CandidatePair.objects.all():
        same = member_of.get(pair.image_a_id) == member_of.get(pair.image_b_id)
        wanted = member_of.get(pair.image_a_id) if same and pair.tier != "rejected" else None
        assert pair.group_id == wanted, pair


def test_a_batch_makes_the_groups_of_its_pairs(collection):
    master, *copies = make_images(collection, 4, width=100)
    better = make_images(collection, 1, width=400)[0]
    ids = [link(master, copy) for copy in copies]

    regroup_pairs(ids)

    groups = stored_groups()
    assert whole(groups) == [(master, sorted([master, *copies]))]
    assert_pairs_point_at_their_group(groups)
    (first,) = groups
    # A better copy of the same picture joins: the group grows, gets a new master, keeps its id.
    regroup_pairs([link(better, master), link(better, copies[0])])

    groups = stored_groups()
    assert list(groups) == [first]
    assert groups[first][0] == better
    assert whole(groups) == expected()
    assert_pairs_point_at_their_group(groups)


def test_groups_the_batch_does_not_touch_are_not_written(collection):
    images = make_images(collection, 9)
    regroup_pairs([link(images[0], images[1]), link(images[0], images[2]), link(images[3], images[4])])
    before = {g.pk: (g.master_id, g.updated_at) for g in CandidateGroup.objects.all()}
    untouched = CandidateGroup.objects.get(members=images[3]).pk

    regroup_pairs([link(images[0], images[5]), link(images[7], images[8])])

    after = {g.pk: (g.master_id, g.updated_at) for g in CandidateGroup.objects.all()}
    assert after[untouched] == before[untouched]
    assert set(before) < set(after) and len(after) == 3
    assert whole(stored_groups()) == expected()


def test_a_batch_reads_its_components_only(collection):
    images = make_images(collection, 400)
    pairs = [link(images[n], images[n + 1]) for n in range(0, 400, 2)]
    regroup_pairs(pairs)
    pairs = [link(images[n], images[n + 2]) for n in range(0, 300, 4)]
    regroup_pairs(pairs)

    first, second = link(images[0], images[399]), link(images[201], images[203])
    with CaptureQueriesContext(connection) as one:
        counts = regroup_pairs([first])
    with CaptureQueriesContext(connection) as other:
        regroup_pairs([second])

    # Images 0-3 and 398-399 (two components joined) and their 5 pairs, not the 275 pairs of the archive.
    assert (counts["images"], counts["pairs read"]) == (6, 5), counts
    # A fixed handful of queries, none without a WHERE (no whole-table read).
    queries = [q["sql"] for q in [*one.captured_queries, *other.captured_queries]]
    assert len(one) <= 25 and len(other) <= 25, queries
    assert not [sql for sql in queries if sql.startswith("SELECT") and " FROM " in sql and "WHERE" not in sql]
    assert whole(stored_groups()) == expected()


def test_a_rejected_pair_splits_its_group_and_the_larger_part_keeps_the_id(collection):
    hub, a, b, c = make_images(collection, 4)
    regroup_pairs([link(hub, a), link(hub, b), link(b, c)])
    (group,) = stored_groups()

    regroup_pairs([link(hub, b, tier="rejected")])

    groups = stored_groups()
    assert whole(groups) == expected() == [(hub, [hub, a]), (b, [b, c])]
    assert group in groups
    assert_pairs_point_at_their_group(groups)
    labels = dict(ComponentMember.objects.values_list("image", "component"))
    assert labels[hub] == labels[a] != labels[b] == labels[c]


def test_incremental_batches_end_where_a_rebuild_does(collection):
    rng = random.Random(5)
    images = make_images(collection, 60)
    for n, image in enumerate(images):
        ImageFile.objects.filter(pk=image).update(width=100 + (n * 37) % 5)
    for _batch in range(40):
        ids = []
        for _ in range(rng.randint(1, 5)):
            a, b = rng.sample(images, 2)
            tier = "rejected" if rng.random() < 0.2 else "review"
            ids.append(link(a, b, tier))

        regroup_pairs(ids)

        groups = stored_groups()
        assert whole(groups) == expected()
        assert_pairs_point_at_their_group(groups)
    ids_before = set(stored_groups())

    counts = rebuild_groups()

    # Nothing left to repair: the rebuild keeps every group and moves no pair.
    assert set(stored_groups()) == ids_before
    assert counts["groups created"] == counts["groups removed"] == counts["pairs regrouped"] == 0


def test_an_archive_grouped_before_components_were_stored_is_followed_by_its_pairs(collection):
    images = make_images(collection, 30)
    chain = [link(images[n], images[n + 1]) for n in range(29)]
    regroup_pairs(chain)
    ComponentMember.objects.all().delete()  # as after the migration, before `rebuild_groups` ran

    regroup_pairs([link(images[29], images[0])])

    assert whole(stored_groups()) == expected()
    assert ComponentMember.objects.values("component").distinct().count() == 1
    assert ComponentMember.objects.count() == 30


def test_the_repair_command_rebuilds_and_keeps_ids(collection):
    images = make_images(collection, 6)
    regroup_pairs([link(images[0], images[1]), link(images[2], images[3])])
    ids = set(stored_groups())
    CandidatePair.objects.update(group=None)  # damage: pairs lost their groups
    link(images[4], images[5])  # and a pair nobody regrouped

    call_command("rebuild_groups", stdout=open("/dev/null", "w"))  # noqa: SIM115

    groups = stored_groups()
    assert ids < set(groups) and whole(groups) == expected()
    assert_pairs_point_at_their_group(groups)
