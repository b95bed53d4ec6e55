import numpy as np
from django.db import connection, models
from django.db.models import F, Max, Q
from django.utils.translation import gettext_lazy as _

from catalogue.models import ImageFile

_SIGN = 1 << 63


def to_db(code):
    """An unsigned 64-bit hash as the signed integer a BigIntegerField holds (same bits)."""
    return None if code is None else (code - (1 << 64) if code >= _SIGN else code)


def from_db(value):
    return None if value is None else value & 0xFFFFFFFFFFFFFFFF


ORIENTATIONS_STORED = 7  # variant_codes start with the pHashes of the 7 orientations other than upright


def pack_codes(codes):
    """64-bit codes as the bytes of a little-endian uint64 array (what Fingerprint's *_codes hold)."""
    return np.asarray(list(codes), dtype="<u8").tobytes()


def unpack_codes(data):
    return np.frombuffer(bytes(data or b""), dtype="<u8").astype(np.uint64)


class Fingerprint(models.Model):
    """Every signal of one image, from one decode. Written once per image (the primary key is the image)."""

    image = models.OneToOneField(
        ImageFile, primary_key=True, on_delete=models.CASCADE, related_name="fingerprint"
    )
    # 64-bit hashes stored with their bits in a signed BIGINT (see to_db / from_db).
    phash = models.BigIntegerField(db_index=True)
    dhash = models.BigIntegerField()
    colorhash = models.CharField(max_length=64, blank=True)
    # The search index's codes, 64-bit each, packed little-endian ('<u8') so that a worker reads them
    # straight into numpy: primary = pHash [+ pHash after trimming a border]; variant = the pHashes of
    # the 7 other orientations (ORIENTATIONS order, upright left out) then the region codes.
    primary_codes = models.BinaryField(default=bytes)
    variant_codes = models.BinaryField(default=bytes)
    trimmed_phash = models.BigIntegerField(null=True, blank=True)
    trim_box = models.JSONField(null=True, blank=True)
    pixel_digest = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bit_depth = models.PositiveSmallIntegerField(default=8)
    dpi = models.JSONField(null=True, blank=True)
    exif_datetime = models.CharField(max_length=40, blank=True)
    camera = models.CharField(max_length=200, blank=True)
    exif_orientation = models.PositiveSmallIntegerField(default=1)
    frames = models.PositiveIntegerField(default=1)
    notes = models.JSONField(default=list, blank=True)
    # Quality facts from the same decode (dedup.signals.quality_facts): lossless, jpeg_quality, sharpness,
    # effective_scale ...; read by the keep-best rules (dedup.policy) and shown on the pair screen.
    quality = models.JSONField(default=dict, blank=True)
    preview_key = models.CharField(max_length=400, blank=True)
    thumbnail_key = models.CharField(max_length=400, blank=True)
    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    seconds = models.FloatField(default=0)
    # False until the image has been searched against every fingerprint then in the database.
    searched = models.BooleanField(default=False, db_index=True)
    # The index shards (bit k: shard k) that have searched this image; searched once all have.
    shards_searched = models.BigIntegerField(default=0)
    # Commit order: a worker's long-lived index reads the fingerprints with seq above the last it has
    # (dedup.search.LiveIndex). Assigned under a lock held until commit, so seq order is commit order and
    # a reader that has seen seq n has seen every fingerprint below n.
    seq = models.BigIntegerField(null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("fingerprint")
        verbose_name_plural = _("fingerprints")

    def __str__(self):
        return f"fingerprint of {self.image_id}"

    @property
    def phash_hex(self):
        return f"{from_db(self.phash):016x}"

    @property
    def dhash_hex(self):
        return f"{from_db(self.dhash):016x}"

    @property
    def orient_phashes(self):
        """The 8 orientations' pHashes, upright first (as dedup.signals computes them)."""
        return [from_db(self.phash), *unpack_codes(self.variant_codes)[:ORIENTATIONS_STORED].tolist()]

    @property
    def crop_hashes(self):
        return unpack_codes(self.variant_codes)[ORIENTATIONS_STORED:].tolist()


class CandidatePair(models.Model):
    """Two images whose fingerprints are within a configured distance. Stored once per unordered pair
    (image_a < image_b) and never recomputed: a rescan inserts only pairs it has not seen, so a pair's
    tier, relation and the decisions taken on it stick."""

    class Side(models.TextChoices):
        A = "a", _("left")
        B = "b", _("right")

    class Tier(models.TextChoices):
        AUTO = "auto", _("settled automatically")
        REVIEW = "review", _("review queue")
        REJECTED = "rejected", _("rejected by verification")

    image_a = models.ForeignKey(ImageFile, on_delete=models.CASCADE, related_name="+")
    image_b = models.ForeignKey(ImageFile, on_delete=models.CASCADE, related_name="+")
    # Hamming distances (of 64 bits) per signal; None where the signal does not apply.
    phash_distance = models.PositiveSmallIntegerField()
    dhash_distance = models.PositiveSmallIntegerField()
    orientation_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    border_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    crop_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    same_bytes = models.BooleanField(default=False)
    score = models.FloatField(db_index=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.REVIEW, db_index=True)
    # Labels from the relation vocabulary joined by "+" (filled by verification).
    relation = models.CharField(max_length=200, blank=True)
    relation_params = models.JSONField(default=dict, blank=True)
    explanation = models.TextField(blank=True)
    # Direction (filled by verification): the image the other was made from, "a" or "b", or "" when the
    # pixels give none (exact copies, turns, mirrors, colour versions); and how the other was made from it
    # (dedup.verify.DERIVATIONS joined by "+", e.g. "upscaled" or "cropped+downscaled").
    source_side = models.CharField(max_length=1, choices=Side.choices, blank=True, default="")
    derivation = models.CharField(max_length=200, blank=True)
    # Set by verification and the tier rules (dedup.tiers): why this tier, and the queue order.
    verified = models.BooleanField(default=False, db_index=True)
    tier_reason = models.CharField(max_length=500, blank=True)
    priority = models.FloatField(default=0, db_index=True)
    # An original of the pair that storage could not open while the others of its batch opened (a file
    # deleted from the bucket, a half-restored backup): why, when last, and how many attempts so far.
    # Set by dedup.verification only; the pair stays unverified and is retried until it goes to a person.
    open_error = models.CharField(max_length=500, blank=True)
    open_error_at = models.DateTimeField(null=True, blank=True)
    open_attempts = models.PositiveSmallIntegerField(default=0)
    # Verification inferred this pair's verdict from two verified pairs through the group's master
    # instead of comparing the two images (see dedup.verification.verify_pairs).
    inferred = models.BooleanField(default=False)
    group = models.ForeignKey(
        "CandidateGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="pairs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("candidate pair")
        verbose_name_plural = _("candidate pairs")
        constraints = [
            models.UniqueConstraint(fields=["image_a", "image_b"], name="unique_unordered_pair"),
            models.CheckConstraint(condition=Q(image_a__lt=F("image_b")), name="pair_is_ordered"),
        ]

    def __str__(self):
        return f"{self.image_a_id} ~ {self.image_b_id} ({self.tier}, {self.score:.2f})"

    @property
    def source_image(self):
        """The image the other was made from, or None when verification found no direction."""
        return {"a": self.image_a, "b": self.image_b}.get(self.source_side)


class CandidateGroup(models.Model):
    """Images that are all close to one proposed master (see dedup.groups for the chaining guard).
    Kept up to date by dedup.grouping only, one component at a time: a group its changes do not touch
    keeps its row, and one that grows, shrinks or gets a better master keeps its id."""

    master = models.ForeignKey(ImageFile, on_delete=models.CASCADE, related_name="+")
    members = models.ManyToManyField(ImageFile, related_name="candidate_groups")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("candidate group")
        verbose_name_plural = _("candidate groups")

    def __str__(self):
        return f"group of {self.master_id}"


class ComponentMember(models.Model):
    """An image's connected component in the graph of pairs not rejected (written by dedup.grouping
    only): the component's label is the id of one of its images, so a regroup finds every image of a
    component in one indexed query however long its chains are. Images without such a pair have no row."""

    image = models.OneToOneField(ImageFile, primary_key=True, on_delete=models.CASCADE, related_name="+")
    component = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("component member")
        verbose_name_plural = _("component members")

    def __str__(self):
        return f"{self.image_id} in component {self.component}"


def next_seq():
    """The next Fingerprint.seq, inside the caller's transaction. On PostgreSQL a transaction-level
    advisory lock is taken first and held until commit, so fingerprints commit in seq order (a reader
    never sees seq n + 1 before n); SQLite has a single writer anyway. Call it last before the commit:
    every fingerprint write waits for the lock while it is held."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('mastercopy-fingerprint-seq'))")
    return (Fingerprint.objects.aggregate(top=Max("seq"))["top"] or 0) + 1
