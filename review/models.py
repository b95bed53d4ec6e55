import contextvars
import uuid

from django.conf import settings
from django.db import connection, models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalogue.models import CatalogueRecord
from dedup.models import CandidatePair

# Key of the PostgreSQL advisory lock that serialises appends to the decisions' hash chain.
CHAIN_LOCK = 0x6D63_6861_696E  # "mchain"


def lock_chain():
    """Take the decision chain's append lock at the start of a transaction that will record a decision,
    before any row lock: every such transaction then waits in one place, in one order, and two of them
    can never hold a row the other needs while waiting for the chain (the deadlock a load test found).
    Re-entrant within a transaction, and a call while the transaction holds it already sends nothing (a
    decision POST asked four times, a round trip each); a no-op on SQLite, whose IMMEDIATE transactions
    serialise writers."""
    if connection.vendor != "postgresql":
        return
    if connection.in_atomic_block and _chain_lock_held():
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    if connection.in_atomic_block:
        connection.on_commit(_chain_lock_taken)


def _chain_lock_taken():
    """The mark lock_chain leaves among the transaction's on-commit callbacks (it does nothing): Django
    drops it exactly when PostgreSQL releases the lock, with the transaction's rollback or with the
    rollback of the savepoint the lock was taken in, and keeps it through a released savepoint."""


def _chain_lock_held():
    return any(func is _chain_lock_taken for _sids, func, _robust in connection.run_on_commit)


class AppendOnlyError(Exception):
    pass


# Set by Decision.objects.record while it saves: the one way a decision is written.
_recording = contextvars.ContextVar("review_decision_recording", default=False)


class DecisionManager(models.Manager):
    def record(self, kind, *, reason="", comment="", batch=None, **fields):
        """Append one decision to the chain and return it: the one way a Decision row is written
        (review.decisions.record is this). Takes the chain lock (re-entrant: a no-op when the caller's
        review.decisions.chain_transaction holds it already) and writes the row in the caller's
        transaction, or in one of its own. fields are the model's (pair or pair_id, actor, master,
        superseded, automatic, evidence, before, after, effects, corrects, flagged, pending, approves);
        batch groups the decisions of one action (a UUID or its text). The consequences in the
        catalogue and the queue are the caller's."""
        decision = self.model(
            kind=kind,
            reason=(reason or "")[:500],
            comment=comment or "",
            batch=uuid.UUID(str(batch)) if batch is not None else None,
            **fields,
        )
        with transaction.atomic(savepoint=False):
            lock_chain()
            token = _recording.set(True)
            try:
                decision.save()
            finally:
                _recording.reset(token)
        return decision

    def record_many(self, entries):
        """Append decisions to the chain in the order given and return them: record() for a batch
        (automatic settling of a verify batch's exact copies, review.decisions.settle_copies). entries
        are dicts of record()'s arguments (kind, reason, comment, batch and the model's fields). One
        chain lock, one read of the chain's head; each decision's sequence, prev_hash and hash are
        computed here as Decision.save computes them for one, and the rows are inserted together. The
        receivers of decisions_recorded (sent once for the batch) do what post_save does for one."""
        decisions = [
            self.model(
                kind=entry["kind"],
                reason=(entry.get("reason") or "")[:500],
                comment=entry.get("comment") or "",
                batch=uuid.UUID(str(entry["batch"])) if entry.get("batch") is not None else None,
                **{k: v for k, v in entry.items() if k not in ("kind", "reason", "comment", "batch")},
            )
            for entry in entries
        ]
        if not decisions:
            return []
        with transaction.atomic(savepoint=False):
            lock_chain()
            Decision._chain_many(decisions)
            token = _recording.set(True)
            try:
                self.bulk_create(decisions, batch_size=1000)
            finally:
                _recording.reset(token)
            decisions_recorded.send(sender=self.model, decisions=decisions)
        return decisions


