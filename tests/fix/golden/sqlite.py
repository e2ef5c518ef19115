import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('pareto_fixapp', '0001_initial'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='article',
            index=models.Index(condition=models.Q(('is_featured', True)), fields=['-published_at'], name='fixapp_featured_pub_idx'),
        ),
        migrations.AddIndex(
            model_name='article',
            index=models.Index(django.db.models.functions.text.Upper('title'), name='fixapp_upper_title_idx'),
        ),
        migrations.RemoveIndex(
            model_name='article',
            name='fixapp_code_idx',
        ),
        migrations.RunSQL(
            sql='CREATE INDEX "auth_user_upper_username_idx" ON "auth_user" (UPPER("username"))',
            reverse_sql='DROP INDEX IF EXISTS "auth_user_upper_username_idx"',
        ),
    ]
