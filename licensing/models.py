"""The licence ledger, and two indexes of the catalogue's past that answer "as of a date" without
reading the decision chain: each record's status and master after every applied decision
(RecordState), and each change of a descriptive field, by a decision or by an edit (FieldChange).

Both are written by licensing.ledger as the changes happen (signals, in the same transaction), and
were back-filled from the chain by migration 0002 (licensing.ledger.rebuild). Field edits made before
licensing was installed were recorded nowhere, so the answer for those times is the value as the
decisions recorded it, or today's."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from catalogue.models import CatalogueRecord, Collection

# Fields whose past values the as-of answer gives; the ones a decision can merge (review.services).
TRACKED_FIELDS = ("title", "creator", "date_text", "rights", "credit_line", "source")


class Licence(models.Model):
    """A licence a client bought, for a catalogue number as licensed on a date. Never edited by an
    import: a licence number that is already stored is refused, so what is stored does not change."""

    number = models.CharField(_("licence number"), max_length=200, unique=True)
    client = models.CharField(_("client"), max_length=500)
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="licences")
    catalogue_number = models.CharField(_("catalogue number as licensed"), max_length=300)
    # The record that number named when the licence was entered (numbers are unique per collection).
    record = models.ForeignKey(CatalogueRecord, on_delete=models.PROTECT, related_name="licences")
    licensed_on = models.DateField(_("licence date"))
    usage = models.TextField(_("usage"), blank=True)
    territory = models.TextField(_("territory"), blank=True)
    # The SHA-256 of the file delivered to the client, when the licensing system kept it.
    sha256 = models.CharField(_("SHA-256 of the delivered file"), max_length=64, blank=True)
    source = models.CharField(_("entered from"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-licensed_on", "number"]
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        indexes = [
            models.Index(fields=["collection", "licensed_on"], name="licence_collection_date"),
            models.Index(fields=["catalogue_number"], name="licence_catalogue_number"),
        ]

    def __str__(self):
        return f"{self.number} ({self.client})"

    def get_absolute_url(self):
        return reverse("licensing-licence", args=[self.pk])


class RecordState(models.Model):
    """A record's status and master right after an applied decision (one row per record the decision
    touched): the last row at or before a moment is the record's state then."""

    record = models.ForeignKey(CatalogueRecord, on_delete=models.CASCADE, related_name="+")
    decision = models.ForeignKey("review.Decision", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    sequence = models.PositiveBigIntegerField(null=True)
    status = models.CharField(max_length=20)
    master = models.ForeignKey(
        CatalogueRecord, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "record"], name="unique_state_per_decision")
        ]
        indexes = [models.Index(fields=["record", "at", "sequence"], name="record_state_as_of")]

    def __str__(self):
        return f"record {self.record_id} {self.status} (master {self.master_id}) at {self.at:%Y-%m-%d %H:%M}"


class FieldChange(models.Model):
    """One change of a tracked field of a record, whoever made it (a merge, an undo or revert, an
    administrator's edit): the earliest change after a moment holds the value the field had then."""

    record = models.ForeignKey(CatalogueRecord, on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=40)
    old = models.TextField(blank=True)
    new = models.TextField(blank=True)
    at = models.DateTimeField(db_index=False)

    class Meta:
        indexes = [models.Index(fields=["record", "field", "at"], name="field_change_as_of")]

    def __str__(self):
        return f"{self.field} of record {self.record_id} at {self.at:%Y-%m-%d %H:%M}"
