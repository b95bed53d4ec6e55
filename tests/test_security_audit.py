"""Finding 4 of the security review: the decision chain must not be rewritable quietly.

Each test plays someone who can write to the database (a DBA, a restored backup, a stolen connection
string) but does not hold MASTERCOPY_AUDIT_KEY, or who does and is caught by the checkpoints kept
outside the database. verify_audit and the supervisors' audit page must notice, with their defaults."""

# Tampering is what these tests do: the SQL is built from the table's name on purpose.
# ruff: noqa: S608
import hashlib
import json
import os
from io import StringIO
from xml.etree import ElementTree

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from review import audit, services
from review.models import Decision
from tests.test_audit_chain import TABLE, make_pairs, remove, tamper
from tests.test_settings import manage

pytestmark = pytest.mark.django_db
MIGRATION = "review.migrations.0009_rekey_decision_chain"


@pytest.fixture
def chain(collection, personas, django_capture_on_commit_callbacks, _audit_checkpoints):
    """Six decisions, each committed as in production (so each transaction appends a checkpoint)."""
    pairs = make_pairs(collection, 6)
    user = personas["cataloguer"]
    for n, pair in enumerate(pairs):
        with django_capture_on_commit_callbacks(execute=True):
            if n % 2:
                services.decide(pair, Decision.Kind.DISTINCT, actor=user, comment=f"no {n}")
            else:
                services.decide_duplicate(pair, pair.image_a.record, actor=user, comment=f"yes {n}")
    return list(Decision.objects.order_by("sequence"))


def verify(*args):
    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def broken(*args):
    with pytest.raises(CommandError) as failure:
        verify(*args)
    assert failure.value.returncode == 1
    return str(failure.value)


def recompute(sign):
    """What a database writer does after an edit: rewrite every hash and link along the sequence, so
    each row matches its fields and follows the one before."""
    prev = audit.GENESIS
    for decision in Decision.objects.order_by("sequence"):
        value = sign(decision, prev)
        tamper(f"UPDATE {TABLE} SET prev_hash = %s, hash = %s WHERE id = %s", [prev, value, decision.pk])
        prev = value


def audit_page(client_for):
    return client_for("supervisor").get("/review/supervisor/audit/", {"verify": "1"}).content.decode()


def test_the_hashes_are_keyed_not_a_plain_sha256(chain, settings):
    """Attack: recompute a row's hash from its fields alone. A keyed hash cannot be; and it changes
    with the key, so the key (which is not in the database) is what it rests on."""
    decision = chain[2]
    plain = hashlib.sha256(audit.canonical(decision, decision.prev_hash).encode()).hexdigest()

    assert decision.hash != plain
    assert decision.key_id == audit.key_id(settings.MASTERCOPY_AUDIT_KEY)
    settings.MASTERCOPY_AUDIT_KEY = "another-key-" + "z" * 40
    decision.key_id = audit.current_key_id()
    assert audit.digest(decision, decision.prev_hash) != chain[2].hash


def test_an_edit_with_the_whole_chain_recomputed_the_old_way_is_caught(chain, client_for):
    """Attack: change a decision's outcome, then recompute every later hash with SHA-256 (what the
    unkeyed chain allowed). Every row is then self-consistent, but none carries the key's signature."""
    tamper(f"UPDATE {TABLE} SET comment = 'was never a duplicate' WHERE id = %s", [chain[2].pk])

    recompute(lambda d, prev: hashlib.sha256(audit.canonical(d, prev).encode()).hexdigest())

    assert f"decision {chain[0].pk} (sequence 1): edited" in broken()
    assert "The chain is broken." in audit_page(client_for)


def test_an_edit_recomputed_with_a_guessed_key_is_caught(chain):
    """Attack: recompute the chain as HMAC under a key of one's own choosing, naming it as the row's key."""
    guessed = {d.key_id: "guessed-key-" + "g" * 40 for d in chain}
    tamper(f"UPDATE {TABLE} SET kind = 'distinct' WHERE id = %s", [chain[4].pk])

    recompute(lambda d, prev: audit.digest(d, prev, guessed))

    assert "(sequence 1): edited" in broken()


def test_a_row_downgraded_to_an_unkeyed_hash_is_caught(chain):
    """Attack: blank the key id so the verifier might fall back to the old unkeyed SHA-256, and give
    the row that SHA-256."""
    target = chain[-1]
    target.key_id = ""
    tamper(
        f"UPDATE {TABLE} SET key_id = '', hash = %s WHERE id = %s",
        [audit.legacy_digest(target, target.prev_hash), target.pk],
    )

    assert f"decision {target.pk} (sequence 6): unkeyed" in broken()


