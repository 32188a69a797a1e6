"""Import items from a file, with a progress bar:

    accord import_items <project id> items.jsonl [--partial] [--on-conflict update]
        [--format csv] [--text-column body] [--id-column id] [--user lead]

Runs the same job as the API (stored file, job row, staging, one publishing
transaction), in this process instead of a worker, so it works with no
worker running and shows its progress here.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accord.errors import InvalidInput
from items.importer import KIND, ImportOptions, import_discard_upload, import_run
from projects import access
from projects.jobs import job_create, run_job
from projects.models import Job, Project


class Command(BaseCommand):
    help = "Import items into a project from a JSONL, JSON, CSV or TSV file."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int)
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["jsonl", "json", "csv", "tsv"])
        parser.add_argument(
            "--partial", action="store_true", help="import the good lines, report the bad ones"
        )
        parser.add_argument("--on-conflict", choices=["skip", "update"], default="skip")
        parser.add_argument("--text-column", default="text")
        parser.add_argument("--id-column", default="external_id")
        parser.add_argument("--user", help="record the import as this lead's (username)")

    def handle(self, *args, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']}.")
        user = self._user(project, options["user"])
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        try:
            import_options = ImportOptions.parse(
                {
                    "format": options["format"],
                    "partial": options["partial"],
                    "on_conflict": options["on_conflict"],
                    "text_column": options["text_column"],
                    "id_column": options["id_column"],
                },
                filename=path.name,
            )
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        with path.open("rb") as fh:
            name = default_storage.save(f"imports/{project.pk}/cli-{path.name}", File(fh))
        job = job_create(
            project=project,
            kind=KIND,
            user=user,
            params={"file": name, "filename": path.name[:200], "options": import_options.__dict__},
        )
        with tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc="Importing", file=self.stderr
        ) as bar:

            def show(done: int, total: int | None) -> None:
                bar.update(done - bar.n)

            run_job(job.pk, import_run, listener=show)
        import_discard_upload(job.pk)
        job = Job.objects.get(pk=job.pk)
        self.stdout.write(
            json.dumps(
                {"job": job.pk, "status": job.status, "error": job.error, **job.result}, indent=2
            )
        )
        if job.status != "succeeded":
            raise CommandError(job.error or job.status)

    def _user(self, project, username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not access.has_perm(user, project, access.IMPORT_ITEMS):
            raise CommandError(f"{username} is not a lead of project {project.pk}.")
        return user
