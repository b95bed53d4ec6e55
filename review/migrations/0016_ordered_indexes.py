"""The queue's default order and a person's latest decisions, each one index walk with the queries'
tie-breaker (id) in the index. The band index is made again after them: PostgreSQL settles a tie in
cost between indexes (a table without statistics) in favour of the newest, and a band's items are one
range of review_item_band."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0010_record_number_upper_index'),
        ('dedup', '0008_direction_and_quality'),
        ('review', '0015_decision_counts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='decision',
            name='decision_actor_latest',
        ),
        migrations.RemoveIndex(
            model_name='reviewitem',
            name='review_item_easy_first',
        ),
        migrations.AddIndex(
            model_name='decision',
            index=models.Index(fields=['actor', '-created_at', '-id'], name='decision_actor_latest'),
        ),
        migrations.AddIndex(
            model_name='reviewitem',
            index=models.Index(fields=['status', '-priority', '-score', 'id'], name='review_item_easy_first'),
        ),
            migrations.RemoveIndex(model_name="reviewitem", name="review_item_band"),
        migrations.AddIndex(
            model_name="reviewitem",
            index=models.Index(fields=["status", "collection", "relation", "score", "id"], name="review_item_band"),
        ),
    ]
