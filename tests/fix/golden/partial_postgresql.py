import django.contrib.postgres.operations
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('pareto_partialapp', '0001_initial'),
    ]

    operations = [
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name='task',
            index=models.Index(condition=models.Q(('done_at__isnull', True)), fields=['created_at'], name='pareto_part_created_b95866_idx'),
        ),
    ]
