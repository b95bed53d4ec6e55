"""The chain lock (review.models.lock_chain) is taken once per transaction: a second call while the
transaction holds it sends nothing, and it is taken again where PostgreSQL has let it go (the
transaction's end, the rollback of the savepoint it was taken in)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from review.models import CHAIN_LOCK, lock_chain
from tests.conftest import need

pytestmark = pytest.mark.django_db(transaction=True)


def _postgresql():
    need(connection.vendor == "postgresql", "this test needs PostgreSQL (set DATABASE_URL=postgresql://...)")


def _asked(captured):
    return sum("pg_advisory_xact_lock" in query["sql"] for query in captured)


def _held():
    """Whether this session holds the chain lock (pg_locks splits a bigint key in two halves)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND classid = %s AND objid = %s AND objsubid = 1 AND granted",
            [CHAIN_LOCK >> 32, CHAIN_LOCK & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0] == 1


def test_the_lock_is_asked_for_once_a_transaction():
    _postgresql()
    with CaptureQueriesContext(connection) as captured:
        with transaction.atomic():
            lock_chain()
            lock_chain()
            with transaction.atomic():  # a savepoint: held from the enclosing transaction
                lock_chain()
            assert _held()
        assert not _held()
        with transaction.atomic():  # a new transaction asks again
            lock_chain()
            assert _held()
    assert _asked(captured.captured_queries) == 2


def test_the_lock_taken_in_a_released_savepoint_stays_taken():
    _postgresql()
    with transaction.atomic():
        with transaction.atomic():
            lock_chain()
        with CaptureQueriesContext(connection) as captured:
            lock_chain()
        assert _asked(captured.captured_queries) == 0
        assert _held()


def test_the_lock_is_taken_again_after_the_savepoint_it_was_taken_in_rolled_back():
    _postgresql()
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            lock_chain()
            raise RuntimeError
        assert not _held()  # PostgreSQL let it go with the savepoint
        with CaptureQueriesContext(connection) as captured:
            lock_chain()
        assert _asked(captured.captured_queries) == 1
        assert _held()


def test_the_lock_is_taken_again_after_a_rolled_back_transaction():
    _postgresql()
    with pytest.raises(RuntimeError), transaction.atomic():
        lock_chain()
        raise RuntimeError
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            lock_chain()
        assert _asked(captured.captured_queries) == 1
        assert _held()
