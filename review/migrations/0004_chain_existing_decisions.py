"""Chain the decisions recorded before the hash chain existed, in the order they were made."""

from django.db import migrations


def chain(apps, schema_editor):
    # The unkeyed SHA-256 of the time: 0009 checks this chain, then re-keys it.
    from review.audit import GENESIS, legacy_digest as digest

    Decision = apps.get_model("review", "Decision")
    prev, sequence = GENESIS, 0
    for decision in Decision.objects.order_by("created_at", "pk").iterator(chunk_size=2000):
        sequence += 1
        value = digest(decision, prev)
        Decision.objects.filter(pk=decision.pk).update(sequence=sequence, prev_hash=prev, hash=value)
        prev = value


class Migration(migrations.Migration):
    dependencies = [("review", "0003_decision_chain")]

    operations = [migrations.RunPython(chain, migrations.RunPython.noop)]
