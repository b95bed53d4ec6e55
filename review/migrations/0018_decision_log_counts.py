"""The decision log's count by actor, kind and collections (review.summaries' facet log): every cell
recounted from the log, as 0015 did."""

from django.db import migrations


def count(apps, schema_editor):
    from review import summaries

    summaries.rebuild()


class Migration(migrations.Migration):
    dependencies = [("review", "0017_queue_counts_skip_leases")]

    operations = [migrations.RunPython(count, migrations.RunPython.noop)]
