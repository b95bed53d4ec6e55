"""Leases under real concurrency: cataloguers starting at the same moment, each request on its own
PostgreSQL connection, never get the same item."""

import threading

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.urls import reverse

from catalogue.models import ImageFile
from catalogue.roles import CATALOGUER, ensure_roles
from dedup.models import CandidatePair
from review import services
from review.models import ReviewItem
from tests.test_audit_chain import make_pairs

pytestmark = [pytest.mark.integration]


def _cataloguers(count):
    ensure_roles()
    group = Group.objects.get(name=CATALOGUER)
    users = []
    for n in range(count):
        user = User.objects.create_user(f"cataloguer{n}", password="x" * 20)
        user.groups.add(group)
        users.append(user)
    return users


def _at_once(workers):
    barrier = threading.Barrier(len(workers))
    results = [None] * len(workers)
    errors = []

    def run(index, work):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=run, args=(i, work)) for i, work in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_simultaneous_starts_never_lease_one_item_twice(on_postgres, transactional_db, collection):
    make_pairs(collection, 5)
    users = _cataloguers(8)
    clients = []
    for user in users:
        client = Client()
        client.force_login(user)
        clients.append(client)

    responses = _at_once([lambda c=c: c.post(reverse("review-start")) for c in clients])

    items = [r["Location"] for r in responses if r["Location"].startswith("/review/items/")]
    assert len(items) == 5 and len(set(items)) == 5
    leased = ReviewItem.objects.exclude(leased_by=None)
    assert leased.count() == 5
    assert len(set(leased.values_list("leased_by", flat=True))) == 5


def test_many_rounds_of_racing_claims_on_one_item(on_postgres, transactional_db, collection):
    make_pairs(collection, 1)
    users = _cataloguers(6)
    item = ReviewItem.objects.get()
    for _round in range(10):
        ReviewItem.objects.filter(pk=item.pk).update(leased_by=None, lease_expires_at=None)

        won = _at_once([lambda u=u: services.claim(item.pk, u) for u in users])

        assert won.count(True) == 1
        item.refresh_from_db()
        assert item.leased_by == users[won.index(True)]


def _work_the_queue(client, rounds, outcomes):
    kinds = ["keep-left", "related", "distinct", "keep-right"]
    for n in range(rounds):
        start = client.post(reverse("review-start"))
        outcomes.append(start.status_code)
        if "/review/items/" not in start.get("Location", ""):
            return
        item_pk = int(start["Location"].split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        outcomes.append(client.get(start["Location"]).status_code)
        decided = client.post(reverse("review-decide", args=[item_pk]), {"decision": kinds[n % len(kinds)]})
        outcomes.append(decided.status_code)


def _overlapping_pairs(collection, images, fanout):
    """Image i pairs with i+1 .. i+fanout, so decisions on different items touch the same records."""
    make_pairs(collection, images // 2)
    CandidatePair.objects.all().delete()
    ids = list(ImageFile.objects.order_by("pk").values_list("pk", flat=True))
    CandidatePair.objects.bulk_create(
        CandidatePair(
            image_a_id=ids[i],
            image_b_id=ids[i + k],
            phash_distance=3,
            dhash_distance=3,
            score=0.9,
            tier="review",
            relation="resized",
            priority=0.9,
            verified=True,
        )
        for i in range(len(ids) - fanout)
        for k in range(1, fanout + 1)
    )
    ReviewItem.objects.all().delete()
    services.sync_queue()


def test_concurrent_decisions_neither_deadlock_nor_double(on_postgres, transactional_db, collection):
    """bench/load.py found PostgreSQL deadlocks here: a decision holding the audit chain's lock waited for
    rows another decision held while that one waited for the chain."""
    _overlapping_pairs(collection, 60, 5)
    clients = []
    for user in _cataloguers(10):
        client = Client()
        client.force_login(user)
        clients.append(client)
    outcomes = []

    _at_once([lambda c=c: _work_the_queue(c, 5, outcomes) for c in clients])

    assert outcomes and max(outcomes) < 500, sorted(set(outcomes))
    from review.models import Decision

    people = Decision.objects.filter(automatic=False).exclude(kind__in=["skip", "undo", "revert"])
    per_pair = people.values_list("pair_id", flat=True)
    assert len(per_pair) == len(set(per_pair)) > 0
