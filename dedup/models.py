from django.db import models
from django.utils.translation import gettext_lazy as _

from catalogue.models import ImageFile

_SIGN = 1 << 63


def to_db(code):
    """An unsigned 64-bit hash as the signed integer a BigIntegerField holds (same bits)."""
    return None if code is None else (code - (1 << 64) if code >= _SIGN else code)


def from_db(value):
    return None if value is None else value & 0xFFFFFFFFFFFFFFFF


class Fingerprint(models.Model):
    """Every signal of one image, from one decode. Written once per image (the primary key is the image)."""

    image = models.OneToOneField(
        ImageFile, primary_key=True, on_delete=models.CASCADE, related_name="fingerprint"
    )
    # 64-bit hashes stored with their bits in a signed BIGINT (see to_db / from_db).
    phash = models.BigIntegerField(db_index=True)
    dhash = models.BigIntegerField()
    colorhash = models.CharField(max_length=64, blank=True)
    # Lists of 64-bit codes as 16-digit hex strings: JSON is portable across SQLite and PostgreSQL.
    orient_phashes = models.JSONField(default=list)
    crop_hashes = models.JSONField(default=list)
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
    preview_key = models.CharField(max_length=400, blank=True)
    thumbnail_key = models.CharField(max_length=400, blank=True)
    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    seconds = models.FloatField(default=0)

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
