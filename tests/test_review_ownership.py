"""One owner for review state: decisions are recorded only through review.decisions.record, batches of
decisions are chained and revert as one, undo reads the records it compares under lock, and the
review modules import each other in no circle."""

import ast
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction

from catalogue.models import CatalogueRecord, RecordLink
from review import audit, decisions, services, supervision
from review.models import AppendOnlyError, Decision, ReviewItem
from tests.test_audit_chain import TABLE, broken, make_pairs, tamper, verify

REPO = Path(__file__).resolve().parents[1]
REVIEW = REPO / "review"


# --- the import graph -------------------------------------------------------------------------------


def review_imports(path):
    """The review modules a review module imports, at any depth of its code (relative or absolute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found |= {alias.name for alias in node.names}
            elif node.level == 0 and node.module and node.module.split(".")[0] == "review":
                rest = node.module.split(".")[1:]
                found |= {rest[0]} if rest else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("review.")}
    modules = {p.stem for p in REVIEW.glob("*.py")}
    return found & modules - {path.stem}


def review_graph():
    return {path.stem: review_imports(path) for path in sorted(REVIEW.glob("*.py"))}


def cycle(graph):
    """One import cycle of the graph as a list of modules, or [] when there is none."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_review_modules_import_each_other_in_no_circle():
    assert cycle(review_graph()) == []


def test_the_cycle_check_finds_a_circle():
    # The check above must be able to fail: the circle the review modules had.
    old = {
        "models": {"rereview"},
        "rereview": {"supervision", "models"},
        "supervision": {"services"},
        "services": {"approval", "models"},
        "approval": {"services"},
    }
    found = cycle(old)
    assert found and found[0] == found[-1] and {"services", "approval"} <= set(found)
    assert review_imports(REVIEW / "services.py") >= {"decisions", "models", "approval"}