# Sent by Decision.objects.record_many inside its transaction, once for the decisions it appended (a
# post_save for each would cost every receiver one query per decision). Arguments: decisions.
decisions_recorded = Signal()


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
        # A supervisor sends back a proposal that waited for approval (see review.approval).
        DECLINE = "decline", _("declined by a supervisor")

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
    # What else the decision changed, so undo can put it back exactly: fields carried into the master
    # ({"field": {"value", "previous", "from_record"}}) and a related link it created ([a, b]).
    effects = models.JSONField(default=dict, blank=True)
    # A decision that contradicts earlier ones is not applied: it waits for a supervisor (kind escalate).
    flagged = models.BooleanField(default=False)
    # Two-person rules (review.approval): a decision recorded pending changed nothing; it takes effect
    # when a supervisor approves it, which records the applied decision with `approves` pointing here,
    # or is sent back by a decline (kind decline, corrects it).
    pending = models.BooleanField(default=False, db_default=False, db_index=True)
    approves = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="approvals"
    )
    # Decisions taken together in one action (a group screen's submit, a band decision) share a batch
    # id, so the whole action can be undone or reverted as one (review.supervision.revert_batch).
    batch = models.UUIDField(null=True, blank=True, db_index=True)
    # Set before the insert (not auto_now_add) because the hash covers it.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # The tamper-evident chain (review.audit): position in the log, the previous decision's hash, and
    # HMAC-SHA256 over this decision's fields and prev_hash under the audit key that key_id names (a
    # fingerprint of settings.MASTERCOPY_AUDIT_KEY, never the key). Assigned once, in save().
    sequence = models.PositiveBigIntegerField(unique=True, null=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    key_id = models.CharField(max_length=16, blank=True, editable=False, db_default="")

    objects = DecisionManager()

    class Meta:
        ordering = ["created_at", "pk"]
        # A person's decisions newest first, in the order of services.last_decision (id breaks ties).
        indexes = [models.Index(fields=["actor", "-created_at", "-id"], name="decision_actor_latest")]
        verbose_name = _("decision")
        verbose_name_plural = _("decisions")

    def __str__(self):
        who = "system" if self.automatic else str(self.actor)
        return f"{self.get_kind_display()} by {who} on pair {self.pair_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("decisions are append-only: record a new decision instead")
        if not _recording.get():
            raise AppendOnlyError("decisions are recorded through review.decisions.record only")
        with transaction.atomic(savepoint=False):
            self._chain()
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("decisions are append-only and are never deleted")

    @staticmethod
    def _chain_many(decisions):
        """_chain for a list of new decisions, in order, under the lock the caller holds."""
        from .audit import GENESIS, current_key_id, digest, keyring

        chained = Decision.objects.exclude(sequence=None).order_by("-sequence")
        last = chained.values_list("sequence", "hash").first()
        sequence, prev = last if last else (0, GENESIS)
        key, keys = current_key_id(), keyring()
        for decision in decisions:
            sequence += 1
            decision.sequence, decision.prev_hash = sequence, prev
            decision.created_at = timezone.now()
            decision.key_id = key
            decision.hash = prev = digest(decision, prev, keys)
        transaction.on_commit(lambda: _checkpoint_after_commit(sequence), robust=True)

    def _chain(self):
        """Append to the hash chain. Appends are serialised: on PostgreSQL by a transaction-scoped
        advisory lock (held until commit, so the next append sees this row); SQLite's IMMEDIATE
        transactions already let one writer at a time in. The unique sequence is the backstop."""
        from .audit import GENESIS, current_key_id, digest

        lock_chain()
        chained = Decision.objects.exclude(sequence=None).order_by("-sequence")
        last = chained.values_list("sequence", "hash").first()
        self.sequence, self.prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        self.created_at = timezone.now()
        self.key_id = current_key_id()
        self.hash = digest(self, self.prev_hash)
        # After the commit, note the head outside the database (a rolled-back transaction or savepoint
        # takes its callback with it, so only committed events are ever noted).
        sequence = self.sequence
        transaction.on_commit(lambda: _checkpoint_after_commit(sequence), robust=True)


# The highest sequence this process has noted per checkpoint file: a transaction that recorded many
# decisions writes one line, at its first callback (the head is its last decision, or later).
_noted = {}


def _checkpoint_after_commit(sequence):
    path = settings.MASTERCOPY_AUDIT_CHECKPOINTS
    if path and _noted.get(path, 0) < sequence:
        write_checkpoint(path=path)


def write_checkpoint(reason="decision", path=None):
    """Append the committed head of the chain to the checkpoint file (review.audit); returns the line.
    After a commit, outside the append lock: lines may land out of order, and each is checked alone."""
    from .audit import append_checkpoint, checkpoint_line

    path = path or settings.MASTERCOPY_AUDIT_CHECKPOINTS
    chained = Decision.objects.exclude(sequence=None).order_by("-sequence")
    last = chained.values_list("sequence", "hash", "key_id").first()
    if not path or not last:
        return None
    line = checkpoint_line(*last, reason)
    append_checkpoint(path, line)
    _noted[path] = last[0]
    return line


def not_corrected():
    """The condition "not undone, reverted or declined since" as NOT EXISTS, for .filter(): an index
    probe per decision looked at, where an outer join to the corrections (corrections__isnull=True)
    often made PostgreSQL read all of them first."""
    return ~models.Exists(Decision.objects.filter(corrects=models.OuterRef("pk")))


class ReviewItemQuerySet(models.QuerySet):
    """The queue's transitions, for any number of items at once. These are the only writers of an
    item's status, lease and skip fields (the instance methods of ReviewItem call them); each runs in
    the caller's transaction, which a decision's service has opened with the chain lock taken."""

    def _move(self, **changes):
        return self.update(**changes, updated_at=timezone.now())

    def free_for(self, user, now):
        return self.filter(
            models.Q(leased_by__isnull=True) | models.Q(lease_expires_at__lte=now) | models.Q(leased_by=user)
        )

    def claim(self, user, now, until):
        """Lease the open or escalated items among these that are free for user, with one conditional
        UPDATE: of two simultaneous claims exactly one matches the row, so the count says who won."""
        waiting = self.filter(status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.ESCALATED])
        return waiting.free_for(user, now).update(leased_by=user, lease_expires_at=until, updated_at=now)

    def release(self):
        return self.update(leased_by=None, lease_expires_at=None)

    def settle(self, decision):
        """A settling decision takes the items out of the queue and ends their lease."""
        return self._move(
            status=ReviewItem.Status.DECIDED, decision=decision, leased_by=None, lease_expires_at=None
        )

    def escalate(self):
        return self._move(status=ReviewItem.Status.ESCALATED, leased_by=None, lease_expires_at=None)

    def await_approval(self, proposal):
        return self._move(
            status=ReviewItem.Status.PENDING, decision=proposal, leased_by=None, lease_expires_at=None
        )

    def skip(self, user, now):
        return self._move(skipped_by=user, skipped_at=now, leased_by=None, lease_expires_at=None)

    def reopen(self, status=None, lease_to=None, until=None, clear_skip=False):
        """Back into the queue (open, or the status given), unleased or leased to lease_to until until;
        clear_skip also forgets who skipped it."""
        changes = {
            "status": status or ReviewItem.Status.OPEN,
            "decision": None,
            "leased_by": lease_to,
            "lease_expires_at": until if lease_to is not None else None,
        }
        if clear_skip:
            changes.update(skipped_by=None, skipped_at=None)
        return self._move(**changes)


