"""Queue speed over HTTP: claim and submit latency at a steady rate, and
throughput at saturation, against gunicorn on PostgreSQL. (Over 500 lines:
one script a reader runs; its cases share the server and the load loop.)

    python bench/queue.py                          # 10,000 and 1,000,000 items
    python bench/queue.py --sizes 10000 --seconds 20 --saturation-seconds 20

For each size, a project (overlap 2) gets its items by COPY, and one
annotator ("ahead") is given submitted work on the first 100,000 items (all
but the last 1,000 when there are fewer) that their partners have not done
yet, with the cursor a claim would have left. Then, over HTTP with API tokens
and keep-alive connections, from a load generator pinned to its own core:

* steady: 25 submissions/s in all, from the "ahead" annotator and four fresh
  ones (5/s each), with 10% of the claims skipped instead of submitted;
  latency of claim and submit per kind of annotator (median, p95, p99);
* saturation: 50 fresh annotators claim and submit as fast as they can
  within the per-user claim limit (600 a minute);
  submissions/s, and afterwards the database is checked for items with more
  than ``overlap`` annotations (over-assignment), an annotator twice on one
  item (repeat), and any error answer.

The "fresh database" case repeats the steady load on a database whose
tables were never analysed, as ``migrate`` and a bulk load leave them before
autovacuum comes by: two more projects of 2,000 items share the tables, no
ANALYZE or VACUUM runs (autovacuum is switched off on the queue's tables
for the run, and the run checks that none was analysed), and the server
runs with ACCORD_DB_PREPARED_STATEMENTS=false, so every statement is
planned with its values (what a transaction-mode pooler gets). Saturation
is not repeated there.

Needs PostgreSQL (BENCH_DATABASE_URL; a database accord_bench_queue is
dropped and created) and Redis (REDIS_URL, for the throttles' cache; database
9 by default). Writes the results into docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named for what it measures, which shadows the standard
# library's ``queue`` (psycopg and http need it) while bench/ is first on
# sys.path: take it off before anything imports ``queue`` (hence the imports
# below this, and E402 for the file).
# ruff: noqa: E402
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import threading
import time
from collections import Counter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    machine,
    migrate,
    recreate_database,
    run_child,
    server_env,
    write_section,
)

DATABASE = "accord_bench_queue"
PORT = 8765
# gunicorn as docs/deployment.md recommends it (2 workers per core, 2 threads
# each; docker-compose.yml's default on 2 cores). BENCH_WORKERS/BENCH_THREADS
# override.
WORKERS = str(2 * (os.cpu_count() or 1))
THREADS = "2"
AHEAD = 100_000
FRESH = 4
SATURATION_ANNOTATORS = 50
# The per-user claim limit is 600 a minute (settings.ACCORD_RATES). A
# simulated annotator whose connection sits on a lightly loaded gunicorn
# worker can claim ten items a second and would be refused with 429 for the
# rest of its minute; at saturation each keeps just under the limit, as a
# client that honours it would.
MIN_CLAIM_GAP = 60 / 570
CASES = ["analysed", "fresh"]
# Claims whose rows read are counted in the fresh case, per annotator.
CLAIMS_COUNTED = 20
LABELS = ("pos", "neg")


# --- child: build the data ------------------------------------------------------------


# The fresh case's other projects, and the tables that stay unanalysed.
OTHER_PROJECTS = 2
OTHER_ITEMS = 2_000
QUEUE_TABLES = (
    "annotation_item",
    "annotation_assignment",
    "annotation_annotation",
    "annotation_annotationrevision",
    "annotation_queuecursor",
    "annotation_reopenedslot",
    "review_review",
)


def child_setup(n_items: int, fresh: bool = False) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from accounts.tokens import token_issue
    from projects import services

    User = get_user_model()
    lead = User.objects.create_user("bench-lead", password=secrets.token_urlsafe())
    if fresh:
        _keep_autovacuum_off()
    project = services.project_create(
        user=lead,
        name=f"queue bench {n_items}",
        task_type="classification",
        config={"labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}]},
    )
    names = ["ahead"] + [f"fresh{i}" for i in range(FRESH)]
    names += [f"sat{i}" for i in range(SATURATION_ANNOTATORS)]
    tokens = {}
    for name in names:
        user = User.objects.create_user(f"{name}-{project.pk}", password=secrets.token_urlsafe())
        services.membership_set(project=project, user=user, roles=["annotator"])
        tokens[name] = token_issue(user=user, name="bench")[0]
    _copy_items(project, n_items, analyse=not fresh)
    ahead_by = min(AHEAD, n_items - 1000)
    _give_work(
        project, User.objects.get(username=f"ahead-{project.pk}"), ahead_by, analyse=not fresh
    )
    if fresh:
        for n in range(OTHER_PROJECTS):
            other = services.project_create(
                user=lead,
                name=f"queue bench neighbour {n}",
                task_type="classification",
                config={"labels": [{"key": "pos", "name": "Pos"}, {"key": "neg", "name": "Neg"}]},
            )
            _copy_items(other, OTHER_ITEMS, analyse=False)
    return {"project": project.pk, "tokens": tokens, "ahead_by": ahead_by}


def _keep_autovacuum_off() -> None:
    """Autovacuum would analyse the tables a minute after the load: the fresh
    case measures before that."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in QUEUE_TABLES:
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


