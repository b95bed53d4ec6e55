"""Fingerprint codes packed as little-endian uint64 bytes (the JSON hex lists go), and the commit-order
sequence the workers' long-lived indexes read from (dedup.search.LiveIndex)."""

import numpy as np
from django.db import migrations, models


def _pack(codes):
    return np.asarray(list(codes), dtype="<u8").tobytes()


def forwards(apps, schema_editor):
    Fingerprint = apps.get_model("dedup", "Fingerprint")
    rows = Fingerprint.objects.order_by("image_id").values_list(
        "image_id", "phash", "trimmed_phash", "orient_phashes", "crop_hashes"
    )
    for seq, (image_id, phash, trimmed, orients, crops) in enumerate(rows.iterator(chunk_size=2000), 1):
        primary = [phash & 0xFFFFFFFFFFFFFFFF] + ([] if trimmed is None else [trimmed & 0xFFFFFFFFFFFFFFFF])
        variant = [int(c, 16) for c in list(orients)[1:]] + [int(c, 16) for c in crops]
        Fingerprint.objects.filter(image_id=image_id).update(
            primary_codes=_pack(primary), variant_codes=_pack(variant), seq=seq
        )


class Migration(migrations.Migration):
    dependencies = [("dedup", "0003_candidatepair_priority_candidatepair_tier_reason_and_more")]

    operations = [
        migrations.AddField("fingerprint", "primary_codes", models.BinaryField(default=bytes)),
        migrations.AddField("fingerprint", "variant_codes", models.BinaryField(default=bytes)),
        migrations.AddField("fingerprint", "shards_searched", models.BigIntegerField(default=0)),
        migrations.AddField(
            "fingerprint", "seq", models.BigIntegerField(blank=True, null=True, unique=True)
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RemoveField("fingerprint", "orient_phashes"),
        migrations.RemoveField("fingerprint", "crop_hashes"),
    ]
