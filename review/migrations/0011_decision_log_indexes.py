"""Indexes for the decision log's filters, each walked along the log's order (sequence) so a filtered
page stops after its 50 rows: by kind, by cataloguer, and the flagged few; and the proposals waiting for approval in their order. Plain SQL (both engines),
not model indexes: the partial one is a condition Django's model state need not know about."""

from django.db import migrations

INDEXES = {
    "review_decision_kind_sequence": "review_decision (kind, sequence)",
    "review_decision_actor_sequence": "review_decision (actor_id, sequence)",
    "review_decision_flagged_sequence": "review_decision (sequence) WHERE flagged",
    # The approvals page: the waiting proposals, oldest first, walked in order.
    "review_decision_pending_created": "review_decision (created_at, id) WHERE pending",
}


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name, target in INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("review", "0010_queue_counts")]

    operations = [migrations.RunPython(create, drop)]
