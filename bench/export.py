"""Export speed: gold records exported to JSONL and to Parquet with
provenance, splits and hashing on (the whole job: the snapshot read, split
assignment, the writers, hashing, storing, reconciliation, the datasheet and
the zip), in records/s and the worker process's peak memory, at 100,000
and 1,000,000 records.

For each size, on a fresh database (every item annotated twice, 10 labels,
gold on every item: consensus where the two agree, adjudicated elsewhere
and on every tenth item):

1. JSONL, first export: it assigns every item its split (80/10/10);
2. Parquet, steady state: the splits are assigned;
3. JSONL, steady state (a different filter that selects the same records,
   so it is a new request and not the identical-request short-cut);
4. the splits are cleared (and the table vacuumed), then Parquet as a first
   export.

    python bench/export.py                     # 100,000 and 1,000,000 records
    python bench/export.py --sizes 100000      # a quicker run
    python bench/export.py --no-write          # print, leave docs/benchmarks.md alone

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432;
a database accord_bench_export is dropped and created). Each export runs in
its own process, so each peak memory is its own. Writes the results into
docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module (which
# psycopg imports) while this folder is on sys.path: take it off.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench._common import (  # noqa: E402
    machine,
    migrate,
    peak_rss_mb,
    recreate_database,
    run_child,
    server_env,
    write_section,
)

DATABASE = "accord_bench_export"
LABELS = [f"label{i}" for i in range(10)]
ANNOTATORS = 20
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
OPTIONS = {"provenance": True}
TARGET_RPS = 50_000
TARGET_MB = 250
# Label Studio's export, measured on this project's reference machine; quoted,
# not re-measured here.
LABEL_STUDIO_RPS = 1_000
RUNS = (
    # (name, body, what it measures)
    ("jsonl-first", {"format": "jsonl"}, "JSONL, first export (assigns the splits)"),
    ("parquet-steady", {"format": "parquet"}, "Parquet, steady state (splits assigned)"),
    (
        "jsonl-steady",
        {"format": "jsonl", "filters": {"min_guideline_version": 1}},
        "JSONL, steady state (splits assigned)",
    ),
    (
        "parquet-first",
        {"format": "parquet", "filters": {"min_guideline_version": 1}},
        "Parquet, first export (assigns the splits)",
    ),
)


def _django() -> None:
    import django

    django.setup()


# --- child side ------------------------------------------------------------------


def child_setup(records: int) -> dict:
    _django()

    from bench.agreement_data import bench_project, fill
    from review.models import GoldRecord

    project, people = bench_project("Export bench", LABELS, ANNOTATORS)
    started = time.monotonic()
    # single=0: every item has two annotations, so every item has gold.
    annotations = fill(project, people, records, LABELS, single=0, gold="all")
    gold = GoldRecord.objects.filter(project=project)
    return {
        "project": project.pk,
        "annotations": annotations,
        "gold": gold.count(),
        "adjudicated": gold.filter(source="adjudicated").count(),
        "fill_s": time.monotonic() - started,
    }


def child_export(project_id: int, body: dict) -> dict:
    _django()
    from unittest import mock

    from django.contrib.auth import get_user_model

    from exports import job, start, tasks
    from exports.models import DatasetVersion
    from projects.jobs import run_job
    from projects.models import Project

    lead = get_user_model().objects.get(username="bench-lead")
    project = Project.objects.get(pk=project_id)
    timed = {"splits_s": 0.0}
    assign = job.splits_assign

    def splits_assign(**kwargs):
        started = time.monotonic()
        try:
            return assign(**kwargs)
        finally:
            timed["splits_s"] += time.monotonic() - started

    # The job runs here, in this process, rather than on a worker: no
    # message is sent.
    with (
        mock.patch.object(tasks.export_dataset, "delay", lambda *args: None),
        mock.patch.object(job, "splits_assign", splits_assign),
    ):
        started = start.export_start(project=project, user=lead, raw=body)
        assert started.created, "the bench asked for an export it had already made"
        begun = time.monotonic()
        run_job(started.version.job_id, job.export_run)
        seconds = time.monotonic() - begun
    version = DatasetVersion.objects.select_related("job").get(pk=started.version.pk)
    assert version.job.status == "succeeded", version.job.error
    data = [f for f in version.files if "split" in f]
    return {
        "records": version.records,
        "seconds": seconds,
        "rps": version.records / seconds,
        "splits_s": timed["splits_s"],
        "assigned": version.datasheet["splits_assigned_now"],
        "data_mb": sum(f["size"] for f in data) / 1e6,
        "peak_mb": peak_rss_mb(),
    }


def child_reset(project_id: int) -> dict:
    """Clear every split, as before the project's first split export."""
    _django()
    from django.db import connection

    from exports.models import ItemSplit
    from items.models import Item

    table = ItemSplit._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE item_id IN (SELECT id FROM {Item._meta.db_table} "  # noqa: S608
            "WHERE project_id = %s)",
            [project_id],
        )
        cursor.execute(f"VACUUM ANALYZE {table}")
    return {}


