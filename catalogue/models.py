from datetime import timedelta

from django.conf import settings
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import scripts


class Collection(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    institution = models.CharField(_("institution / owner"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True)
    default_rights = models.TextField(_("default rights / licence"), blank=True)
    default_credit_line = models.CharField(_("default credit line"), max_length=500, blank=True)
    # A partner's library merged with ours: its records keep the partner's own catalogue numbers, and
    # the partner mapping export (review.exports) speaks in them.
    partner = models.CharField(
        _("partner institution"),
        max_length=300,
        blank=True,
        help_text=_("Set when this collection is a partner's library; its records keep its numbers."),
    )
    # The authoritative archive: its records are preferred as master and never superseded by a record
    # of another collection (dedup.policy and review.services enforce it).
    reference = models.BooleanField(
        _("reference collection"),
        default=False,
        help_text=_("Its records are preferred as master and never superseded by another collection's."),
    )
    # Per-collection overrides of the deduplication policy (see dedup.policy for keys and defaults).
    policy = models.JSONField(default=dict, blank=True)
    # Who may see the collection at all (catalogue.access): nobody but these groups' members when set
    # (a partner's mirror, an embargoed accession); every user with a role when empty.
    restricted_to = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="+",
        verbose_name=_("visible only to"),
        help_text=_("Leave empty for every user with a role; otherwise only these groups' members see it."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        permissions = [
            ("import_images", "Can create collections and import images"),
            ("review_pairs", "Can work the review queue"),
            ("supervise", "Can audit, revert and export decisions"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("catalogue-collection", args=[self.pk])


class RecordManager(models.Manager):
    def set_states(self, states):
        """Write many records' (status, master) at once, {pk: (status, master pk or None)}: what
        supersede() leaves on each, for a caller that worked out a batch of decisions (review's bulk
        settling). One UPDATE from a VALUES list on PostgreSQL (per 1,000 records); elsewhere
        bulk_update's CASE. Returns how many rows were written."""
        states = sorted(states.items())
        if not states:
            return 0
        now = timezone.now()
        if connection.vendor != "postgresql":
            rows = [self.model(pk=pk, status=s, master_id=m, updated_at=now) for pk, (s, m) in states]
            return self.bulk_update(rows, ["status", "master", "updated_at"], batch_size=300)
        table = self.model._meta.db_table
        written = 0
        with connection.cursor() as cursor:
            for start in range(0, len(states), 1000):
                part = states[start : start + 1000]
                values = ", ".join(["(%s, %s, %s::bigint)"] * len(part))
                cursor.execute(
                    f"UPDATE {table} AS r SET status = v.status, master_id = v.master, updated_at = %s "  # noqa: S608
                    f"FROM (VALUES {values}) AS v(id, status, master) WHERE r.id = v.id",
                    [now, *(x for pk, (status, master) in part for x in (pk, status, master))],
                )
                written += cursor.rowcount
        return written


class CatalogueRecord(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUPERSEDED = "superseded", _("superseded")

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="records")
    catalogue_number = models.CharField(_("catalogue number"), max_length=300)
    title = models.CharField(_("title"), max_length=1000, blank=True)
    creator = models.CharField(_("creator"), max_length=500, blank=True)
    date_text = models.CharField(_("date"), max_length=200, blank=True)
    rights = models.TextField(_("rights / licence"), blank=True)
    credit_line = models.CharField(_("credit line"), max_length=1000, blank=True)
    source = models.TextField(_("source / provenance"), blank=True)
    metadata = models.JSONField(_("other metadata"), default=dict, blank=True)
    # The catalogue number, title and creator in catalogue.scripts' normal form (Simplified script,
    # casefolded), written by save(): search compares a folded query with it, so no row is converted
    # at query time. PostgreSQL has a trigram index on it (migration 0006) for the LIKE '%…%' search.
    search_text = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # Set when a decision supersedes this record; its catalogue number keeps resolving through it.
    master = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_records"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordManager()

    class Meta:
        ordering = ["collection", "catalogue_number"]
        verbose_name = _("catalogue record")
        verbose_name_plural = _("catalogue records")
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "catalogue_number"], name="unique_number_per_collection"
            )
        ]
        indexes = [models.Index(fields=["catalogue_number"])]

    SEARCHED = ("catalogue_number", "title", "creator")

    def __str__(self):
        return f"{self.catalogue_number} ({self.collection})"

    def save(self, *args, **kwargs):
        self.search_text = scripts.search_text(*(getattr(self, name) for name in self.SEARCHED))
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and set(update_fields) & set(self.SEARCHED):
            kwargs["update_fields"] = {*update_fields, "search_text"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("catalogue-record", args=[self.pk])

    @staticmethod
    def matching(text):
        """The search condition: text in the catalogue number, title or creator, in any case and in
        either Chinese script (a query in Traditional, Hong Kong or Simplified characters finds all)."""
        return models.Q(search_text__contains=scripts.fold(text))

    def resolve(self):
        """The record this one's catalogue number resolves to: itself, or its master's master."""
        record, seen = self, {self.pk}
        while record.master_id and record.master_id not in seen:
            seen.add(record.master_id)
            record = record.master
        return record

    def state(self):
        """What a decision changes on a record, as recorded in the audit (before / after)."""
        return {"record": self.pk, "status": self.status, "master": self.master_id}

    def may_be_superseded_by(self, master):
        """A record of a reference collection is never superseded by another collection's record."""
        return not self.collection.reference or master.resolve().collection_id == self.collection_id

    def supersede(self, master):
        """Make master the authoritative record for this one. Records that this one had already
        superseded move to master too, so groups stay flat: A=B then B=C gives C superseded by A."""
        master = master.resolve()
        if master.pk == self.pk:
            raise ValueError("a record cannot supersede itself")
        if not self.may_be_superseded_by(master):
            raise ValueError("a record of a reference collection is never superseded by another collection's")
        CatalogueRecord.objects.filter(master=self).update(master=master, updated_at=timezone.now())
        self.status, self.master = self.Status.SUPERSEDED, master
        self.save(update_fields=["status", "master", "updated_at"])

    def restore(self, state):
        """Put back a state recorded by state() (used by undo and revert)."""
        self.status, self.master_id = state["status"], state["master"]
        self.save(update_fields=["status", "master", "updated_at"])

    def related_records(self):
        links = RecordLink.objects.filter(models.Q(record_a=self) | models.Q(record_b=self))
        ids = {pk for link in links for pk in (link.record_a_id, link.record_b_id)} - {self.pk}
        return CatalogueRecord.objects.filter(pk__in=ids)


class RecordLink(models.Model):
    """Two records kept apart but related (a crop, a retouched version, another publication): both ways."""

    record_a = models.ForeignKey(CatalogueRecord, on_delete=models.CASCADE, related_name="+")
    record_b = models.ForeignKey(CatalogueRecord, on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_a", "record_b"], name="unique_record_link"),
            models.CheckConstraint(
                condition=models.Q(record_a__lt=models.F("record_b")), name="record_link_ordered"
            ),
        ]

    def __str__(self):
        return f"{self.record_a_id} ↔ {self.record_b_id}"

    @classmethod
    def link(cls, one, other, note=""):
        a, b = sorted((one.pk, other.pk))
        return cls.objects.get_or_create(record_a_id=a, record_b_id=b, defaults={"note": note})[0]


class ImportBatch(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", _("browser upload")
        FOLDER = "folder", _("server folder")
        ZIP = "zip", _("zip archive")

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="imports")
    source = models.CharField(max_length=20, choices=Source.choices)
    root = models.CharField(_("imported from"), max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stored = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    manifest_name = models.CharField(max_length=500, blank=True)
    # Messages about the manifest as a whole (encoding used, unknown file names, bad rows).
    manifest_messages = models.JSONField(default=list, blank=True)
    # One entry per file: {"path", "status", "message"}. Command imports keep only the problems.
    results = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self):
        return f"{self.get_source_display()} → {self.collection} ({self.started_at:%Y-%m-%d %H:%M})"

    def get_absolute_url(self):
        return reverse("catalogue-import", args=[self.pk])


class ImageFile(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("waiting for fingerprint")
        READY = "ready", _("fingerprinted")
        FAILED = "failed", _("failed")

    record = models.ForeignKey(CatalogueRecord, on_delete=models.PROTECT, related_name="images")
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="images")
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    # Content-addressed: originals/ab/cd/<sha256>. A byte-identical file is stored once.
    storage_key = models.CharField(max_length=400)
    original_filename = models.CharField(_("file name"), max_length=500)
    source_path = models.CharField(_("path as imported"), max_length=1000)
    size = models.BigIntegerField(_("file size"))
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=20)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    mode = models.CharField(_("colour mode"), max_length=20)
    icc_profile = models.CharField(_("colour profile"), max_length=300, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["collection", "source_path"]
        verbose_name = _("image file")
        verbose_name_plural = _("image files")
        constraints = [
            models.UniqueConstraint(fields=["collection", "source_path"], name="unique_path_per_collection")
        ]

    def __str__(self):
        return self.source_path

    def get_absolute_url(self):
        return reverse("catalogue-image-original", args=[self.pk])


class PolicyChange(models.Model):
    """A change to a collection's deduplication policy (append-only record): an administrator's, or
    the system's when a rejection suspends automatic settling (actor None)."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="policy_changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    # Why, when the change was not made on the policy form (calibration, an automatic suspension).
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"policy of {self.collection} changed by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, blank=True)

    def __str__(self):
        return f"{self.user} ({self.language or 'default'})"


class UploadJob(models.Model):
    """A browser upload waiting for, or going through, catalogue.tasks.process_upload: the request only
    stages the files in storage and creates this; the worker unpacks and imports them, and the upload's
    page shows the counts and problems so far. Its state changes only through the methods below."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("waiting for a worker")
        RUNNING = "running", _("importing")
        DONE = "done", _("finished")
        FAILED = "failed", _("failed")

    MAX_MESSAGES = 200  # problems listed on the page while it runs; the import keeps every one

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="upload_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # The staged files, in upload order: [{"name": as sent by the browser, "key": storage key, "size"}].
    files = models.JSONField(default=list)
    manifest_name = models.CharField(max_length=500, blank=True)
    manifest_key = models.CharField(max_length=400, blank=True)
    manifest_encoding = models.CharField(max_length=40, blank=True)
    total = models.PositiveIntegerField(default=0)  # files, counting each zip's members once it is opened
    processed = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    messages = models.JSONField(default=list, blank=True)  # "path: reason" of rejected files, first ones
    error = models.TextField(blank=True)
    batch = models.OneToOneField(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="upload_job"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("upload")
        verbose_name_plural = _("uploads")

    def __str__(self):
        return f"upload #{self.pk} → {self.collection} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("catalogue-upload-job", args=[self.pk])

    @property
    def finished(self):
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self):
        return 100 if self.status == self.Status.DONE else int(100 * self.processed / max(self.total, 1))

    def claim(self, stale_after):
        """Take the job for this worker (a conditional UPDATE); False when it is finished, or running
        elsewhere. A job running for longer than stale_after seconds (the task's hard time limit) has lost
        its worker, and its redelivered message (acks_late) takes it again."""
        now = timezone.now()
        takeable = models.Q(status=self.Status.QUEUED) | models.Q(
            status=self.Status.RUNNING, started_at__lt=now - timedelta(seconds=stale_after)
        )
        claimed = UploadJob.objects.filter(takeable, pk=self.pk).update(
            status=self.Status.RUNNING, started_at=now, processed=0, stored=0, skipped=0, rejected=0
        )
        if claimed:
            self.refresh_from_db()
        return bool(claimed)

    def save_progress(self, counts, processed, total, messages):
        self.processed, self.total = processed, max(total, processed)
        self.stored, self.skipped, self.rejected = counts["stored"], counts["skipped"], counts["rejected"]
        self.messages = messages[: self.MAX_MESSAGES]
        self.save(update_fields=["processed", "total", "stored", "skipped", "rejected", "messages"])

    def finish(self, batch):
        self.status, self.batch, self.finished_at = self.Status.DONE, batch, timezone.now()
        self.stored, self.skipped, self.rejected = batch.stored, batch.skipped, batch.rejected
        self.processed = self.total = max(self.total, batch.stored + batch.skipped + batch.rejected)
        self.save()

    def fail(self, error):
        self.status, self.error, self.finished_at = self.Status.FAILED, error[:2000], timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])


class CollectionCounts(models.Model):
    """A collection's records and images (by fingerprint state), kept by database triggers on every
    insert, update and delete of records and images (migration 0009), so that a page reads one row per
    collection instead of counting a million. catalogue.counts.rebuild() recounts them (after a load
    that bypassed the triggers)."""

    collection = models.OneToOneField(
        Collection, primary_key=True, on_delete=models.CASCADE, related_name="counts"
    )
    records = models.BigIntegerField(default=0)
    images = models.BigIntegerField(default=0)
    images_ready = models.BigIntegerField(default=0)
    images_failed = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("collection counts")
        verbose_name_plural = _("collection counts")

    def __str__(self):
        return f"{self.collection_id}: {self.records} records, {self.images} images"

    @property
    def images_pending(self):
        return self.images - self.images_ready - self.images_failed
