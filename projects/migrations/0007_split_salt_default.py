from django.db import migrations, models

import projects.models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0006_fill_split_salt"),
    ]

    operations = [
        migrations.AlterField(
            model_name="project",
            name="split_salt",
            field=models.CharField(default=projects.models.new_split_salt, max_length=64),
        ),
    ]