class ReviewItem(models.Model):
    """A pair's place in the review queue: who holds it, and whether a decision has taken it out.

    Decisions are the truth; this row is the queue's working state, changed in the same transaction as
    the decision that changes it. The queue's filters and counts (collection, relation, score band) are
    copied from the pair so that counting 100,000 items is one indexed query on one table.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("waiting for review")
        ESCALATED = "escalated", _("waiting for a supervisor")
        # A decision was proposed and waits for a supervisor's approval (two-person rules).
        PENDING = "pending", _("waiting for approval")
        DECIDED = "decided", _("decided")

    pair = models.OneToOneField(CandidatePair, on_delete=models.CASCADE, related_name="review_item")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    collection = models.ForeignKey("catalogue.Collection", on_delete=models.CASCADE, related_name="+")
    relation = models.CharField(max_length=200, blank=True)
    score = models.FloatField(default=0)
    priority = models.FloatField(default=0)
    # The lease: one cataloguer at a time, until it expires.
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Skip hands the item to others: the one who skipped does not get it straight back.
    skipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skipped_at = models.DateTimeField(null=True, blank=True)
    decision = models.ForeignKey(Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("review item")
        verbose_name_plural = _("review items")
        indexes = [
            # The queue's default order (services.ORDERS), ties broken by id as its queries do: the next
            # item is the index's first row, not a sort of every item that ties on priority and score.
            models.Index(fields=["status", "-priority", "-score", "id"], name="review_item_easy_first"),
            models.Index(fields=["status", "priority", "score"], name="review_item_hard_first"),
            models.Index(fields=["status", "collection", "relation"], name="review_item_counts"),
            # One score band of one collection and relation is one range of this index (review.bands);
            # the id makes the band's ids an index-only scan.
            models.Index(fields=["status", "collection", "relation", "score", "id"], name="review_item_band"),
        ]

    def __str__(self):
        return f"review of pair {self.pair_id} ({self.status})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("review-item", args=[self.pk])

    def leased_to(self, user, now):
        return self.leased_by_id == user.pk and bool(self.lease_expires_at and self.lease_expires_at > now)

    def lease_held_by_other(self, user, now):
        return (
            self.leased_by_id is not None
            and self.leased_by_id != user.pk
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )

    @classmethod
    def for_pair_row(cls, pk, collection, relation, score, priority, decision_id=None):
        """A new item for a review-tier pair; decided already when a decision settled the pair."""
        return cls(
            pair_id=pk,
            collection_id=collection,
            relation=relation,
            score=score,
            priority=priority,
            status=cls.Status.DECIDED if decision_id else cls.Status.OPEN,
            decision_id=decision_id,
        )

    # Transitions of this one item: the queryset's, applied to this row and mirrored on the instance.

    def _mirror(self, transition, *args, **kwargs):
        getattr(ReviewItem.objects.filter(pk=self.pk), transition)(*args, **kwargs)
        self.refresh_from_db(
            fields=["status", "decision", "leased_by", "lease_expires_at", "skipped_by", "skipped_at"]
        )

    def claim(self, user, now, until):
        won = bool(ReviewItem.objects.filter(pk=self.pk).claim(user, now, until))
        self.refresh_from_db(fields=["leased_by", "lease_expires_at"])
        return won

    def release(self):
        self._mirror("release")

    def settle(self, decision):
        self._mirror("settle", decision)

    def escalate(self):
        self._mirror("escalate")

    def await_approval(self, proposal):
        self._mirror("await_approval", proposal)

    def skip(self, user, now):
        self._mirror("skip", user, now)

    def reopen(self, status=None, lease_to=None, until=None, clear_skip=False):
        self._mirror("reopen", status, lease_to, until, clear_skip)


class BandDecision(models.Model):
    """One band decision (review.bands): the batch of duplicate decisions that accepted the suggested
    master for a score band's open pairs, with the estimate that allowed it. Written once, in the
    transaction that records the batch; the decisions are the truth and say how the batch stands now.
    The band page lists these, and the band's estimate leaves their decisions out."""

    batch = models.UUIDField(unique=True)
    collection = models.ForeignKey("catalogue.Collection", on_delete=models.PROTECT, related_name="+")
    relation = models.CharField(max_length=200)
    band = models.CharField(max_length=8)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    pairs = models.PositiveIntegerField()
    # The estimate when it was decided: agree of total reviewed decisions, the 95% interval, the level.
    agree = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    low = models.FloatField()
    high = models.FloatField()
    level = models.FloatField()
    # Recorded as proposals under two-person rules (another supervisor approves them).
    proposed = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("band decision")
        verbose_name_plural = _("band decisions")
        indexes = [models.Index(fields=["-created_at"], name="band_decision_latest")]

    def __str__(self):
        return f"band {self.relation} {self.band} in {self.collection_id} ({self.pairs} pairs)"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("review-supervisor-band-batch", args=[self.batch])


