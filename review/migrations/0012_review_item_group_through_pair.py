# ReviewItem.group was a copy of its pair's group that a regroup emptied (SET_NULL); the queue reads
# the group through the pair now (review.services.claim_next, the item screen's strip).
#
# On SQLite, Django drops a foreign-key column by remaking the table, which takes the queue-count
# triggers of 0010 with it: they are put back and the counts recounted (PostgreSQL keeps them).

from importlib import import_module

from django.db import migrations

counts = import_module("review.migrations.0010_queue_counts")


def restore_counting(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in [*counts.SQLITE_DROP, *counts.SQLITE_CREATE]:
            cursor.execute(statement)
        cursor.execute("DELETE FROM review_queuecount")
        cursor.execute(counts.BACKFILL)


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0011_decision_log_indexes'),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_counting),
        migrations.RemoveField(
            model_name='reviewitem',
            name='group',
        ),
        migrations.RunPython(restore_counting, migrations.RunPython.noop),
    ]