@pytest.mark.parametrize("module", ["models", "decisions", "services", "approval", "supervision", "rereview"])
def test_each_review_module_imports_alone(module):
    code = (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mastercopy.settings'); "
        f"os.environ['DEBUG'] = '1'; django.setup(); import review.{module}"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_no_private_name_is_imported_from_another_review_module():
    offending = []
    for path in REVIEW.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                offending += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
            private = isinstance(node, ast.Attribute) and node.attr.startswith("_")
            if private and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in {p.stem for p in REVIEW.glob("*.py")}:
                    offending.append(f"{path.name}: {owner.id}.{node.attr}")
    assert offending == []


# --- the one way to record ----------------------------------------------------------------------------


def test_a_decision_saved_outside_the_record_service_is_refused(collection, personas):
    pair = make_pairs(collection, 1)[0]

    with pytest.raises(AppendOnlyError, match="review.decisions.record"):
        Decision.objects.create(pair=pair, kind=Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    with pytest.raises(AppendOnlyError):
        Decision(pair=pair, kind=Decision.Kind.SKIP, actor=personas["cataloguer"]).save()

    assert not Decision.objects.exists()


def test_the_record_service_chains_the_decision(collection, personas):
    pair = make_pairs(collection, 1)[0]

    first = decisions.record(Decision.Kind.SKIP, pair=pair, actor=personas["cataloguer"], reason="x" * 600)
    second = decisions.record(Decision.Kind.ESCALATE, pair=pair, actor=personas["cataloguer"])

    first.refresh_from_db()
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.prev_hash == first.hash and len(first.reason) == 500
    assert "intact" in verify()


# --- batches in the chain -------------------------------------------------------------------------------


def test_a_batch_is_chained_and_decisions_without_one_hash_as_before(collection, personas):
    pairs = make_pairs(collection, 3)
    user = personas["cataloguer"]
    old = decisions.decide(pairs[0], Decision.Kind.DISTINCT, actor=user)
    batch = decisions.new_batch()
    grouped = [
        decisions.decide(pairs[1], Decision.Kind.RELATED, actor=user, batch=batch),
        decisions.decide_duplicate(pairs[2], pairs[2].image_a.record, actor=user, batch=str(batch)),
    ]

    old.refresh_from_db()
    # A decision without a batch hashes exactly as decisions did before the field existed.
    assert "batch" not in audit.canonical(old, old.prev_hash, old.key_id)
    for decision in grouped:
        decision.refresh_from_db()
        assert decision.batch == batch
        assert str(batch) in audit.canonical(decision, decision.prev_hash, decision.key_id)
    assert list(supervision.batch_decisions(batch)) == grouped
    assert "intact" in verify()

    tamper(f"UPDATE {TABLE} SET batch = %s WHERE id = %s", [uuid.uuid4().hex, grouped[0].pk])  # noqa: S608
    assert f"decision {grouped[0].pk} (sequence 2): edited" in broken()


def _catalogue():
    records = sorted(CatalogueRecord.objects.values_list("pk", "status", "master_id", "title", "metadata"))
    links = sorted(RecordLink.objects.values_list("record_a_id", "record_b_id"))
    return records, links


def test_a_batch_reverts_whole_and_exactly(collection, personas):
    pairs = make_pairs(collection, 3)
    pairs[2].image_b.record.title = "The harbour at dawn"
    pairs[2].image_b.record.save()
    user, boss = personas["cataloguer"], personas["supervisor"]
    loose = decisions.decide(pairs[0], Decision.Kind.DISTINCT, actor=user)  # not in the batch
    before = _catalogue()
    batch = decisions.new_batch()
    decisions.decide_duplicate(pairs[1], pairs[1].image_b.record, actor=user, batch=batch)
    decisions.decide(pairs[2], Decision.Kind.RELATED, actor=user, batch=batch)
    decisions.decide_duplicate(pairs[2], pairs[2].image_a.record, actor=user, merge=["title"], batch=batch)
    assert _catalogue() != before

    reverts = supervision.revert_batch(batch, boss, reason="wrong group")

    assert _catalogue() == before
    assert len(reverts) == 3 and {r.kind for r in reverts} == {Decision.Kind.REVERT}
    assert len({r.batch for r in reverts}) == 1 and reverts[0].batch not in (None, batch)
    assert all(r.reason == "wrong group" for r in reverts)
    # Newest first, each restoring the state the one before it left.
    reverted = [r.corrects.sequence for r in reverts]
    assert reverted == sorted(reverted, reverse=True)
    items = ReviewItem.objects.filter(pair__in=pairs[1:])
    assert set(items.values_list("status", flat=True)) == {ReviewItem.Status.OPEN}
    assert not loose.corrections.exists()
    assert not Decision.objects.filter(flagged=True).exists()  # the batch's members are not dependents
    assert "intact" in verify()
    with pytest.raises(supervision.SupervisionError, match="already been undone or reverted"):
        supervision.revert_batch(batch, boss)
    with pytest.raises(supervision.SupervisionError, match="no such batch"):
        supervision.revert_batch(uuid.uuid4(), boss)


def test_a_batch_revert_that_fails_midway_reverts_nothing(collection, personas, monkeypatch):
    pairs = make_pairs(collection, 3)
    user, boss = personas["cataloguer"], personas["supervisor"]
    batch = decisions.new_batch()
    for pair in pairs:
        decisions.decide_duplicate(pair, pair.image_a.record, actor=user, batch=batch)
    after = _catalogue()
    calls = []
    restore = decisions.restore_before

    def failing_second(decision):
        calls.append(decision.pk)
        if len(calls) == 2:
            raise RuntimeError("storage went away")
        restore(decision)

    monkeypatch.setattr(decisions, "restore_before", failing_second)
    with pytest.raises(RuntimeError):
        supervision.revert_batch(batch, boss)

    assert _catalogue() == after
    assert not Decision.objects.filter(kind=Decision.Kind.REVERT).exists()
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {ReviewItem.Status.DECIDED}


def test_a_waiting_proposal_of_a_reverted_batch_is_declined(collection, personas):
    pairs = make_pairs(collection, 2)
    user, boss = personas["cataloguer"], personas["supervisor"]
    batch = decisions.new_batch()
    decisions.decide(pairs[0], Decision.Kind.DISTINCT, actor=user, batch=batch)
    item = ReviewItem.objects.get(pair=pairs[1])
    proposal = decisions.record(Decision.Kind.RELATED, pair=pairs[1], actor=user, pending=True, batch=batch)
    item.await_approval(proposal)

    recorded = supervision.revert_batch(batch, boss)

    assert sorted(d.kind for d in recorded) == [Decision.Kind.DECLINE, Decision.Kind.REVERT]
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN and item.decision is None


# --- the queue item's transitions -----------------------------------------------------------------


def test_an_item_moves_only_through_its_transitions(collection, personas):
    pair = make_pairs(collection, 1)[0]
    user, other = personas["cataloguer"], personas["supervisor"]
    item = ReviewItem.objects.get(pair=pair)

    assert services.claim(item.pk, user)
    assert not services.claim(item.pk, other)
    services.review(item.pk, user, Decision.Kind.ESCALATE)
    item.refresh_from_db()
    assert (item.status, item.leased_by) == (ReviewItem.Status.ESCALATED, None)
    decision = services.review(item.pk, other, Decision.Kind.DISTINCT, supervisor=True)
    item.refresh_from_db()
    assert (item.status, item.decision) == (ReviewItem.Status.DECIDED, decision)
    services.undo_last(other)
    item.refresh_from_db()
    assert (item.status, item.leased_by, item.decision) == (ReviewItem.Status.ESCALATED, other, None)


# --- undo under lock (PostgreSQL) ---------------------------------------------------------------------


def test_undo_compares_the_records_under_lock(on_postgres, transactional_db, collection, personas):
    """Another writer holding a record undo would put back: undo waits for it and then sees its change
    (and refuses) instead of comparing a stale read and overwriting the change."""
    pair = make_pairs(collection, 1)[0]
    user = personas["cataloguer"]
    item = ReviewItem.objects.get(pair=pair)
    services.claim(item.pk, user)
    services.review(item.pk, user, Decision.Kind.DUPLICATE, master_side="left")
    superseded = pair.image_b.record
    holding = threading.Event()

    def other_writer():
        try:
            with transaction.atomic():
                CatalogueRecord.objects.select_for_update().get(pk=superseded.pk)
                holding.set()
                time.sleep(1.5)
                CatalogueRecord.objects.filter(pk=superseded.pk).update(
                    status=CatalogueRecord.Status.ACTIVE, master=None
                )
        finally:
            connection.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    assert holding.wait(10)
    try:
        with pytest.raises(services.ReviewError, match="changed since"):
            services.undo_last(user)
    finally:
        writer.join(30)
    superseded.refresh_from_db()
    assert superseded.status == CatalogueRecord.Status.ACTIVE
    assert not Decision.objects.filter(kind=Decision.Kind.UNDO).exists()
