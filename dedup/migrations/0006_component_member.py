# ComponentMember: each image's component in the pair graph, so that a regroup reads only the components
# it touches (dedup.grouping). Run `manage.py rebuild_groups` once after this migration to label an
# existing archive; until then a regroup finds an unlabelled component by following its pairs.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0001_initial'),
        ('dedup', '0005_pair_open_errors_inferred'),
    ]

    operations = [
        migrations.CreateModel(
            name='ComponentMember',
            fields=[
                ('image', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='catalogue.imagefile')),
                ('component', models.BigIntegerField(db_index=True)),
            ],
            options={
                'verbose_name': 'component member',
                'verbose_name_plural': 'component members',
            },
        ),
        migrations.AddField(
            model_name='candidategroup',
            name='updated_at',
            field=models.DateTimeField(auto_now=True),
        ),
    ]