class QueueCount(models.Model):
    """One cell of the review queue's counts, kept by database triggers (review.queue_counts)."""

    status = models.CharField(max_length=20)
    # The pair's two collections (image_a's is the item's collection): both must be visible to count.
    collection_id = models.BigIntegerField()
    collection_b_id = models.BigIntegerField()
    relation = models.CharField(max_length=200, blank=True)
    band = models.CharField(max_length=8)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["status", "collection_id", "collection_b_id", "relation", "band"],
                name="queue_count_cell",
            )
        ]

    def __str__(self):
        return f"{self.status} {self.collection_id}/{self.collection_b_id} {self.relation} {self.band}"


class DecisionCount(models.Model):
    """One cell of the supervisor pages' counts, kept with the decisions (review.summaries)."""

    facet = models.CharField(max_length=12)
    # The local day (or hour) the cell counts, review.summaries.NO_PERIOD for the facets without one.
    period = models.DateTimeField()
    actor_id = models.BigIntegerField(default=0)
    kind = models.CharField(max_length=20, blank=True)
    # The pair's two collections (0: a decision without a pair).
    collection_id = models.BigIntegerField(default=0)
    collection_b_id = models.BigIntegerField(default=0)
    relation = models.CharField(max_length=200, blank=True)
    band = models.SmallIntegerField(default=-1)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "facet",
                    "period",
                    "actor_id",
                    "kind",
                    "collection_id",
                    "collection_b_id",
                    "relation",
                    "band",
                ],
                name="decision_count_cell",
            )
        ]

    def __str__(self):
        return f"{self.facet} {self.period:%Y-%m-%d %H} {self.actor_id} {self.kind}: {self.n}"


