"""Agreement report speed: the full report end to end (the database read
included) and its peak memory, on a project with 1,000,000 annotations
(500,000 items × 2 annotators, 10 labels, 5% of the items with one
annotation only); in the same run, in a separate process, the reference
library (the ``krippendorff`` package) computing α on the same data.

    python bench/agreement.py                   # 500,000 items
    python bench/agreement.py --items 50000     # a quicker run
    python bench/agreement.py --baseline REV    # also the bootstrap of REV, interleaved

The bootstrap is also timed on its own: α with its interval (--n-boot
resamples) on the report's units × annotators matrix, in CPU seconds. With
--baseline, review/agreement.py as of that git revision is timed on the
same matrix in the same process, interleaved (baseline, this code, baseline,
this code), so both are measured in the same period of the machine.

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432;
a database accord_bench_agreement is dropped and created) and the test
extra (the reference library). Writes the results into docs/benchmarks.md.
Each measurement runs in its own process, so each peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import sys
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

DATABASE = "accord_bench_agreement"
LABELS = [f"label{i}" for i in range(10)]
ANNOTATORS = 20


def _django() -> None:
    import django

    django.setup()


# --- child side ------------------------------------------------------------------


def child_setup(items: int) -> dict:
    _django()

    from bench.agreement_data import bench_project, fill

    project, people = bench_project("Agreement bench", LABELS, ANNOTATORS)
    started = time.monotonic()
    annotations = fill(project, people, items, LABELS)
    return {"project": project.pk, "annotations": annotations, "fill_s": time.monotonic() - started}


def child_report(project_id: int, n_boot: int) -> dict:
    _django()
    from django.contrib.auth import get_user_model

    from agreement.reports import ReportParams
    from agreement.services import latest_report, report_run
    from projects.jobs import job_create, run_job
    from projects.models import Job

    lead = get_user_model().objects.get(username="bench-lead")
    from projects.models import Project

    project = Project.objects.get(pk=project_id)
    job = job_create(
        project=project, kind="agreement", user=lead, params=ReportParams(n_boot=n_boot).as_dict()
    )
    started = time.monotonic()
    run_job(job.pk, report_run)
    seconds = time.monotonic() - started
    job = Job.objects.get(pk=job.pk)
    assert job.status == "succeeded", job.error
    report = latest_report(project)
    return {
        "seconds": seconds,
        "peak_mb": peak_rss_mb(),
        "alpha": report.value,
        "low": report.result["headline"]["low"],
        "high": report.result["headline"]["high"],
        "annotations": report.annotations,
    }


def child_read(project_id: int) -> dict:
    _django()
    from agreement.reliability import read_reliability
    from projects.models import Project

    started = time.monotonic()
    data = read_reliability(Project.objects.get(pk=project_id))
    return {"seconds": time.monotonic() - started, "rows": data.size, "peak_mb": peak_rss_mb()}


def _module_at(revision: str):
    """review/agreement.py as of ``revision``, loaded from a temporary file
    (it is pure numpy, so it needs nothing else of that revision)."""
    import importlib.util
    import subprocess
    import tempfile

    source = subprocess.run(
        ["git", "show", f"{revision}:review/agreement.py"],
        cwd=_HERE.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "agreement_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("agreement_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def child_bootstrap(project_id: int, n_boot: int, baseline: str) -> dict:
    _django()
    from agreement import coefficients as agreement
    from agreement.reliability import read_reliability
    from agreement.reports import _units
    from projects.models import Project

    codes = _units(read_reliability(Project.objects.get(pk=project_id))).codes
    runs = []
    contenders = [("baseline", _module_at(baseline))] if baseline else []
    contenders.append(("this code", agreement))
    for _ in range(2):
        for name, module in contenders:
            cpu, wall = time.process_time(), time.monotonic()
            interval = module.alpha_interval(codes, "nominal", n_boot=n_boot, seed=0)
            runs.append(
                {
                    "code": name,
                    "cpu_s": time.process_time() - cpu,
                    "wall_s": time.monotonic() - wall,
                    "low": interval.low,
                    "high": interval.high,
                }
            )
    return {"runs": runs, "units": int(codes.shape[0]), "baseline": baseline}


def child_reference(project_id: int) -> dict:
    """The krippendorff package on the same data: read with a plain query
    into its coders × units matrix, then alpha."""
    _django()
    import krippendorff
    import numpy as np
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.item_id, n.annotator_id, n.value #>> '{}' FROM annotation_annotation n "
            "WHERE n.project_id = %s ORDER BY n.item_id",
            [project_id],
        )
        rows = cursor.fetchall()
    read = time.monotonic() - started
    items = {i: n for n, i in enumerate(dict.fromkeys(r[0] for r in rows))}
    people = {u: n for n, u in enumerate(sorted({r[1] for r in rows}))}
    codes = {label: n for n, label in enumerate(LABELS)}
    matrix = np.full((len(people), len(items)), np.nan)
    for item, user, value in rows:
        matrix[people[user], items[item]] = codes[value]
    del rows
    alpha_started = time.monotonic()
    value = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    done = time.monotonic()
    return {
        "seconds": done - started,
        "read_s": read,
        "alpha_s": done - alpha_started,
        "alpha": float(value),
        "peak_mb": peak_rss_mb(),
    }


# --- parent side --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--baseline", default="", help="a git revision to time the bootstrap of")
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        kind, *rest = args.child
        out = {
            "setup": lambda: child_setup(int(rest[0])),
            "report": lambda: child_report(int(rest[0]), int(rest[1])),
            "read": lambda: child_read(int(rest[0])),
            "reference": lambda: child_reference(int(rest[0])),
            "bootstrap": lambda: child_bootstrap(
                int(rest[0]), int(rest[1]), rest[2] if len(rest) > 2 else ""
            ),
        }[kind]()
        print(json.dumps(out))
        return
    env = server_env(DATABASE)
    recreate_database(DATABASE)
    migrate(env)
    script = Path(__file__)
    setup = run_child(script, ["setup", str(args.items)], env)
    project = str(setup["project"])
    print(f"made {setup['annotations']:,} annotations in {setup['fill_s']:.1f} s", flush=True)
    read = run_child(script, ["read", project], env)
    report = run_child(script, ["report", project, str(args.n_boot)], env)
    reference = run_child(script, ["reference", project], env)
    boot = [project, str(args.n_boot)] + ([_revision(args.baseline)] if args.baseline else [])
    bootstrap = run_child(script, ["bootstrap", *boot], env)
    print(json.dumps({"read": read, "report": report, "reference": reference}, indent=2))
    print(json.dumps(bootstrap, indent=2))
    write_section("Agreement report", _section(args, setup, read, report, reference, bootstrap))


def _revision(name: str) -> str:
    """A revision's commit, so the results say which code was measured."""
    import subprocess

    return subprocess.run(
        ["git", "rev-parse", "--short", name],
        cwd=_HERE.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _bootstrap_rows(args, bootstrap: dict) -> str:
    rows = []
    for run in bootstrap["runs"]:
        code = run["code"]
        if code == "baseline":
            code = f"before (`review/agreement.py` of {bootstrap['baseline']}: units redrawn)"
        else:
            code = f"this code ({_revision('HEAD')}: pattern counts)"
        rows.append(
            f"| {code} | {run['cpu_s']:.2f} s | {run['wall_s']:.2f} s "
            f"| {run['low']:.4f}–{run['high']:.4f} |"
        )
    return "\n".join(rows)


def _section(args, setup: dict, read: dict, report: dict, reference: dict, bootstrap: dict) -> str:
    same = abs(report["alpha"] - reference["alpha"]) < 1e-9
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    return f"""
`python bench/agreement.py --items {args.items} --n-boot {args.n_boot}{baseline}` on {machine()},
PostgreSQL on the same machine.

Project: {args.items:,} items, {setup["annotations"]:,} annotations by {ANNOTATORS} annotators,
10 labels, 5% of the items with one annotation only, every tenth pair with adjudicated gold.

| measurement | time | peak memory (process) |
| --- | --- | --- |
| reading the reliability data (one streaming query into arrays) | {read["seconds"]:.1f} s | {read["peak_mb"]:.0f} MB |
| the full report end to end as a job: read, α with a {args.n_boot}-resample bootstrap interval, percent agreement, Fleiss, per label, per pair, against gold, per guideline version (with intervals), per week, confusion; stored | {report["seconds"]:.1f} s | {report["peak_mb"]:.0f} MB |
| reference: `krippendorff.alpha` (nominal), its own read and matrix included | {reference["seconds"]:.1f} s (read {reference["read_s"]:.1f} s, α {reference["alpha_s"]:.1f} s) | {reference["peak_mb"]:.0f} MB |

α = {report["alpha"]:.6f} (95% interval {report["low"]:.4f}–{report["high"]:.4f}); the reference
gives {reference["alpha"]:.6f}: {"equal to 1e-9" if same else "DIFFERENT"}.
The reference computes one coefficient; the report computes all of the above.

The bootstrap on its own: α with its {args.n_boot}-resample interval on the
report's matrix of {bootstrap["units"]:,} items × annotators, in the order
run (one process, interleaved when a baseline is given):

| code | CPU | wall | 95% interval |
| --- | --- | --- | --- |
{_bootstrap_rows(args, bootstrap)}
"""


if __name__ == "__main__":
    main()
