"""Regroups under real concurrency: verify batches finishing at the same moment in several workers,
each on its own PostgreSQL connection, touching the same components, end in the groups one whole
rebuild gives (no group twice, no image in two groups, one label per component)."""

import random

import pytest
from django.db import connection

from dedup.grouping import regroup_pairs
from dedup.models import CandidatePair, ComponentMember
from tests.test_groups_incremental import (
    assert_pairs_point_at_their_group,
    expected,
    link,
    make_images,
    stored_groups,
    whole,
)
from tests.test_review_postgres import _at_once

pytestmark = [pytest.mark.integration]


def assert_consistent():
    groups = stored_groups()
    assert whole(groups) == expected()
    members = [x for _master, group in groups.values() for x in group]
    assert len(members) == len(set(members))
    assert_pairs_point_at_their_group(groups)
    labels = dict(ComponentMember.objects.values_list("image", "component"))
    linked = CandidatePair.objects.exclude(tier="rejected").values_list("image_a", "image_b")
    for a, b in linked:
        assert labels[a] == labels[b]
    assert set(labels) == {x for pair in linked for x in pair}


def test_workers_regrouping_one_component_at_once_agree(on_postgres, transactional_db, collection):
    rng = random.Random(3)
    images = make_images(collection, 120)
    hub = images[0]
    regroup_pairs([link(hub, images[1])])
    for round_ in range(4):
        # Eight workers, each with a batch that joins the hub's component and a few of its own pairs.
        batches = []
        for worker in range(8):
            own = images[2 + (round_ * 8 + worker) * 3 : 5 + (round_ * 8 + worker) * 3]
            batch = [link(hub if rng.random() < 0.5 else images[1], own[0]), link(own[0], own[1])]
            batch.append(link(own[1], own[2], tier="rejected" if rng.random() < 0.3 else "review"))
            batches.append(batch)

        _at_once([lambda b=b: regroup_pairs(b) for b in batches])

        assert_consistent()
    connection.close()


def test_workers_joining_and_splitting_components_at_once_agree(on_postgres, transactional_db, collection):
    rng = random.Random(8)
    images = make_images(collection, 80)
    for _round in range(5):
        batches = []
        for _worker in range(6):
            batch = []
            for _ in range(4):
                a, b = rng.sample(images, 2)
                batch.append(link(a, b, tier="rejected" if rng.random() < 0.25 else "review"))
            batches.append(batch)

        _at_once([lambda b=b: regroup_pairs(b) for b in batches])

        assert_consistent()
    connection.close()
