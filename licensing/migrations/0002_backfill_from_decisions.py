from django.db import migrations


def backfill(apps, schema_editor):
    from licensing.ledger import rebuild

    rebuild(
        apps.get_model("review", "Decision"),
        apps.get_model("licensing", "RecordState"),
        apps.get_model("licensing", "FieldChange"),
    )


class Migration(migrations.Migration):
    """The record states and field changes that decisions recorded before licensing was installed."""

    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
