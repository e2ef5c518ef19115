import django.contrib.postgres.indexes
import django.contrib.postgres.operations
from django.db import migrations
from django_pareto.denorm import MirrorField
from django_pareto.denorm.operations import BackfillMirror


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('pareto_mirrorapp', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='article',
            name='tag_info',
            field=MirrorField('tags', fields=['name', 'slug']),
        ),
        BackfillMirror(
            model_name='article',
            name='tag_info',
        ),
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name='article',
            index=django.contrib.postgres.indexes.GinIndex(fields=['tag_info'], name='pareto_mirr_tag_inf_9f1c2e_idx', opclasses=['jsonb_path_ops']),
        ),
    ]