def test_deleting_the_newest_decisions_is_caught_by_default(chain, client_for, _audit_checkpoints):
    """Attack: cut the last two decisions. What is left is an intact chain in itself; only the head
    noted outside the database (after every commit) shows the log used to be longer. No --head given."""
    assert _audit_checkpoints.read_text().count("\n") == 6
    remove(chain[-1])
    remove(chain[-2])

    message = broken()

    assert "sequence 6: removed" in message and "now ends at 4" in message
    page = audit_page(client_for)
    assert "The chain is broken." in page and "now ends at 4" in page


def test_deleting_a_decision_in_the_middle_is_caught(chain):
    """Attack: remove one decision from the middle of the log and renumber the rest to close the gap."""
    remove(chain[2])
    tamper(f"UPDATE {TABLE} SET sequence = sequence - 1 WHERE sequence > 3")

    assert f"decision {chain[3].pk} (sequence 3): removed" in broken()


def test_a_reordering_is_caught(chain, client_for):
    """Attack: swap the positions of two decisions."""
    tamper(f"UPDATE {TABLE} SET sequence = 1000 WHERE id = %s", [chain[1].pk])
    tamper(f"UPDATE {TABLE} SET sequence = 2 WHERE id = %s", [chain[2].pk])
    tamper(f"UPDATE {TABLE} SET sequence = 3 WHERE id = %s", [chain[1].pk])

    assert f"decision {chain[2].pk} (sequence 2): reordered" in broken()
    assert "The chain is broken." in audit_page(client_for)


def test_a_rewrite_by_someone_holding_the_key_is_caught_by_the_checkpoints(chain):
    """Attack: an insider who also holds the key edits a decision and re-signs the chain from there.
    The hashes all verify; the checkpoints written outside the database at the time do not match."""
    tamper(f"UPDATE {TABLE} SET comment = 'rewritten' WHERE id = %s", [chain[3].pk])

    recompute(audit.digest)

    assert f"decision {chain[3].pk} (sequence 4): rewritten" in broken()


def test_an_intact_chain_verifies_against_its_checkpoints_and_the_page_says_so(chain, client_for):
    """The defences above must not cry wolf: an untouched chain passes, checkpoints included."""
    output = verify()

    assert f"audit chain intact: 6 decisions, head 6:{chain[-1].hash}" in output
    assert "checkpoints in" in output and "latest: sequence 6" in output
    page = audit_page(client_for)
    assert "The chain is intact." in page and chain[-1].hash in page


def test_a_transaction_of_many_decisions_writes_one_checkpoint(
    collection, personas, django_capture_on_commit_callbacks, _audit_checkpoints
):
    """A batch of automatic decisions (the worker's exact copies) costs one checkpoint line, naming the
    batch's last decision, not one line per decision."""
    pairs = make_pairs(collection, 4)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for pair in pairs:
            services.decide_duplicate(pair, pair.image_a.record, automatic=True, reason="byte-identical")

    lines = [json.loads(line) for line in _audit_checkpoints.read_text().splitlines()]
    last = Decision.objects.get(sequence=4)
    noted = [(line["sequence"], line["hash"], line["key_id"]) for line in lines]
    assert noted == [(4, last.hash, last.key_id)]


def test_a_rolled_back_decision_leaves_no_checkpoint(
    collection, personas, django_capture_on_commit_callbacks, _audit_checkpoints
):
    """A checkpoint naming an event that was never committed would make every later check fail."""
    pair = make_pairs(collection, 1)[0]
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
        raise RuntimeError("the request failed after the decision")

    assert not _audit_checkpoints.exists()
    assert "0 decisions" in verify()


def test_rotating_the_key_keeps_old_decisions_verifiable(chain, settings, collection, personas):
    """Rotation: a new key signs new decisions; the old key, listed as old, still verifies its own.
    Dropping the old key while its decisions exist is reported, not silently accepted."""
    old_key = settings.MASTERCOPY_AUDIT_KEY
    settings.MASTERCOPY_AUDIT_KEY = "rotated-key-" + "r" * 40
    settings.MASTERCOPY_AUDIT_OLD_KEYS = [old_key]
    pair = make_pairs(collection, 1, start=100)[0]
    newest = services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    newest = Decision.objects.get(sequence=7)

    assert newest.key_id == audit.key_id(settings.MASTERCOPY_AUDIT_KEY) != chain[0].key_id
    assert "audit chain intact: 7 decisions" in verify()
    settings.MASTERCOPY_AUDIT_OLD_KEYS = []
    assert f"decision {chain[0].pk} (sequence 1): unknown key" in broken()