ROW_TABLES = (
    "annotation_item",
    "annotation_assignment",
    "annotation_queuecursor",
    "annotation_reopenedslot",
)


def child_rows(project_id: int, claims: int) -> dict:
    """Rows each claim reads in the queue's tables and their indexes (index
    entries and heap rows, PostgreSQL's per-transaction counters), for the
    fresh and the "ahead" annotator: the figure that does not move with the
    machine's load. Each claim is submitted, as an annotator would."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.queue.claim import NothingLeft, assignment_claim
    from annotation.queue.submit import annotation_submit
    from projects.models import Project

    settings.ACCORD_RATES = {scope: (10**9, 60) for scope in settings.ACCORD_RATES}
    project = Project.objects.get(pk=project_id)
    out = {}
    for name, username in (("fresh", f"fresh0-{project_id}"), ("ahead", f"ahead-{project_id}")):
        user = get_user_model().objects.get(username=username)
        rows = []
        for _ in range(claims):
            with transaction.atomic():
                before = _rows_read(connection)
                try:
                    claim = assignment_claim(project=project, user=user)
                except NothingLeft:
                    break
                rows.append(_rows_read(connection) - before)
            annotation_submit(assignment=claim.assignment, user=user, value="pos")
        out[name] = {"median": statistics.median(rows), "max": max(rows), "n": len(rows)}
    return out


def _rows_read(connection) -> int:
    tables = list(ROW_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(c.oid) "
            "+ pg_stat_get_xact_tuples_fetched(c.oid)), 0) FROM pg_class c "
            "WHERE c.oid IN (SELECT unnest(%s::regclass[])) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%s::regclass[]))",
            [tables, tables],
        )
        return int(cursor.fetchone()[0])


def child_analysed() -> list[str]:
    """The queue tables that have been analysed, by anyone, ever."""
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) "
            "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL "
            "OR analyze_count + autoanalyze_count > 0)",
            [list(QUEUE_TABLES)],
        )
        return sorted(r[0] for r in cursor.fetchall())


def _copy_items(project, n: int, *, analyse: bool = True) -> None:
    import hashlib

    from django.db import connection, transaction
    from django.utils import timezone

    from items.writing import ITEM_COLUMNS
    from projects.counters import counter_add

    rng = random.Random(11)
    words = "good bad slow fast kind rude late early broken fine great poor".split()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY annotation_item ({ITEM_COLUMNS}) FROM STDIN") as copy:
            for i in range(n):
                text = f"#{i} " + " ".join(rng.choice(words) for _ in range(40))
                data = json.dumps({"text": text}, separators=(",", ":"))
                digest = hashlib.sha256(data.encode()).hexdigest()
                copy.write_row(
                    (project.pk, None, data, "{}", digest, "open", 0.0, 0.0, 2, 2, "", now)
                )
        counter_add(project.pk, "items:total", n)
        counter_add(project.pk, "items:open", n)
    if not analyse:
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotation_item")


def _give_work(project, user, n: int, *, analyse: bool = True) -> None:
    """``user`` submitted the first ``n`` items (their partners have not):
    rows as the queue writes them, in bulk, and the cursor a claim leaves."""
    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.reconcile import cursor_position
    from projects.counters import counter_add

    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_item SET free_slots = 1 WHERE id IN ("
            "SELECT id FROM annotation_item WHERE project_id = %s ORDER BY rank, id LIMIT %s)",
            [project.pk, n],
        )
        cursor.execute(
            "INSERT INTO annotation_assignment (project_id, item_id, annotator_id, state, slot, "
            "leased_at, expires_at, config_version, guideline_version, draft, skip_reason, "
            "finished_at, created_at) "
            "SELECT project_id, id, %s, 'submitted', 1, %s, %s, 1, NULL, NULL, '', %s, %s "
            "FROM annotation_item WHERE project_id = %s AND free_slots = 1",
            [user.pk, now, now, now, now, project.pk],
        )
        cursor.execute(
            "INSERT INTO annotation_annotation (project_id, item_id, annotator_id, assignment_id, "
            "value, config_version, guideline_version, lease_to_submit_ms, active_ms, "
            "preannotation_shown, revision, created_at, updated_at) "
            "SELECT project_id, item_id, annotator_id, id, '\"pos\"', 1, NULL, 1000, NULL, false, "
            "1, %s, %s FROM annotation_assignment WHERE annotator_id = %s",
            [now, now, user.pk],
        )
        for name in ("annotations:total", f"annotator:{user.pk}:submitted"):
            counter_add(project.pk, name, n)
        counter_add(project.pk, f"annotator:{user.pk}:pending", n)
        position = cursor_position(project.pk, user.pk)
        cursor.execute(
            "INSERT INTO annotation_queuecursor (project_id, annotator_id, rank, item_id) "
            "VALUES (%s, %s, %s, %s)",
            [project.pk, user.pk, position[0], position[1]],
        )
    if not analyse:
        return
    # What autovacuum does some minutes after an import this size; done now
    # so that it does not run in the middle of the measurement instead.
    with connection.cursor() as cursor:
        for table in ("annotation_item", "annotation_assignment", "annotation_annotation"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def child_check(project_id: int) -> dict:
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT a.item_id FROM annotation_annotation a "
            "JOIN annotation_item i ON i.id = a.item_id WHERE a.project_id = %s "
            "GROUP BY a.item_id, i.overlap HAVING COUNT(*) > i.overlap) t",
            [project_id],
        )
        over = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT item_id, annotator_id FROM annotation_assignment "
            "WHERE project_id = %s GROUP BY item_id, annotator_id HAVING COUNT(*) > 1) t",
            [project_id],
        )
        repeats = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM annotation_annotation WHERE project_id = %s", [project_id]
        )
        annotations = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM annotation_item WHERE project_id = %s AND "
            "free_slots <> overlap - (SELECT COUNT(*) FROM annotation_assignment a "
            "WHERE a.item_id = annotation_item.id AND a.state IN ('active', 'submitted')) "
            "AND state = 'open'",
            [project_id],
        )
        slot_drift = cursor.fetchone()[0]
    return {
        "over_assigned": over,
        "repeats": repeats,
        "annotations": annotations,
        "slot_drift": slot_drift,
    }


# --- the load generator ------------------------------------------------------------------


class Annotator:
    """One annotator's keep-alive connection: claim, then submit or skip."""

    def __init__(self, name: str, token: str, project_id: int):
        self.name = name
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.project_id = project_id
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.rng = random.Random(hash(name) & 0xFFFF)
        self.last_headers: dict = {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        payload = json.dumps(body).encode() if body is not None else b""
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=self.headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            return 0, b"", time.perf_counter() - start
        self.last_headers = response.headers
        return response.status, data, time.perf_counter() - start

    def one(self, stats: dict, skip_share: float) -> str:
        """Claim one item and submit or skip it; record latencies."""
        status, body, took = self.request("POST", f"/api/v1/projects/{self.project_id}/claim/")
        if status == 204:
            stats["empty"] += 1
            # What a client does: "nothing left" ends this annotator's work;
            # "all leased" waits as long as the server asks.
            if self.last_headers.get("Accord-Reason") == "nothing-left":
                return "done"
            time.sleep(float(self.last_headers.get("Retry-After") or 1))
            return "empty"
        if status != 200:
            stats["errors"].append(("claim", status, body[:200]))
            return "error"
        stats["claim"].append(took)
        assignment = json.loads(body)["id"]
        if self.rng.random() < skip_share:
            status, body, took = self.request(
                "POST", f"/api/v1/assignments/{assignment}/skip/", {"reason": "bench skip"}
            )
            kind = "skip"
        else:
            status, body, took = self.request(
                "POST",
                f"/api/v1/assignments/{assignment}/submit/",
                {"value": self.rng.choice(LABELS), "active_ms": 1500},
            )
            kind = "submit"
        if status not in (200, 201):
            stats["errors"].append((kind, status, body[:200]))
            return "error"
        stats[kind].append(took)
        return kind


def new_stats() -> dict:
    return {"claim": [], "submit": [], "skip": [], "errors": [], "empty": 0}


def steady(tokens: dict, project_id: int, seconds: float, rate_each: float) -> dict:
    """Open loop: each annotator starts a claim every 1/rate_each seconds on
    a fixed schedule (late starts are not made up with a burst)."""
    people = {"ahead": [Annotator("ahead", tokens["ahead"], project_id)]}
    people["fresh"] = [
        Annotator(f"fresh{i}", tokens[f"fresh{i}"], project_id) for i in range(FRESH)
    ]
    stats = {kind: new_stats() for kind in people}

    def run(annotator: Annotator, stat: dict, offset: float) -> None:
        start = time.perf_counter() + offset
        k = 0
        while True:
            due = start + k / rate_each
            now = time.perf_counter()
            if due - start > seconds:
                return
            if due > now:
                time.sleep(due - now)
            annotator.one(stat, skip_share=0.1)
            k += 1

    threads = [
        threading.Thread(target=run, args=(a, stats[kind], n * 0.04))
        for kind, group in people.items()
        for n, a in enumerate(group)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats


def saturate(tokens: dict, project_id: int, seconds: float) -> dict:
    stats = {**new_stats(), "per_annotator": [], "last_submit": 0.0}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run(name: str) -> None:
        annotator = Annotator(name, tokens[name], project_id)
        mine = new_stats()
        due = last_submit = time.perf_counter()
        while (now := time.perf_counter()) < stop:
            if due > now:
                time.sleep(due - now)
            due = max(due, now) + MIN_CLAIM_GAP
            done = annotator.one(mine, skip_share=0.0)
            if done == "submit":
                last_submit = time.perf_counter()
            elif done == "done":
                break
        with lock:
            for key in ("claim", "submit", "skip", "errors"):
                stats[key].extend(mine[key])
            stats["empty"] += mine["empty"]
            stats["per_annotator"].append(len(mine["claim"]))
            stats["last_submit"] = max(stats["last_submit"], last_submit)

    threads = [
        threading.Thread(target=run, args=(f"sat{i}",)) for i in range(SATURATION_ANNOTATORS)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Up to the last submission: a small project can run out of work before
    # the end, and its annotators then wait out "all leased" answers.
    stats["seconds"] = stats["last_submit"] - start
    return stats


def child_load(args: argparse.Namespace) -> dict:
    # Pinned to its own core so the generator does not steal the server's.
    os.sched_setaffinity(0, {os.cpu_count() - 1})
    setup = json.loads(Path(args.setup).read_text())
    tokens, project_id = setup["tokens"], setup["project"]
    if args.mode == "steady":
        stats = steady(tokens, project_id, args.seconds, rate_each=5.0)
        return {kind: summarise(s, args.seconds) for kind, s in stats.items()}
    stats = saturate(tokens, project_id, args.seconds)
    summary = summarise(stats, stats["seconds"])
    # Claims per annotator: how unevenly the server's workers served them.
    summary["seconds"] = stats["seconds"]
    summary["claims_per_annotator"] = {
        "min": min(stats["per_annotator"]),
        "max": max(stats["per_annotator"]),
    }
    return summary


def percentiles(samples: list[float]) -> dict:
    if len(samples) < 2:
        return {"n": len(samples)}
    ms = sorted(s * 1000 for s in samples)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50": statistics.median(ms), "p95": cuts[94], "p99": cuts[98]}


def summarise(stats: dict, seconds: float) -> dict:
    return {
        "claim": percentiles(stats["claim"]),
        "submit": percentiles(stats["submit"]),
        "skip": percentiles(stats["skip"]),
        "submits_per_s": len(stats["submit"]) / seconds,
        "errors": len(stats["errors"]),
        "error_samples": [list(map(str, e)) for e in stats["errors"][:5]],
        # What failed, by request and status ("submit 409": 3, …).
        "error_kinds": dict(Counter(f"{kind} {status}" for kind, status, _ in stats["errors"])),
        "empty": stats["empty"],
    }


# --- parent ----------------------------------------------------------------------------------


def start_server(env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "accord.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            os.environ.get("BENCH_WORKERS", WORKERS),
            "--threads",
            os.environ.get("BENCH_THREADS", THREADS),
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not become ready")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def clear_throttles(env: dict) -> None:
    """A new database gives its users the ids of the last size's users: their
    throttle counters in Redis must go with the old database."""
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    for key in client.scan_iter("*accord:rate:*"):
        client.delete(key)


def prepare(n: int, env: dict, *, fresh: bool = False) -> tuple[dict, Path]:
    """A new database with the size's data; the setup and the file it is in."""
    clear_throttles(env)
    recreate_database(DATABASE)
    migrate(env)
    started = time.perf_counter()
    extra = ["--fresh"] if fresh else []
    setup = run_child(Path(__file__), ["setup", "--items", str(n), *extra], env)
    label = ", fresh" if fresh else ""
    print(f"{n:,} items{label}: data ready in {time.perf_counter() - started:.0f} s", flush=True)
    name = "fresh-" if fresh else ""
    setup_file = Path(f"/tmp/accord-bench-queue-{name}{n}.json")  # noqa: S108 - scratch
    setup_file.write_text(json.dumps(setup))
    return setup, setup_file


def load(setup_file: Path, mode: str, seconds: float, env: dict) -> dict:
    return run_child(
        Path(__file__),
        ["load", "--mode", mode, "--setup", str(setup_file), "--seconds", str(seconds)],
        env,
    )


def run_fresh(n: int, args: argparse.Namespace, env: dict) -> dict:
    """The steady load on a database never analysed, statements planned with
    their values."""
    env = {**env, "ACCORD_DB_PREPARED_STATEMENTS": "false"}
    setup, setup_file = prepare(n, env, fresh=True)
    server = start_server(env)
    try:
        steady_result = load(setup_file, "steady", args.seconds, env)
    finally:
        stop_server(server)
    rows = run_child(Path(__file__), ["rows", "--project", str(setup["project"])], env)
    analysed = run_child(Path(__file__), ["analysed"], env)
    print(f"  fresh: {json.dumps(steady_result)}; rows: {rows}; analysed: {analysed}", flush=True)
    return {
        "items": n,
        "ahead_by": setup["ahead_by"],
        "steady": steady_result,
        "rows": rows,
        "analysed": analysed,
    }


def run_size(n: int, args: argparse.Namespace, env: dict) -> dict:
    setup, setup_file = prepare(n, env)
    server = start_server(env)
    try:
        steady_result = load(setup_file, "steady", args.seconds, env)
        print(f"  steady: {json.dumps(steady_result)}", flush=True)
        saturation = load(setup_file, "saturation", args.saturation_seconds, env)
        print(f"  saturation: {json.dumps(saturation)}", flush=True)
    finally:
        stop_server(server)
    check = run_child(Path(__file__), ["check", "--project", str(setup["project"])], env)
    print(f"  check: {json.dumps(check)}", flush=True)
    return {
        "items": n,
        "ahead_by": setup["ahead_by"],
        "steady": steady_result,
        "saturation": saturation,
        "check": check,
    }


def fmt(p: dict) -> str:
    if "p50" not in p:
        return "n/a"
    return f"{p['p50']:.1f} / {p['p95']:.1f} / {p['p99']:.1f}"


def steady_rows(results: list[dict]) -> list[str]:
    rows = []
    for r in results:
        for kind in ("fresh", "ahead"):
            s = r["steady"][kind]
            who = "fresh" if kind == "fresh" else f"{r['ahead_by']:,} items ahead"
            rows.append(
                f"| {r['items']:,} | {who} | {fmt(s['claim'])} | {fmt(s['submit'])} | "
                f"{s['claim']['n']} | {s['errors']} |"
            )
    return rows


def report_fresh(results: list[dict], args: argparse.Namespace) -> str:
    analysed = sorted({t for r in results for t in r["analysed"]}) or ["none"]
    command = "python bench/queue.py --cases fresh"
    if args.sizes != [10_000, 1_000_000]:
        command += f" --sizes {' '.join(map(str, args.sizes))}"
    return f"""
Machine: {machine()}. The same server and load generator as "Task queue".
Command: `{command}` (steady {args.seconds} s per size).

The steady load of "Task queue" on a database whose tables were never analysed, as `migrate` and
a bulk load leave them before autovacuum comes by: {OTHER_PROJECTS} more projects of
{OTHER_ITEMS:,} items beside the measured one, no ANALYZE or VACUUM (autovacuum off on the
queue's tables for the run), and the server with ACCORD_DB_PREPARED_STATEMENTS=false, so every
statement is planned with its values (what a transaction-mode pooler gets). Queue tables analysed
by the end of the run: {", ".join(analysed)}. Latency in ms, median / p95 / p99:

| items | annotator | claim | submit | claims | errors |
| ---: | --- | ---: | ---: | ---: | ---: |
{chr(10).join(steady_rows(results))}

Rows one claim reads in the queue's tables and their indexes (PostgreSQL's per-transaction
counters), {CLAIMS_COUNTED} claims each after the load, the tables still unanalysed: the figure the
machine's load does not move. Median / most:

| items | fresh annotator | annotator ahead |
| ---: | ---: | ---: |
{chr(10).join(rows_rows(results))}

Target (issue 17): claim p95 ≤ 25 ms at 10,000 and 1,000,000 items before any ANALYZE.
"""


def rows_rows(results: list[dict]) -> list[str]:
    return [
        f"| {r['items']:,} | {r['rows']['fresh']['median']:.0f} / {r['rows']['fresh']['max']} | "
        f"{r['rows']['ahead']['median']:.0f} / {r['rows']['ahead']['max']} |"
        for r in results
    ]


def report(results: list[dict], args: argparse.Namespace) -> str:
    rows = steady_rows(results)
    sat = []
    for r in results:
        s, c = r["saturation"], r["check"]
        sat.append(
            f"| {r['items']:,} | {s['submits_per_s']:.0f} | {fmt(s['claim'])} | "
            f"{fmt(s['submit'])} | {c['over_assigned']} | {c['repeats']} | {s['errors']} | "
            f"{c['slot_drift']} |"
        )
    spread = "; ".join(
        f"{r['items']:,} items: {r['saturation']['claims_per_annotator']['min']}"
        f"–{r['saturation']['claims_per_annotator']['max']}"
        for r in results
    )
    active = "; ".join(
        f"{r['items']:,} items: {r['saturation']['seconds']:.0f} s"
        + (", when the queue ran out" if r["saturation"]["empty"] else "")
        for r in results
    )
    command = "python bench/queue.py"
    if args.sizes != [10_000, 1_000_000]:
        command += f" --sizes {' '.join(map(str, args.sizes))}"
    command += " --cases analysed"
    return f"""
Machine: {machine()}. PostgreSQL and Redis on the same machine. gunicorn with {os.environ.get("BENCH_WORKERS", WORKERS)} workers ×
{os.environ.get("BENCH_THREADS", THREADS)} threads (gthread);
the load generator pinned to core {os.cpu_count() - 1} (the server, PostgreSQL and Redis are not pinned).
Command: `{command}` (steady {args.seconds} s, saturation {args.saturation_seconds} s per size).

Steady load: 25 submissions/s in all (five annotators at 5/s on a fixed schedule, 10% of claims
skipped instead), over HTTP with API tokens and keep-alive. One annotator has already submitted
the first items (all but the last 1,000 when there are fewer than 100,000) that the others have not
reached. Latency in ms, median / p95 / p99:

| items | annotator | claim | submit | claims | errors |
| ---: | --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Saturation: {SATURATION_ANNOTATORS} annotators claiming and submitting as fast as they can, each
under the per-user claim limit (600 a minute; one claim every {MIN_CLAIM_GAP * 1000:.0f} ms at most);
then the database is checked: items with more annotations than their overlap, an annotator twice
on one item, items whose free slots disagree with their assignments. The rate is over the time
to the last submission ({active}). Claims per annotator in the run, fewest to most: {spread}.

| items | submissions/s | claim ms (p50 / p95 / p99) | submit ms (p50 / p95 / p99) | over-assigned | repeats | errors | slot drift |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(sat)}

Targets (issue: queue): p95 under 25 ms everywhere and no case more than 1.5x the best; at least
100 submissions/s at saturation with 0 over-assignments, 0 repeats, 0 errors. For comparison,
Label Studio managed about 9 submissions/s with 8 threads on this kind of machine.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--saturation-seconds", type=float, default=60)
    parser.add_argument(
        "--cases", nargs="+", choices=CASES, default=CASES, help="analysed tables, fresh database"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the docs")
    args = parser.parse_args()
    # The throttles stay at their defaults: they are part of the product.
    env = server_env(DATABASE)
    results, fresh = [], []
    for n in args.sizes:
        if "analysed" in args.cases:
            results.append(run_size(n, args, env))
        if "fresh" in args.cases:
            fresh.append(run_fresh(n, args, env))
    sections = []
    if results:
        sections.append(("Task queue", report(results, args)))
    if fresh:
        sections.append(("Task queue on a fresh database", report_fresh(fresh, args)))
    for title, body in sections:
        print(f"## {title}\n{body}")
        if not args.no_write:
            write_section(title, body)


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["setup", "load", "check", "analysed", "rows"])
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--items", type=int)
    parser.add_argument("--project", type=int)
    parser.add_argument("--mode", choices=["steady", "saturation"])
    parser.add_argument("--setup")
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args(argv)
    if args.what == "setup":
        print(json.dumps(child_setup(args.items, fresh=args.fresh)))
    elif args.what == "rows":
        print(json.dumps(child_rows(args.project, CLAIMS_COUNTED)))
    elif args.what == "analysed":
        print(json.dumps(child_analysed()))
    elif args.what == "load":
        print(json.dumps(child_load(args)))
    else:
        print(json.dumps(child_check(args.project)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
