"""Sample re-review: a supervisor draws a random sample of standing decisions; another person decides
each pair again without seeing the first decision; the disagreements show how reliable the first
decisions were.

The models (ReReview, ReReviewItem) are in review.models; this module draws and lists the samples."""

import random

from django.db import models, transaction

from catalogue import access

from . import supervision
from .models import VERDICTS, Decision, ReReview, RereviewError, ReReviewItem

__all__ = ["MAX_SAMPLE", "VERDICTS", "ReReview", "ReReviewItem", "RereviewError", "draw", "next_item"]

MAX_SAMPLE = 500
# Where an item's collections are (through its decision's pair): both must be visible (catalogue.access).
ITEM_COLLECTIONS = tuple(f"decision__{field}" for field in access.DECISION_COLLECTIONS)


def candidates(cataloguer=None, collection=None, start=None, end=None, visible=None):
    """visible: ids of the collections the sample may come from (catalogue.access), None for all."""
    decisions = supervision.standing(
        Decision.objects.filter(automatic=False, kind__in=VERDICTS, pair__isnull=False)
    )
    decisions = access.within(decisions, visible, *access.DECISION_COLLECTIONS)
    if cataloguer is not None:
        decisions = decisions.filter(actor=cataloguer)
    if collection is not None:
        decisions = decisions.filter(pair__image_a__collection=collection)
    if start is not None:
        decisions = decisions.filter(created_at__gte=start)
    if end is not None:
        decisions = decisions.filter(created_at__lt=end)
    return decisions


def draw(
    supervisor, size, *, cataloguer=None, collection=None, start=None, end=None, visible=None, rng=random
):
    """A new sample of up to size decisions, chosen uniformly among those matching the filters."""
    pks = list(candidates(cataloguer, collection, start, end, visible).values_list("pk", flat=True))
    chosen = sorted(rng.sample(pks, min(size, len(pks), MAX_SAMPLE)))
    filters = {
        "cataloguer": cataloguer.get_username() if cataloguer else None,
        "collection": collection.pk if collection else None,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "size": size,
        "drawn": len(chosen),
    }
    with transaction.atomic():
        sample = ReReview.objects.create(created_by=supervisor, filters=filters)
        ReReviewItem.objects.bulk_create(ReReviewItem(sample=sample, decision_id=pk) for pk in chosen)
    return sample


def visible_samples(user):
    """The samples user may open: those with no decision in a collection user may not see. A sample
    is one piece of evidence (its agreement rate is over all of it), so it is shown whole or not at
    all, and one that is not is a 404 like any hidden object."""
    ids = access.visible_ids(user)
    samples = ReReview.objects.all()
    if ids is None:
        return samples
    hidden = ReReviewItem.objects.filter(sample=models.OuterRef("pk")).exclude(
        **{f"{field}__in": ids for field in ITEM_COLLECTIONS}
    )
    return samples.exclude(models.Exists(hidden))


def next_item(sample, user):
    """The next open item this user may re-review (the pair's collections visible to them), or None."""
    return (
        access.only_visible(sample.items.filter(kind=""), user, *ITEM_COLLECTIONS)
        .exclude(decision__actor=user)
        .select_related("decision__pair__image_a__record", "decision__pair__image_b__record")
        .first()
    )
