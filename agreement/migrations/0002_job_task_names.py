from django.db import migrations

# The agreement report task moved from review/tasks.py: unfinished
# jobs keep the task name the recovery sweep sends them again with.
RENAMED = {
    "review.tasks.agreement_report": "agreement.tasks.agreement_report",
}


def rename(apps, schema_editor, names=RENAMED):
    Job = apps.get_model("projects", "Job")
    for old, new in names.items():
        Job.objects.filter(task=old).update(task=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("agreement", "0001_initial"),
        ("projects", "0008_add_job_task"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