# --- parent side --------------------------------------------------------------------


def measure(records: int, script: Path, env: dict) -> dict:
    recreate_database(DATABASE)
    migrate(env)
    setup = run_child(script, ["setup", str(records)], env)
    project = str(setup["project"])
    print(
        f"{records:,}: {setup['gold']:,} gold records ({setup['adjudicated']:,} adjudicated), "
        f"{setup['annotations']:,} annotations in {setup['fill_s']:.1f} s",
        flush=True,
    )
    results = {}
    for name, body, _ in RUNS:
        if name == "parquet-first":
            run_child(script, ["reset", project], env)
        request = {**body, "splits": SPLITS, "options": OPTIONS}
        out = run_child(script, ["export", project, json.dumps(request)], env)
        assert out["records"] == setup["gold"], (name, out["records"], setup["gold"])
        results[name] = out
        print(
            f"  {name}: {out['rps']:,.0f} records/s ({out['seconds']:.1f} s, splits "
            f"{out['splits_s']:.1f} s, {out['assigned']:,} assigned), peak {out['peak_mb']:.0f} MB",
            flush=True,
        )
    return {"setup": setup, "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        kind, *rest = args.child
        out = {
            "setup": lambda: child_setup(int(rest[0])),
            "export": lambda: child_export(int(rest[0]), json.loads(rest[1])),
            "reset": lambda: child_reset(int(rest[0])),
        }[kind]()
        print(json.dumps(out))
        return
    env = server_env(DATABASE)
    # The bench's own media folder: the exported files go there, then away.
    with tempfile.TemporaryDirectory(prefix="accord-bench-export-") as media:
        env["ACCORD_MEDIA_ROOT"] = media
        script = Path(__file__)
        sizes = {n: measure(n, script, env) for n in args.sizes}
    print(json.dumps(sizes, indent=2))
    if not args.no_write:
        write_section("Export", _section(args, sizes))


def _section(args, sizes: dict) -> str:
    command = "python bench/export.py"
    if args.sizes != [100_000, 1_000_000]:
        command += " --sizes " + " ".join(str(n) for n in args.sizes)
    rows = []
    for n, result in sizes.items():
        for name, _, label in RUNS:
            out = result["runs"][name]
            jsonl = name.startswith("jsonl")
            met = ("yes" if out["rps"] >= TARGET_RPS else "**no**") if jsonl else "(no target)"
            rows.append(
                f"| {n:,} | {label} | {out['rps']:,.0f} | {out['seconds']:.1f} s "
                f"(splits {out['splits_s']:.1f} s) | {out['data_mb']:.0f} MB | "
                f"{out['peak_mb']:.0f} MB | {met} |"
            )
    peaks = {
        fmt: max(o["peak_mb"] for r in sizes.values() for k, o in r["runs"].items() if fmt in k)
        for fmt in ("jsonl", "parquet")
    }
    memory = "; ".join(
        f"{fmt.replace('jsonl', 'JSONL').replace('parquet', 'Parquet')} at most {mb:.0f} MB "
        f"({'under' if mb < TARGET_MB else '**over**'} the {TARGET_MB} MB target)"
        for fmt, mb in peaks.items()
    )
    first = next(iter(sizes.values()))["setup"]
    return f"""
`{command}` on {machine()},
PostgreSQL on the same machine; each export is a job run in its own process.

Project: every item annotated twice by {ANNOTATORS} annotators, 10 labels; gold on every item
({first["adjudicated"] / first["gold"]:.0%} adjudicated, the rest consensus). Each export writes
provenance (the gold's decision and every submitted annotation), three splits
(train/validation/test 0.8/0.1/0.1) and hashes every file; the time is the whole job: split
assignment when needed, the snapshot read, the writers, storing, reconciliation, the datasheet
and the zip. A first export assigns every item its split (once per item); later exports find
them assigned (steady state).

| records | export | records/s | time | data files | peak memory (process) | ≥ {TARGET_RPS:,}/s to JSONL |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

Peak memory over both sizes: {memory}.
Reference: Label Studio's export, about {LABEL_STUDIO_RPS:,} tasks/s (a figure quoted from
earlier measurements, not re-measured by this script).
"""


if __name__ == "__main__":
    main()
