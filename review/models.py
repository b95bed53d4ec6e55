from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalogue.models import CatalogueRecord
from dedup.models import CandidatePair


class AppendOnlyError(Exception):
    pass


class Decision(models.Model):
    """One decision, by a person or by the system: an append-only event. Corrections are new decisions
    (undo, revert) that point at the one they correct; a saved decision is never changed or deleted."""

    class Kind(models.TextChoices):
        DUPLICATE = "duplicate", _("duplicate")
        RELATED = "related", _("related but distinct")
        DISTINCT = "distinct", _("not related")
        SKIP = "skip", _("skipped")
        ESCALATE = "escalate", _("escalated to a supervisor")
        UNDO = "undo", _("undone")
        REVERT = "revert", _("reverted")

    pair = models.ForeignKey(
        CandidatePair, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    master = models.ForeignKey(
        CatalogueRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    superseded = models.ForeignKey(
        CatalogueRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # None for the system's automatic decisions.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    automatic = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    comment = models.TextField(blank=True)
    # What the decider was shown: signals, relation, score.
    evidence = models.JSONField(default=dict, blank=True)
    # Catalogue state of the records the decision touched, before and after.
    before = models.JSONField(default=list, blank=True)
    after = models.JSONField(default=list, blank=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")

    def __str__(self):
        who = "system" if self.automatic else str(self.actor)
        return f"{self.get_kind_display()} by {who} on pair {self.pair_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("decisions are append-only: record a new decision instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("decisions are append-only and are never deleted")
