"""Item search (``q``: the text contains, ignoring case; ``external_id``: an
exact match) finds the same items on PostgreSQL and on SQLite, follows
changed and deleted items, and is answered from an index: pg_trgm's GIN
index on PostgreSQL, an FTS5 table on SQLite."""

from __future__ import annotations

import json
import sys

import pytest
from django.db import connection

from tests.imports import search_scenario
from tests.ops.helpers import MANAGE, embedded_migrated, run

EXPECTED = {
    "apple": ["T-2", "T-3"],
    "APPLE PIE": ["T-2"],
    "äpfel": ["T-1"],
    "ÄPFEL": ["T-1"],
    "100%": ["T-4"],
    "%": ["T-4"],
    "e_t": ["T-4"],
    "e t": [],
    "_": ["T-4"],
    "\\sla": ["T-5"],
    '"it"': ["T-6"],
    "'it'": ["T-6"],
    "ab": ["T-7"],
    "b": ["T-1", "T-5", "T-7"],
    "CAFÉ": ["T-8"],
    "NAÏVE": ["T-8"],
    "ǆemal": ["T-9"],
    "STRASSE": [],
    "not there": [],
}


@pytest.fixture(scope="module")
def on_sqlite(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("embedded") / "data"
    env = embedded_migrated(folder)
    script = (
        "from django.db import connection; assert connection.vendor == 'sqlite'; "
        "from tests.imports.search_scenario import main; main()"
    )
    done = run([sys.executable, str(MANAGE), "shell", "-c", script], env, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.django_db
def test_search_finds_substrings_ignoring_case_the_same_on_both_databases(on_sqlite):
    on_postgres = search_scenario.run()
    assert on_postgres["before"] == EXPECTED
    assert on_sqlite["before"] == EXPECTED
    assert (
        on_postgres["external_id"]
        == on_sqlite["external_id"]
        == {
            "T-1": ["T-1"],
            "t-1": [],
            "T-": [],
        }
    )
    after = {"apple": [], "kiwi": ["T-3"], "pie": []}
    assert on_postgres["after"] == on_sqlite["after"] == after


def test_sqlite_answers_from_its_fts5_index_and_keeps_it_through_migrations(on_sqlite):
    assert "annotation_item_text VIRTUAL TABLE INDEX" in on_sqlite["plan"], on_sqlite["plan"]
    # Items added while the triggers were gone are found once migrate has
    # put them back, and so are those added after.
    assert on_sqlite["without_triggers"] == 0
    assert on_sqlite["migrated_again"] == 1
    assert on_sqlite["after_migrate"] == 2


@pytest.mark.django_db
def test_postgresql_answers_a_rare_word_from_the_trigram_index(project):
    from items.selectors import items_filter
    from items.services import ItemRow, items_create
    from projects.services import project_config

    words = ["good", "bad", "slow", "fast", "kind", "late", "early", "fine"]
    rows = [
        ItemRow({"text": f"{i} " + " ".join(words[(i * 7 + k) % 8] for k in range(12))})
        for i in range(3000)
    ]
    rows.append(ItemRow({"text": "one zanzibar among them"}))
    items_create(project=project, rows=rows, config=project_config(project).config)
    with connection.cursor() as cursor:
        # New rows wait in the GIN index's pending list until (auto)vacuum
        # merges them, and the planner prices reading that list in full.
        cursor.execute("SELECT gin_clean_pending_list('item_text_trgm')")
        cursor.execute("ANALYZE annotation_item")
        # A table this small reads fastest whole: forbid that, and the
        # planner must choose between the project's index (every item of
        # the project) and the trigram index (the one that matches).
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = items_filter(project, {"q": "Zanzibar"}).order_by("pk")[:51].explain()
    assert "item_text_trgm" in plan, plan
    assert [i.data["text"] for i in items_filter(project, {"q": "Zanzibar"})] == [
        "one zanzibar among them"
    ]


@pytest.mark.django_db
def test_a_search_repeated_on_one_connection_keeps_its_plan(project, lead, api_for):
    """With server-side binding a statement run five times is prepared: the
    search's pattern is part of the statement, so a prepared plan is never
    one that ignores the index."""
    from items.selectors import items_filter

    queries = set()
    for q in ("apple", "pear", "plum"):
        sql, params = items_filter(project, {"q": q}).query.sql_with_params()
        queries.add(sql)
        assert q.upper() not in " ".join(map(str, params)).upper()
    assert len(queries) == 3
    client = api_for(lead)
    for _ in range(8):
        response = client.get(f"/api/v1/projects/{project.pk}/items/", {"q": "apple"})
        assert response.status_code == 200


@pytest.mark.django_db
def test_a_nul_character_in_the_search_is_a_400(project, lead, api_for):
    response = api_for(lead).get(f"/api/v1/projects/{project.pk}/items/", {"q": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "q", "reason": "must not contain a NUL character"}
    ]
