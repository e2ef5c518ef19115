from django.db import migrations
from django_pareto.denorm import MirrorField
from django_pareto.denorm.operations import BackfillMirror


class Migration(migrations.Migration):

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
    ]
