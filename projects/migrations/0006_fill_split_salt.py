import secrets

from django.db import migrations


def fill(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    for pk in Project.objects.filter(split_salt="").values_list("pk", flat=True).iterator():
        Project.objects.filter(pk=pk).update(split_salt=secrets.token_hex(16))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0005_add_split_salt"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