# --- sample re-review (review.rereview draws the samples) --------------------------------------------

# What a re-reviewer can answer: the three verdicts, as in the first review.
VERDICTS = (Decision.Kind.DUPLICATE, Decision.Kind.RELATED, Decision.Kind.DISTINCT)


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
        ordering = ["-created_at", "-pk"]
        verbose_name = _("re-review sample")
        verbose_name_plural = _("re-review samples")

    def __str__(self):
        return f"re-review sample {self.pk} ({self.created_at:%Y-%m-%d})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("review-rereview", args=[self.pk])

    def figures(self):
        """Counted by the database in one query (not the sample's rows and their decisions in Python)."""
        counts = self.items.aggregate(
            total=models.Count("pk"),
            done=models.Count("pk", filter=~models.Q(kind="")),
            agreed=models.Count("pk", filter=models.Q(kind=models.F("decision__kind"))),
        )
        done, agreed = counts["done"], counts["agreed"]
        return {
            "total": counts["total"],
            "done": done,
            "agreed": agreed,
            "rate": agreed / done if done else None,
        }

    def disagreements(self):
        """The re-reviewed items whose second decision differs from the first, with what the sample's
        page shows of them (the decisions' recorded states left out: the page does not show them)."""
        return (
            self.items.exclude(kind="")
            .exclude(kind=models.F("decision__kind"))
            .select_related(
                "decision__actor",
                "reviewer",
                "decision__pair__image_a__record",
                "decision__pair__image_b__record",
            )
            .defer("decision__evidence", "decision__before", "decision__after", "decision__effects")
        )


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
