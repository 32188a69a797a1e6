from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0004_add_review_settings"),
    ]

    operations = [
        # Added empty, filled per project by 0006 (a callable default would
        # give every existing project the same salt), then given its default.
        migrations.AddField(
            model_name="project",
            name="split_salt",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="project",
            name="split_names",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
