"""The queue counts' update trigger (0010_queue_counts) returns at once when no counted column changed:
most updates of review items are leases (claim, release, skip), and each paid for the join of its old
and new rows to their pairs and images before the counts found nothing to add. SQLite's row triggers
have had that condition (WHEN) from the start."""

import importlib

from django.db import migrations

queue_counts = importlib.import_module("review.migrations.0010_queue_counts")

WATCHED = ("status", "collection_id", "relation", "score", "pair_id")
CHANGED = " OR ".join(f"o.{column} IS DISTINCT FROM n.{column}" for column in WATCHED)


def _function(skip):
    update = queue_counts._pg_delta(("1", "new_rows", "i"), ("-1", "old_rows", "o"))
    if skip:
        # Rows keep their id through an update: an old row and its new row meet on it.
        changed = f"SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {CHANGED}"  # noqa: S608
        update = f"IF EXISTS ({changed}) THEN {update} END IF;"
    return f"""
CREATE OR REPLACE FUNCTION review_count_queue() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {queue_counts._pg_delta(("1", "new_rows", "i"))}
    ELSIF TG_OP = 'DELETE' THEN {queue_counts._pg_delta(("-1", "old_rows", "i"))}
    ELSE {update}
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_function(skip=True))


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_function(skip=False))


class Migration(migrations.Migration):
    dependencies = [("review", "0016_ordered_indexes")]

    operations = [migrations.RunPython(forward, backward)]
