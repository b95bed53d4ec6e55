"""Planner statistics for tables a bulk path fills and reads at once (PostgreSQL).

A table PostgreSQL never analysed has no column statistics, and the planner then takes `col IN (k ids)` to
match k × 0.5% of its rows: a list of 200 ids or more looks like the whole table, so it is read whole
(a sequential scan and hash joins) instead of by index, at a cost that grows with the table. The first
mirror merge on a fresh database settles pairs in batches whose look-ups are such lists (the decision
log by pair, pairs by image, images by record): with the decision log never analysed, reading a batch's
decisions back cost 8.4 ms at 6,000 decisions against 0.17 ms once it was analysed, and grows with every
batch. Autovacuum analyses a table only once it has changed by 10% and at its next round (a minute), and
not at all where it is off; so the bulk path analyses, once, a table of its that has grown to
MIN_PAGES without statistics. After one ANALYZE of a few thousand rows the estimates scale with the table
(the number of distinct values is kept as a share of the rows), so this is done once per table.
"""

from django.db import connection

MIN_PAGES = 64  # 512 KB: ~1,000 decisions, ~2,000 pairs; below that a sequential scan costs nothing

_analysed = set()  # (database, table) known to have statistics: not looked up again by this process


def analyse_new(models):
    """ANALYZE each of these models' tables that has no statistics yet and holds MIN_PAGES or more; returns
    the tables analysed. One catalogue query while some table lacks statistics, nothing after."""
    if connection.vendor != "postgresql":
        return []
    database = connection.settings_dict["NAME"]
    tables = sorted({model._meta.db_table for model in models} - {t for d, t in _analysed if d == database})
    if not tables:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname"
            " AND s.tablename = c.relname),"
            " pg_relation_size(c.oid) >= %s * current_setting('block_size')::int"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = ANY(%s) AND n.nspname = ANY(current_schemas(false))",
            [MIN_PAGES, tables],
        )
        rows = cursor.fetchall()
        done = []
        for table, has_stats, large in rows:
            if not has_stats and large:
                cursor.execute(f'ANALYZE "{table}"')  # a model's own table name
                done.append(table)
            if has_stats:
                _analysed.add((database, table))
    return done
