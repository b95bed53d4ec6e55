"""Sample re-review: a supervisor draws a random sample of standing decisions; another person decides
each pair again without seeing the first decision; the disagreements show how reliable the first
decisions were.

The models live here, registered under the review app (app_label), and are imported by the review
URLs through views_supervisor."""

import random

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalogue import access

from . import supervision
from .models import Decision

MAX_SAMPLE = 500
# What a re-reviewer can answer: the three verdicts, as in the first review.
VERDICTS = (Decision.Kind.DUPLICATE, Decision.Kind.RELATED, Decision.Kind.DISTINCT)
# Where an item's collections are (through its decision's pair): both must be visible (catalogue.access).
ITEM_COLLECTIONS = tuple(f"decision__{field}" for field in access.DECISION_COLLECTIONS)


class RereviewError(Exception):
    """A refused re-review action, said to the user."""


class ReReview(models.Model):
    """A random sample of decisions drawn for a second, blind look."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The filters the sample was drawn with (cataloguer, collection, period, size), for the record.
    filters = models.JSONField(default=dict, blank=True)

    class Meta:
        app_label = "review"
        ordering = ["-created_at", "-pk"]
        verbose_name = _("re-review sample")
        verbose_name_plural = _("re-review samples")

    def __str__(self):
        return f"re-review sample {self.pk} ({self.created_at:%Y-%m-%d})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("review-rereview", args=[self.pk])

    def figures(self):
        done = [item for item in self.items.select_related("decision") if item.kind]
        agreed = sum(1 for item in done if item.agrees)
        return {
            "total": self.items.count(),
            "done": len(done),
            "agreed": agreed,
            "rate": agreed / len(done) if done else None,
        }


class ReReviewItem(models.Model):
    sample = models.ForeignKey(ReReview, on_delete=models.CASCADE, related_name="items")
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Decision.Kind.choices, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "review"
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "decision"], name="rereview_item_once_per_sample")
        ]

    def __str__(self):
        return f"re-review of decision {self.decision_id} ({self.kind or 'open'})"

    @property
    def agrees(self):
        return self.kind == self.decision.kind

    def may_decide(self, user):
        """Anyone but the person who took the first decision: a second look must be a second person."""
        return user.pk != self.decision.actor_id

    def record(self, user, kind, comment=""):
        if kind not in VERDICTS:
            raise RereviewError(_("Choose duplicate, related or not related."))
        if not self.may_decide(user):
            raise RereviewError(_("You took the first decision; someone else must re-review it."))
        with transaction.atomic():
            # Conditional update: the first of two simultaneous re-reviewers wins.
            done = ReReviewItem.objects.filter(pk=self.pk, kind="").update(
                kind=kind, reviewer=user, comment=comment, decided_at=timezone.now()
            )
        if not done:
            raise RereviewError(_("This item has been re-reviewed already."))
        self.refresh_from_db()


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
