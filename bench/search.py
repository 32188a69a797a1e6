"""Item search at 1,000,000 items on PostgreSQL: typical searches through the
items API and the Items page, without and with the trigram index.

    python bench/search.py                       # 1,000,000 items, 20 runs a search
    python bench/search.py --items 300000 --runs 10

A project gets its items by COPY (texts of about 250 characters: forty
words drawn from twelve, a number, one word in a hundred items, one in ten
thousand, one item with a word of its own; an external id each). Then each
search runs ``--runs`` times, in a child process with Django set up, through
the real view code (Django's test client, a lead's session and an API token,
no HTTP server: the figure is the view's, without the network):

* a common word (in nearly every item), a word in 1% of the items, a rare
  word (0.01%), a word in one item, one in none, a substring inside a word, a two-letter
  substring (too short for trigrams), and an external id (exact match);
* "before": the index dropped, the list's query as the code before the index
  wrote it (Django's ``icontains``: a scan); "after": the index built
  (its build time measured), VACUUM ANALYZE, the page and the API.

It prints and writes into docs/benchmarks.md the median and p95 per search,
and the plan of each search (EXPLAIN ANALYZE of the selector's query).
Needs PostgreSQL (BENCH_DATABASE_URL; a database accord_bench_search is
dropped and created) and Redis (REDIS_URL, sessions and throttles).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    embedded_env,
    machine,
    migrate,
    recreate_database,
    run_child,
    server_env,
    write_section,
)

DATABASE = "accord_bench_search"
WORDS = "good bad slow fast kind rude late early broken fine great poor".split()
# (label, how the search is asked, value)
INSERT = (
    "INSERT INTO annotation_item (project_id, external_id, data, meta, content_hash, state, "
    "priority, rank, overlap, free_slots, outcome, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
SEARCHES = [
    ("common word", "q", "broken"),
    ("word in 1% of items", "q", "mango"),
    ("rare word (0.01%)", "q", "zanzibar"),
    ("word in one item", "q", "quokka"),
    ("word in no item", "q", "xylophone"),
    ("substring inside a word", "q", "anziba"),
    ("two letters", "q", "ok"),
    ("external id", "external_id", "T-543210"),
]


# --- child: build -------------------------------------------------------------------


def _rows(project_id: int, n: int, now):
    import hashlib

    rng = random.Random(7)
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(40)]
        if i % 100 == 50:
            words[rng.randrange(40)] = "mango"
        if i % 10_000 == 5_000:
            words[rng.randrange(40)] = "zanzibar"
        if i == n // 2:
            words[rng.randrange(40)] = "quokka"
        data = json.dumps({"text": f"#{i} " + " ".join(words)}, separators=(",", ":"))
        digest = hashlib.sha256(data.encode()).hexdigest()
        yield (project_id, f"T-{i}", data, "{}", digest, "open", 0.0, 0.0, 2, 2, "", now)


def child_setup(n: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from items import text_search
    from items.writing import ITEM_COLUMNS
    from projects import services
    from projects.counters import counter_add

    lead = get_user_model().objects.create_user("bench-lead", password=secrets.token_urlsafe())
    project = services.project_create(
        user=lead,
        name="search bench",
        task_type="classification",
        config={"labels": [{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}]},
    )
    now = timezone.now()
    started = time.perf_counter()
    if connection.vendor == "sqlite":
        # The embedded mode's own way in (items/staging.py): the
        # search index's triggers fill the FTS5 table as rows arrive.
        with transaction.atomic(), connection.cursor() as cursor:
            batch = []
            for row in _rows(project.pk, n, now):
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(INSERT, batch)
                    batch = []
            cursor.executemany(INSERT, batch)
            counter_add(project.pk, "items:total", n)
            counter_add(project.pk, "items:open", n)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return {"project": project.pk, "load_s": time.perf_counter() - started}
    with connection.cursor() as cursor:
        # Loaded without the index, which is built (and timed) afterwards.
        cursor.execute(f"DROP INDEX {text_search.PG_INDEX}")
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY annotation_item ({ITEM_COLUMNS}) FROM STDIN") as copy:
            for row in _rows(project.pk, n, now):
                copy.write_row(row)
        counter_add(project.pk, "items:total", n)
        counter_add(project.pk, "items:open", n)
    loaded = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE annotation_item")
        cursor.execute("SELECT pg_total_relation_size('annotation_item')")
        size = cursor.fetchone()[0]
    return {"project": project.pk, "load_s": loaded, "table_mb": size / 2**20}


def child_index() -> dict:
    import django

    django.setup()
    from django.db import connection

    from items import text_search

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX {text_search.PG_INDEX} ON {text_search.ITEM} "
            f"USING gin (({text_search.PG_EXPRESSION}) gin_trgm_ops)"
        )
        built = time.perf_counter() - started
        cursor.execute("VACUUM ANALYZE annotation_item")
        cursor.execute("SELECT pg_relation_size(%s)", [text_search.PG_INDEX])
        size = cursor.fetchone()[0]
    return {"build_s": built, "index_mb": size / 2**20}


# --- child: measure -----------------------------------------------------------------


def _summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000,
    }


def _explain(query) -> str:
    from django.db import connection

    return query.explain(analyze=True) if connection.vendor == "postgresql" else query.explain()


def child_measure(project_id: int, runs: int, phase: str) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from accounts.tokens import token_issue
    from items.models import Item, ItemState
    from items.selectors import items_filter
    from projects.models import Project

    project = Project.objects.get(pk=project_id)
    lead = get_user_model().objects.get(username="bench-lead")
    page = Client(HTTP_HOST="localhost")
    page.force_login(lead)
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token_issue(user=lead)[0]}")
    out: dict = {}
    for label, key, value in SEARCHES:
        row: dict = {}
        if phase == "before":
            # The list's query as the code before the index wrote it.
            def old(key=key, value=value):
                items = Item.objects.filter(project=project).exclude(state=ItemState.ARCHIVED)
                if key == "q":
                    items = items.filter(data__text__icontains=value)
                else:
                    items = items.filter(external_id=value)
                return items.order_by("pk")[:51]

            times, found = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                found = len(list(old()))
                times.append(time.perf_counter() - started)
            row["query"] = _summary(times)
            row["found"] = found
            row["plan"] = _explain(old())
        else:
            for surface, client, url in (
                ("api", api, f"/api/v1/projects/{project_id}/items/"),
                ("page", page, f"/projects/{project_id}/items/"),
            ):
                client.get(url, {key: value})  # the first request warms the process
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    response = client.get(url, {key: value})
                    times.append(time.perf_counter() - started)
                    assert response.status_code == 200, response.content[:500]
                row[surface] = _summary(times)
                if surface == "api":
                    row["found"] = len(response.json()["results"])
            query = items_filter(project, {key: value}).order_by("pk")[:51]
            row["plan"] = _explain(query)
        out[label] = row
    connection.close()
    return out


# --- the report ---------------------------------------------------------------------


def _plan_line(plan: str) -> str:
    """The plan's access path, in a few words."""
    for marker, text in (
        ("item_text_trgm", "trigram index"),
        ("annotation_item_text VIRTUAL TABLE", "FTS5 index"),
        ("item_external_id_unique", "external id index"),
        ("annotation_item_pkey", "id order, filtered"),
        ("Seq Scan", "scan"),
        ("SCAN annotation_item", "scan"),
        ("USING INTEGER PRIMARY KEY", "id order, filtered"),
    ):
        if marker in plan:
            return text
    return "other"


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def _table(before: dict, after: dict) -> list[str]:
    lines = [
        "| search | found | before: query | after: API | after: page | plan before → after |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, key, value in SEARCHES:
        b, a = before[label], after[label]
        lines.append(
            f"| {label} (`{key}={value}`) | {a['found']} "
            f"| {b['query']['p50']:.1f} / {b['query']['p95']:.1f} "
            f"| {a['api']['p50']:.1f} / {a['api']['p95']:.1f} "
            f"| {a['page']['p50']:.1f} / {a['page']['p95']:.1f} "
            f"| {_plan_line(b['plan'])} → {_plan_line(a['plan'])} |"
        )
    return lines


def _section(args, setup, index, before, after, sqlite) -> str:
    lines = [
        f"Machine: {machine()}. PostgreSQL {args.pg_version} on the same machine. "
        f"Command: `python bench/search.py --items {args.items} --runs {args.runs}"
        + (f" --sqlite-items {args.sqlite_items}" if args.sqlite_items else "")
        + "`.",
        "",
        f"{args.items:,} items of about 250 characters in one project "
        f"({setup['table_mb']:,.0f} MB with its indexes, loaded by COPY in "
        f"{setup['load_s']:.0f} s). The trigram index took {index['build_s']:.0f} s to build "
        f"and holds {index['index_mb']:,.0f} MB. Each search ran {args.runs} times. Before: "
        "the list's query as the code before the index ran it, on the same data without the "
        "index. After: through the items API and the Items page (Django's test client, the "
        "view and its template; no network). Times in ms, median / p95; "
        "a page shows at most 50 items (51 read).",
        "",
    ]
    lines += _table(before, after)
    lines += [
        "",
        "Target (issue 18): at most 300 ms at 1,000,000 items. Two letters give no "
        "trigram: the list walks the items in id order and stops at the 51st match, "
        "fast for common letter pairs and up to a scan of the project for a pair "
        "no item holds.",
    ]
    if sqlite:
        lines += [
            "",
            f"Embedded mode (SQLite {sqlite_version()}, FTS5 trigram table), "
            f"{args.sqlite_items:,} items inserted as the embedded import does in "
            f"{sqlite['setup']['load_s']:.0f} s (triggers filling the index). Before: the old "
            "query (`LIKE`, a scan) on the same database. FTS5 hands the list every match "
            "before it keeps the first 51, so a word in most items costs the most here, where "
            "the old scan stopped at the 51st match.",
            "",
            *_table(sqlite["before"], sqlite["after"]),
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--sqlite-items",
        type=int,
        default=0,
        help="also the embedded mode (SQLite, FTS5) at this many items",
    )
    parser.add_argument("--child", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        kind, *rest = args.child
        out = {
            "setup": lambda: child_setup(int(rest[0])),
            "index": child_index,
            "measure": lambda: child_measure(int(rest[0]), int(rest[1]), rest[2]),
        }[kind]()
        print(json.dumps(out))
        return
    import psycopg

    env = server_env(DATABASE)
    recreate_database(DATABASE)
    migrate(env)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        args.pg_version = conn.info.server_version // 10000
    script = Path(__file__)
    setup = run_child(script, ["setup", str(args.items)], env)
    print(f"loaded {args.items:,} items in {setup['load_s']:.1f} s", flush=True)
    project = str(setup["project"])
    before = run_child(script, ["measure", project, str(args.runs), "before"], env)
    print(json.dumps({k: v["query"] for k, v in before.items()}, indent=1), flush=True)
    index = run_child(script, ["index"], env)
    print(f"index built in {index['build_s']:.1f} s", flush=True)
    after = run_child(script, ["measure", project, str(args.runs), "after"], env)
    for label, row in after.items():
        print(label, row["found"], row["api"], row["page"])
        print(row["plan"])
    sqlite = _sqlite(args, script) if args.sqlite_items else None
    write_section("Item search", _section(args, setup, index, before, after, sqlite))


def _sqlite(args, script: Path) -> dict:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="accord-bench-search-")) / "data"
    env = embedded_env(folder)
    migrate(env)
    setup = run_child(script, ["setup", str(args.sqlite_items)], env)
    print(f"SQLite: loaded {args.sqlite_items:,} items in {setup['load_s']:.1f} s", flush=True)
    project = str(setup["project"])
    before = run_child(script, ["measure", project, str(args.runs), "before"], env)
    after = run_child(script, ["measure", project, str(args.runs), "after"], env)
    for label, row in after.items():
        print("SQLite", label, row["found"], row["api"], row["page"], before[label]["query"])
    return {"setup": setup, "before": before, "after": after}


if __name__ == "__main__":
    main()
