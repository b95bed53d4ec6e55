"""The few pairs whose originals could not be opened (open_error set), found without reading a million
pairs: the collection page counts them for administrators (dedup.verification.open_problems)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS dedup_pair_open_error ON dedup_candidatepair (id) WHERE open_error <> ''"
)
DROP = "DROP INDEX IF EXISTS dedup_pair_open_error"


def create(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CREATE)


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("dedup", "0006_component_member")]

    operations = [migrations.RunPython(create, drop)]