def test_every_export_names_the_head(chain, client_for):
    """An export kept outside the archive is a checkpoint: it names the head it was made at, and
    verify_audit --head with that value fails once the tail is cut."""
    client = client_for("supervisor")
    head = f"6:{chain[-1].hash}"
    for url in (
        "/review/supervisor/exports/mapping/",
        "/review/supervisor/exports/mapping/?format=json",
        "/review/supervisor/exports/exact/",
        "/review/supervisor/exports/premis.xml",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Mastercopy-Audit-Head"] == head, url
    premis = b"".join(client.get("/review/supervisor/exports/premis.xml").streaming_content).decode()
    ElementTree.fromstring(premis)  # noqa: S314 (our own export)
    assert f"<!-- mastercopy audit head {head} at " in premis
    assert f"hmac-sha256={chain[-1].hash}" in premis

    remove(chain[-1])
    assert "no longer in the chain" in broken("--checkpoints", os.devnull, "--head", head)


def test_verify_audit_can_write_a_checkpoint_on_demand(collection, personas, tmp_path):
    """For cron or before a backup: once the chain verifies, its head is appended to the file."""
    pair = make_pairs(collection, 1)[0]
    services.decide(pair, Decision.Kind.DISTINCT, actor=personas["cataloguer"])
    path = tmp_path / "elsewhere.jsonl"

    output = verify("--checkpoints", str(path), "--checkpoint")

    entry = json.loads(path.read_text())
    assert entry["sequence"] == 1 and entry["reason"] == "verify_audit" and "checkpoint written" in output
    remove(Decision.objects.get())
    assert "now ends at 0" in broken("--checkpoints", str(path))


def _legacy_chain():
    """The chain as the unkeyed release left it (the migration's own reverse)."""
    __import__(MIGRATION, fromlist=["unkey"]).unkey(apps, connection.schema_editor())


def _rekey():
    __import__(MIGRATION, fromlist=["rekey"]).rekey(apps, connection.schema_editor())


def test_the_migration_rekeys_an_existing_chain_and_notes_the_old_head(
    chain, django_capture_on_commit_callbacks, _audit_checkpoints
):
    """Existing installations: their unkeyed chain is checked, re-signed with the key (under the
    append-only trigger on PostgreSQL), and its old head noted outside the database."""
    _audit_checkpoints.unlink()
    _legacy_chain()
    legacy = list(Decision.objects.order_by("sequence"))
    assert all(d.key_id == "" and d.hash == audit.legacy_digest(d, d.prev_hash) for d in legacy)

    with django_capture_on_commit_callbacks(execute=True):
        _rekey()

    assert [d.hash for d in Decision.objects.order_by("sequence")] == [d.hash for d in chain]
    entry = json.loads(_audit_checkpoints.read_text())
    assert entry["reason"] == "rekey" and entry["old_head"] == f"6:{legacy[-1].hash}"
    assert (entry["sequence"], entry["hash"]) == (6, chain[-1].hash)
    assert "audit chain intact: 6 decisions" in verify()


def test_the_migration_refuses_to_launder_a_broken_chain(
    chain, settings, django_capture_on_commit_callbacks, _audit_checkpoints
):
    """Attack: tamper with the old, unkeyed chain just before the upgrade, hoping the re-keying signs
    the tampered rows. It refuses; forced, it records the breaks outside the database."""
    _legacy_chain()
    tamper(f"UPDATE {TABLE} SET comment = 'before the upgrade' WHERE id = %s", [chain[1].pk])

    with pytest.raises(RuntimeError, match="already broken"):
        _rekey()

    settings.MASTERCOPY_AUDIT_REKEY_BROKEN = True
    with django_capture_on_commit_callbacks(execute=True):
        _rekey()
    entry = json.loads(_audit_checkpoints.read_text().splitlines()[-1])
    assert entry["reason"] == "rekey"
    assert f"decision {chain[1].pk} (sequence 2): edited" in entry["old_breaks"][0]


def test_production_refuses_to_start_without_an_audit_key(tmp_path):
    """Misconfiguration: with DEBUG off there is no built-in key to fall back on (it would be public),
    and a short key is refused; the key may come from a file (a Docker secret)."""
    base = {"MASTERCOPY_DATA_DIR": str(tmp_path), "SECRET_KEY": "s" * 50}

    missing = manage("check", **base)
    short = manage("check", MASTERCOPY_AUDIT_KEY="too-short", **base)
    key_file = tmp_path / "audit-key"
    key_file.write_text("a" * 50 + "\n")
    code = "from review import audit; print(audit.current_key_id())"
    from_file = manage("shell", "-v", "0", "-c", code, MASTERCOPY_AUDIT_KEY_FILE=str(key_file), **base)

    assert missing.returncode != 0 and "MASTERCOPY_AUDIT_KEY (or MASTERCOPY_AUDIT_KEY_FILE)" in missing.stderr
    assert short.returncode != 0 and "at least 32 characters" in short.stderr
    assert from_file.stdout.strip() == audit.key_id("a" * 50), from_file.stderr
