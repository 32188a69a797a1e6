"""Export a project's gold as a dataset version, with a progress bar:

    accord export_dataset <project id> --format jsonl
        [--splits train=0.8,validation=0.1,test=0.1] [--group-by doc]
        [--provenance] [--user lead] [--out DIR]

Runs the same service and job work as the API (``export_start`` and
``export_run``), in this process instead of a worker. An identical earlier
request gives back the existing version. ``--out`` copies the version's
files (data, extra files, manifest, datasheet) into a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accord.errors import InvalidInput
from exports import job, start, versions
from exports.models import DatasetVersion
from projects import access
from projects.jobs import run_job
from projects.models import Project


def parse_splits(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    spec: dict[str, float] = {}
    for part in text.split(","):
        name, sep, share = part.partition("=")
        if not sep:
            raise CommandError(f"--splits: {part!r} is not name=share")
        try:
            spec[name.strip()] = float(share)
        except ValueError:
            raise CommandError(f"--splits: {share!r} is not a number") from None
    return spec


class Command(BaseCommand):
    help = "Export a project's gold records as an immutable dataset version."

    def add_arguments(self, parser):
        parser.add_argument("project", type=int)
        parser.add_argument("--format", default="jsonl")
        parser.add_argument("--splits", help="e.g. train=0.8,validation=0.1,test=0.1")
        parser.add_argument("--group-by", help="a metadata field that keeps groups together")
        parser.add_argument("--provenance", action="store_true")
        parser.add_argument("--user", help="record the export as this lead's (username)")
        parser.add_argument("--out", type=Path, help="copy the version's files into this folder")

    def handle(self, *args, **options):
        project = Project.objects.filter(pk=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']}.")
        user = self._user(project, options["user"])
        raw = {
            "format": options["format"],
            "splits": parse_splits(options["splits"]),
            "group_by": options["group_by"],
            "options": {"provenance": options["provenance"]},
        }
        try:
            version = start.export_start(project=project, user=user, raw=raw).version
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        if version.succeeded_at is None:
            with tqdm(unit="rec", unit_scale=True, desc="Exporting", file=self.stderr) as bar:

                def show(done: int, total: int | None) -> None:
                    if total is not None and bar.total != total:
                        bar.total = total
                        bar.refresh()
                    bar.update(done - bar.n)

                run_job(version.job_id, job.export_run, listener=show)
        version = DatasetVersion.objects.select_related("job").get(pk=version.pk)
        if options["out"] and version.succeeded_at is not None:
            self._copy(version, options["out"])
        self.stdout.write(
            json.dumps(
                {
                    "version": version.pk,
                    "status": version.status,
                    "error": version.job.error if version.job else "",
                    "records": version.records,
                    "splits": version.counts.get("splits", {}),
                    "sha256": version.sha256,
                    "datasheet_sha256": version.datasheet_sha256,
                },
                indent=2,
            )
        )
        if version.status != "succeeded":
            raise CommandError(version.job.error if version.job else version.status)

    def _copy(self, version: DatasetVersion, out: Path) -> None:
        for entry in version.files:
            if entry.get("kind") == "zip":
                continue
            target = out / entry["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            with (
                versions.open_version_file(version, entry["name"]) as src,
                target.open("wb") as dst,
            ):
                while chunk := src.read(1 << 20):
                    dst.write(chunk)

    def _user(self, project, username):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not access.has_perm(user, project, access.EXPORT):
            raise CommandError(f"{username} is not a lead of project {project.pk}.")
        return user
