"""Re-key the existing chain: every decision's hash becomes HMAC-SHA256 under MASTERCOPY_AUDIT_KEY.

The old, unkeyed chain is checked first: re-keying a chain that is already broken would launder the
tampering, so the migration refuses (set MASTERCOPY_AUDIT_REKEY_BROKEN=1 to go on; the breaks are then
written to the checkpoint file). The old head (sequence and SHA-256) is noted in the checkpoint file,
outside the database, next to the new head, once the migration has committed. On PostgreSQL the
append-only trigger (0005) is switched off for the rewrite and back on, inside this one transaction.
"""

from django.conf import settings
from django.db import migrations

TABLE = "review_decision"
TRIGGER = "review_decision_append_only"


def _trigger(schema_editor, state):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            # ALTER TABLE refuses while deferred foreign-key checks are pending: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {TABLE} {state} TRIGGER {TRIGGER}")


def _rechain(Decision, schema_editor, sign):
    """Rewrite prev_hash, hash and key_id along the sequence; sign(decision, prev) -> (key_id, hash)."""
    from review.audit import GENESIS

    chained = Decision.objects.exclude(sequence=None).order_by("sequence")
    prev, batch = GENESIS, []
    _trigger(schema_editor, "DISABLE")
    for decision in chained.iterator(chunk_size=2000):
        decision.prev_hash = prev
        decision.key_id, decision.hash = sign(decision, prev)
        prev = decision.hash
        batch.append(decision)
        if len(batch) >= 1000:
            Decision.objects.bulk_update(batch, ["prev_hash", "hash", "key_id"])
            batch = []
    if batch:
        Decision.objects.bulk_update(batch, ["prev_hash", "hash", "key_id"])
    _trigger(schema_editor, "ENABLE")


def rekey(apps, schema_editor):
    from review import audit

    Decision = apps.get_model("review", "Decision")
    if not Decision.objects.exists():
        return
    old = list(
        audit.verify(
            Decision.objects.order_by("sequence", "pk").iterator(chunk_size=2000),
            lambda value: Decision.objects.filter(hash=value).exists(),
            check=audit.legacy_check,
        )
    )
    if old and not settings.MASTERCOPY_AUDIT_REKEY_BROKEN:
        raise RuntimeError(
            "The decision chain is already broken, so re-keying it would hide that: "
            + "; ".join(map(str, old[:5]))
            + ". Investigate first (verify_audit on the previous release), or set "
            "MASTERCOPY_AUDIT_REKEY_BROKEN=1 to re-key anyway (the breaks are noted in the checkpoint file)."
        )
    old_head = audit.head(Decision.objects)
    key = audit.current_key_id()
    keys = audit.keyring()

    def sign(decision, prev):
        decision.key_id = key
        return key, audit.digest(decision, prev, keys)

    _rechain(Decision, schema_editor, sign)
    sequence, value = audit.head(Decision.objects)
    line = audit.checkpoint_line(
        sequence,
        value,
        key,
        "rekey",
        old_head=f"{old_head[0]}:{old_head[1]}",
        old_algorithm="sha256",
        old_breaks=[str(problem) for problem in old],
    )
    path = settings.MASTERCOPY_AUDIT_CHECKPOINTS
    if path:
        schema_editor.connection.on_commit(lambda: audit.append_checkpoint(path, line))


def unkey(apps, schema_editor):
    """Back to the unkeyed SHA-256 chain that 0004 computed."""
    from review import audit

    Decision = apps.get_model("review", "Decision")

    def sign(decision, prev):
        decision.key_id = ""
        return "", audit.legacy_digest(decision, prev)

    _rechain(Decision, schema_editor, sign)


class Migration(migrations.Migration):
    dependencies = [("review", "0008_decision_key_id")]

    operations = [migrations.RunPython(rekey, unkey)]
