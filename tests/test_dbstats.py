"""A table never analysed is read whole for a list of ids (PostgreSQL's default selectivity without
statistics): the bulk settling path analyses its tables once they have grown (mastercopy.dbstats)."""

import pytest
from django.db import connection

from catalogue.models import Collection, ImageFile
from dedup import verification
from mastercopy import dbstats
from review.models import Decision
from tests.test_exact_settling import plain_pairs
from tests.test_groups_incremental import make_images

pytestmark = pytest.mark.django_db


def plan(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def has_stats(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = %s", [table])
        return cursor.fetchone()[0] > 0


def test_a_grown_table_without_statistics_is_analysed_once(on_postgres, collection, monkeypatch):
    monkeypatch.setattr(dbstats, "_analysed", set())
    images = make_images(collection, 3000)
    records = list(ImageFile.objects.filter(pk__in=images[:50]).values_list("record_id", flat=True))
    by_record = ImageFile.objects.filter(record__in=records).values_list("pk", flat=True)
    assert not has_stats("catalogue_imagefile")
    # 50 ids x 0.5% of the rows each, without statistics: a quarter of the table, so it is read whole.
    assert "Seq Scan on catalogue_imagefile" in plan(by_record)

    assert dbstats.analyse_new([ImageFile, Collection]) == ["catalogue_imagefile"]  # 3 collections: small
    assert has_stats("catalogue_imagefile") and not has_stats("catalogue_collection")
    assert "Seq Scan on catalogue_imagefile" not in plan(by_record)  # by the record index
    assert dbstats.analyse_new([ImageFile, Collection]) == []  # analysed already; Collection still small
    assert any(table == "catalogue_imagefile" for _db, table in dbstats._analysed)


def test_settling_a_batch_looks_at_the_statistics_of_its_tables(monkeypatch):
    seen = []
    monkeypatch.setattr(dbstats, "analyse_new", lambda models: seen.append(set(models)) or [])
    verification.verify_pairs(plain_pairs(3))
    assert seen and {Decision, ImageFile} <= seen[0]
    assert Decision.objects.filter(automatic=True).count() == 3
