"""A catalogue number looked up in any case (iexact: UPPER(number) = UPPER(%s) on PostgreSQL) is an
index look-up, not a pass over a million records (the decision log's number filter, the API)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS catalogue_record_number_upper "
    "ON catalogue_cataloguerecord (UPPER(catalogue_number::text))"
)
DROP = "DROP INDEX IF EXISTS catalogue_record_number_upper"


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0009_collection_counts")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
