"""Band decisions (review.bands): the band index of review items (status, collection, relation, score,
id), so one score band of one collection and relation is one range of it, and the BandDecision rows
that say which batches were band decisions, with the estimate that allowed each."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0010_record_number_upper_index"),
        ("review", "0013_decision_batch"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="reviewitem",
            index=models.Index(
                fields=["status", "collection", "relation", "score", "id"], name="review_item_band"
            ),
        ),
        migrations.CreateModel(
            name="BandDecision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("batch", models.UUIDField(unique=True)),
                ("relation", models.CharField(max_length=200)),
                ("band", models.CharField(max_length=8)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("pairs", models.PositiveIntegerField()),
                ("agree", models.PositiveIntegerField()),
                ("total", models.PositiveIntegerField()),
                ("low", models.FloatField()),
                ("high", models.FloatField()),
                ("level", models.FloatField()),
                ("proposed", models.BooleanField(default=False)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "collection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalogue.collection",
                    ),
                ),
            ],
            options={
                "verbose_name": "band decision",
                "verbose_name_plural": "band decisions",
                "indexes": [models.Index(fields=["-created_at"], name="band_decision_latest")],
            },
        ),
    ]
