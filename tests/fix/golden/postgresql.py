import django.contrib.postgres.operations
import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('pareto_fixapp', '0001_initial'),
    ]

    operations = [
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name='article',
            index=models.Index(condition=models.Q(('is_featured', True)), fields=['-published_at'], name='fixapp_featured_pub_idx'),
        ),
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name='article',
            index=models.Index(django.db.models.functions.text.Upper('title'), name='fixapp_upper_title_idx'),
        ),
        django.contrib.postgres.operations.RemoveIndexConcurrently(
            model_name='article',
            name='fixapp_code_idx',
        ),
        migrations.RunSQL(
            sql='CREATE INDEX CONCURRENTLY "auth_user_upper_username_idx" ON "auth_user" (UPPER("username"))',
            reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "auth_user_upper_username_idx"',
        ),
    ]
