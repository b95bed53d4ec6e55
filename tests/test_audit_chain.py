"""The decisions' tamper-evident hash chain: assigned on every decision (the system's too), refused by
PostgreSQL when changed in place, and verify_audit finds the first edited, removed or reordered event."""

# Tampering is what these tests do: the SQL is built from the table's name on purpose.
# ruff: noqa: S608
from contextlib import contextmanager
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError

from catalogue.models import CatalogueRecord, ImageFile
from dedup.models import CandidatePair
from review import audit, services
from review.models import Decision

pytestmark = pytest.mark.django_db
TABLE = Decision._meta.db_table


def make_pairs(collection, count, start=0):
    images = []
    for n in range(start, start + count * 2):
        record = CatalogueRecord.objects.create(collection=collection, catalogue_number=f"C-{n:04d}")
        images.append(
            ImageFile.objects.create(
                record=record,
                collection=collection,
                storage_key=f"originals/none/{n}",
                original_filename=f"{n}.jpg",
                source_path=f"{n}.jpg",
                size=1000,
                sha256=f"{n:064x}",
                format="JPEG",
                width=100,
                height=100,
                mode="RGB",
            )
        )
    pairs = CandidatePair.objects.bulk_create(
        CandidatePair(
            image_a=images[2 * n],
            image_b=images[2 * n + 1],
            phash_distance=3,
            dhash_distance=3,
            score=0.5 + n * 0.1,
            tier="review",
            relation="resized",
            priority=0.9,
            verified=True,
        )
        for n in range(count)
    )
    services.sync_queue()
    return pairs


@pytest.fixture
def log(collection, personas):
    """Five decisions: the system's automatic duplicate, then a cataloguer's related, distinct, skip
    and duplicate."""
    pairs = make_pairs(collection, 5)
    user = personas["cataloguer"]
    services.decide_duplicate(pairs[0], pairs[0].image_a.record, automatic=True, reason="byte-identical")
    services.decide(pairs[1], Decision.Kind.RELATED, actor=user, comment="a crop")
    services.decide(pairs[2], Decision.Kind.DISTINCT, actor=user)
    services.decide(pairs[3], Decision.Kind.SKIP, actor=user)
    services.decide_duplicate(pairs[4], pairs[4].image_b.record, actor=user, comment="same négatif")
    return list(Decision.objects.order_by("sequence"))


@contextmanager
def trigger_disabled():
    """Tampering as a superuser would: on PostgreSQL, switch the append-only trigger off first."""
    if connection.vendor != "postgresql":
        yield
        return
    # ALTER TABLE refuses while deferred foreign-key checks are pending: run them now.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER review_decision_append_only")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER review_decision_append_only")


def tamper(sql, params=()):
    with trigger_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def remove(decision):
    """Delete a decision as a superuser would, first unhooking whatever points at it (the queue's item,
    and any other app's rows that reference decisions)."""
    with trigger_disabled(), connection.cursor() as cursor:
        for relation in Decision._meta.get_fields(include_hidden=True):
            if not (relation.auto_created and not relation.concrete and relation.field.concrete):
                continue
            table, column = relation.related_model._meta.db_table, relation.field.column
            if relation.field.null:
                cursor.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} = %s", [decision.pk])
            else:
                cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [decision.pk])
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [decision.pk])


def verify(*args):
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def broken(*args):
    with pytest.raises(CommandError) as failure:
        verify(*args)
    assert failure.value.returncode == 1
    return str(failure.value)


def test_every_decision_is_chained_in_order(log):
    assert [d.sequence for d in log] == [1, 2, 3, 4, 5]
    assert log[0].automatic and log[0].actor is None
    assert log[0].prev_hash == audit.GENESIS
    for previous, decision in zip(log, log[1:], strict=False):
        assert decision.prev_hash == previous.hash
    for decision in log:
        assert len(decision.hash) == 64
        assert decision.hash == audit.digest(decision, decision.prev_hash)


