from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pareto_partialapp', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('done_at__isnull', True)), fields=['created_at'], name='pareto_part_created_b95866_idx'),
        ),
    ]
