"""The claim path in the embedded mode (SQLite, IMMEDIATE transactions): a
fresh data folder is migrated, a project and its items are made through the
services, and annotators in threads claim and submit at once; the rows then
show exact overlap and no repeats (DESIGN.md, "The queue": "On SQLite (the
embedded mode) IMMEDIATE transactions serialise claims")."""

from __future__ import annotations

import json
import sys

from tests.ops.helpers import MANAGE, embedded_migrated, run

SCRIPT = r"""
import json, threading, time
from collections import Counter
from django.contrib.auth import get_user_model
from django.db import connection
from annotation.queue.claim import NothingLeft, assignment_claim
from annotation.queue.submit import annotation_submit
from annotation.models import Annotation, Assignment
from items.models import Item
from items.services import ItemRow, items_create
from projects import services
from tests.conftest import CLASSIFICATION_CONFIG

assert connection.vendor == "sqlite", connection.vendor
ITEMS, OVERLAP, PEOPLE = 15, 2, 5
User = get_user_model()
lead = User.objects.create_user("lead", password=None)
project = services.project_create(
    user=lead, name="Embedded", task_type="classification", config=CLASSIFICATION_CONFIG,
    overlap=OVERLAP,
)
people = [User.objects.create_user(f"a{i}", password=None) for i in range(PEOPLE)]
for person in people:
    services.membership_set(project=project, user=person, roles=["annotator"])
items_create(
    project=project, rows=[ItemRow({"text": f"t {i}"}) for i in range(ITEMS)],
    config=CLASSIFICATION_CONFIG,
)
barrier = threading.Barrier(PEOPLE)
given, errors = {}, []

def work(person):
    mine = given.setdefault(person.username, [])
    try:
        barrier.wait()
        for _ in range(500):
            try:
                got = assignment_claim(project=project, user=person)
            except NothingLeft as empty:
                if empty.reason == "done":
                    return
                time.sleep(0.02)
                continue
            assert not got.resumed
            mine.append(got.assignment.item_id)
            done = annotation_submit(assignment=got.assignment, user=person, value="pos")
            assert done.created
        raise AssertionError("never done")
    except BaseException as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=work, args=(p,)) for p in people]
for t in threads: t.start()
for t in threads: t.join(120)
per_item = Counter(Annotation.objects.filter(project=project).values_list("item_id", flat=True))
print("RESULT " + json.dumps({
    "errors": errors,
    "repeats": sum(len(v) - len(set(v)) for v in given.values()),
    "handed_out": sum(len(v) for v in given.values()),
    "per_item": sorted(per_item.values()),
    "items": Item.objects.filter(project=project).count(),
    "states": sorted(set(Item.objects.filter(project=project).values_list("state", flat=True))),
    "active": Assignment.objects.filter(project=project, state="active").count(),
    "free": sorted(set(Item.objects.filter(project=project).values_list("free_slots", flat=True))),
}))
"""


def test_annotators_in_threads_on_sqlite_fill_every_item_exactly(tmp_path):
    env = embedded_migrated(tmp_path / "data", ACCORD_CLAIM_RATE="100000/60")

    done = run([sys.executable, str(MANAGE), "shell", "-c", SCRIPT], env, timeout=180)

    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["errors"] == []
    assert result["repeats"] == 0
    assert result["items"] == 15
    assert result["handed_out"] == 15 * 2
    assert result["per_item"] == [2] * 15
    assert result["states"] == ["gold"]
    assert result["active"] == 0
    assert result["free"] == [0]
