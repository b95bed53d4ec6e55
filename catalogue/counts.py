"""Counts per collection, read from CollectionCounts (kept by the triggers of migration 0009)."""

from django.db import connection, transaction

from .models import CollectionCounts

_REBUILD = """
DELETE FROM catalogue_collectioncounts;
INSERT INTO catalogue_collectioncounts (collection_id, records, images, images_ready, images_failed)
SELECT c.id,
       (SELECT count(*) FROM catalogue_cataloguerecord r WHERE r.collection_id = c.id),
       (SELECT count(*) FROM catalogue_imagefile i WHERE i.collection_id = c.id),
       (SELECT count(*) FROM catalogue_imagefile i WHERE i.collection_id = c.id AND i.state = 'ready'),
       (SELECT count(*) FROM catalogue_imagefile i WHERE i.collection_id = c.id AND i.state = 'failed')
FROM catalogue_collection c
"""


def rebuild():
    """Recount every collection from the rows (a full scan: for repairs and bulk loads, not pages)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _REBUILD.split(";"):
            cursor.execute(statement)


def of(collection):
    """The collection's counts (zeros for a collection nothing was added to yet)."""
    return CollectionCounts.objects.filter(pk=collection.pk).first() or CollectionCounts(
        collection_id=collection.pk
    )
