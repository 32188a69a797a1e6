"""A job the embedded mode was running when it stopped (Ctrl-C at the wrong
moment, a killed process, a power cut) runs again when the worker starts:
the filesystem broker has no visibility timeout to bring its message back,
and SQLite has no advisory lock to tell the recovery sweep that its worker
died, so without this it stayed "running" until the six-hour sweep failed it.

The cut-off state is made as a killed worker leaves it: the job's row says
running (one attempt, a heartbeat long ago), its message is gone from the
broker. Then a real embedded worker starts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import MANAGE, REPO, embedded_migrated, run

CUT_OFF = """
import io, json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from items.importer import ImportOptions, import_start
from projects import services
from projects.models import Job
lead = get_user_model().objects.create_user("lead")
project = services.project_create(user=lead, name="Cut off", task_type="classification",
    config={"labels": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]})
rows = "\\n".join(json.dumps({"text": f"item {n}"}) for n in range(50)).encode()
job = import_start(project=project, user=lead, stream=io.BytesIO(rows), filename="items.jsonl",
    options=ImportOptions(format="jsonl"))
Job.objects.filter(pk=job.pk).update(status="running", attempts=1,
    started_at=timezone.now() - timedelta(minutes=5),
    heartbeat_at=timezone.now() - timedelta(minutes=5))
print(json.dumps({"job": job.pk, "project": project.pk}))
"""

STATE = """
import json
from projects.models import Job
from items.models import Item
job = Job.objects.get(pk={job})
print(json.dumps({{"status": job.status, "attempts": job.attempts,
    "items": Item.objects.filter(project_id={project}).count()}}))
"""


def shell(env: dict[str, str], code: str) -> dict:
    done = run([sys.executable, str(MANAGE), "shell", "-c", code], env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(180)
def test_a_job_cut_off_when_accord_stopped_runs_again_when_the_worker_starts(tmp_path):
    data_dir = tmp_path / "data"
    env = embedded_migrated(data_dir)
    made = shell(env, CUT_OFF)
    # The killed worker had taken the message: the broker holds none.
    for message in Path(data_dir, "broker", "messages").glob("*.msg"):
        message.unlink()
    assert shell(env, STATE.format(**made))["status"] == "running"

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "accord", "worker", "--pool", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
         "--hostname", f"cut-off-{time.monotonic_ns()}@localhost"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, state = time.monotonic() + 90, {}
        while time.monotonic() < deadline and worker.poll() is None:
            state = shell(env, STATE.format(**made))
            if state["status"] == "succeeded":
                break
            time.sleep(1)
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert state == {"status": "succeeded", "attempts": 2, "items": 50}, output[-3000:]
    assert "cut off when Accord stopped; the job is requeued" in output
