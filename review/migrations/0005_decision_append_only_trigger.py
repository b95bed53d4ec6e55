"""On PostgreSQL the database itself refuses to change or delete a decision, whoever connects.
(SQLite has no such guard here: the model refuses, and verify_audit detects tampering.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION review_decision_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'review_decision is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS review_decision_append_only ON review_decision;
CREATE TRIGGER review_decision_append_only
    BEFORE UPDATE OR DELETE ON review_decision
    FOR EACH ROW EXECUTE FUNCTION review_decision_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS review_decision_append_only ON review_decision;
DROP FUNCTION IF EXISTS review_decision_append_only();
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)  # no parameters: the % in RAISE is not a placeholder

    return run


class Migration(migrations.Migration):
    dependencies = [("review", "0004_chain_existing_decisions")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
