"""The review queue's counts, kept by the database: one row per (status, both collections of the pair,
relation, score band) with the number of review items in it, changed by triggers on every insert,
update and delete of review items (migration 0008_queue_counts). The queue page sums a few dozen rows
instead of counting a queue of a million items three times per request.

The bands are services.SCORE_BANDS, spelled again in the triggers' SQL (BAND_SQL)."""

from django.db import connection, transaction
from django.db.models import Sum

from .models import QueueCount

BAND_SQL = (
    "CASE WHEN {score} >= 0.9 THEN 'high' WHEN {score} >= 0.75 THEN 'good' "
    "WHEN {score} >= 0.5 THEN 'fair' ELSE 'weak' END"
)


def cells(ids, statuses):
    """The cells of these statuses whose two collections are among ids (None: every collection)."""
    found = QueueCount.objects.filter(status__in=statuses, n__gt=0)
    if ids is not None:
        found = found.filter(collection_id__in=ids, collection_b_id__in=ids)
    return found


def filtered(found, filters):
    """The cells matching the queue's filters (collection, relation, band), as services.filtered."""
    if filters.get("collection"):
        found = found.filter(collection_id=filters["collection"])
    if filters.get("relation"):
        found = found.filter(relation=filters["relation"])
    if filters.get("band"):
        found = found.filter(band=filters["band"])
    return found


def total(found):
    return found.aggregate(n=Sum("n"))["n"] or 0


def by(found, field):
    """{value of field: items} over the cells."""
    return dict(found.values_list(field).annotate(total=Sum("n")).order_by())


_REBUILD = f"""
INSERT INTO review_queuecount (status, collection_id, collection_b_id, relation, band, n)
SELECT i.status, i.collection_id, b.collection_id, i.relation, {BAND_SQL.format(score="i.score")}, count(*)
FROM review_reviewitem i JOIN dedup_candidatepair p ON p.id = i.pair_id
JOIN catalogue_imagefile b ON b.id = p.image_b_id
GROUP BY 1, 2, 3, 4, 5
"""  # noqa: S608 (constants only)


def rebuild():
    """Recount every cell from the items (a full pass: for repairs and bulk loads, not pages)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM review_queuecount")
        cursor.execute(_REBUILD)