def test_the_hash_covers_the_fields_and_the_link(log):
    decision = log[1]
    assert audit.digest(decision, audit.GENESIS) != decision.hash
    decision.comment = "changed"
    assert audit.digest(decision, decision.prev_hash) != decision.hash


def test_an_intact_log_verifies(log):
    output = verify()

    assert f"audit chain intact: 5 decisions, head 5:{log[-1].hash}" in output


def test_an_empty_log_verifies(db):
    assert "audit chain intact: 0 decisions" in verify()


def test_it_reports_an_edited_event(log):
    tamper(f"UPDATE {TABLE} SET comment = %s WHERE id = %s", ["not a crop", log[1].pk])

    message = broken()

    assert f"decision {log[1].pk} (sequence 2): edited" in message


def test_it_reports_an_edited_outcome(log):
    tamper(f"UPDATE {TABLE} SET kind = 'distinct' WHERE id = %s", [log[4].pk])

    assert f"decision {log[4].pk} (sequence 5): edited" in broken()


def test_it_reports_a_removed_event(log):
    remove(log[3])

    assert f"decision {log[4].pk} (sequence 5): removed" in broken()


def test_it_reports_a_removed_event_even_when_renumbered(log):
    remove(log[2])
    tamper(f"UPDATE {TABLE} SET sequence = sequence - 1 WHERE sequence > 3")

    assert f"decision {log[3].pk} (sequence 3): removed" in broken()


def test_it_reports_reordered_events(log):
    tamper(f"UPDATE {TABLE} SET sequence = 1000 WHERE id = %s", [log[1].pk])
    tamper(f"UPDATE {TABLE} SET sequence = 2 WHERE id = %s", [log[2].pk])
    tamper(f"UPDATE {TABLE} SET sequence = 3 WHERE id = %s", [log[1].pk])

    assert f"decision {log[2].pk} (sequence 2): reordered" in broken()


def test_events_cut_from_the_end_are_caught_against_a_noted_head(log):
    noted = f"{log[-1].sequence}:{log[-1].hash}"
    assert "intact" in verify("--head", noted)
    remove(log[-1])

    assert "no longer in the chain" in broken("--head", noted)


def test_a_decision_slipped_in_outside_the_chain_is_reported(log):
    tamper(
        f"INSERT INTO {TABLE} (kind, automatic, reason, comment, evidence, before, after, effects, flagged,"
        " created_at, prev_hash, hash) VALUES ('distinct', false, '', '', '{}', '[]', '[]', '{}', false,"
        " %s, '', '')",
        [log[-1].created_at],
    )

    assert "unchained" in broken()


def test_the_migration_chains_existing_decisions(log):
    if connection.vendor == "postgresql":
        pytest.skip("the chain's columns cannot be blanked under the append-only trigger")
    tamper(f"UPDATE {TABLE} SET sequence = NULL, prev_hash = '', hash = '', key_id = ''")
    chain = __import__("review.migrations.0004_chain_existing_decisions", fromlist=["chain"]).chain
    rekey = __import__("review.migrations.0009_rekey_decision_chain", fromlist=["rekey"]).rekey

    chain(apps, None)
    rekey(apps, connection.schema_editor())  # 0004 chains with the unkeyed SHA-256 of its time

    assert [(d.sequence, d.hash) for d in Decision.objects.order_by("sequence")] == [
        (d.sequence, d.hash) for d in log
    ]
    assert "intact" in verify()


@pytest.mark.integration
@pytest.mark.parametrize(
    "statement", ["UPDATE {table} SET comment = 'x' WHERE id = %s", "DELETE FROM {table} WHERE id = %s"]
)
def test_postgresql_refuses_to_change_or_delete_a_decision(on_postgres, log, statement):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute(statement.format(table=TABLE), [log[1].pk])

    assert Decision.objects.get(pk=log[1].pk).comment == "a crop"
