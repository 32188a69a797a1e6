"""Imports in the embedded mode (SQLite, one writer at a time): an import
writes in short transactions, so an annotator in another project keeps
working, the progress bar moves and a cancel takes effect; its rows are
invisible until the job publishes them, and a failed, cancelled or killed
import leaves nothing (issue 17, 5). Each scenario runs in an embedded-mode
process on a fresh data folder, with the import job in a worker process of
its own (tests/imports/embedded_scenario.py)."""

from __future__ import annotations

import json
import sys

from tests.ops.helpers import MANAGE, embedded_migrated, run

NOTHING_LEFT = {"visible": 0, "rows": 0, "staging": 0, "staged_updates": 0, "items_counter": 0}


def scenario(tmp_path, name: str, n: int) -> dict:
    env = embedded_migrated(
        tmp_path / "data", ACCORD_CLAIM_RATE="100000/60", ALLOWED_HOSTS="testserver"
    )
    code = f"from tests.imports.embedded_scenario import main; main({name!r}, {n})"
    done = run([sys.executable, str(MANAGE), "shell", "-c", code], env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_an_annotator_in_another_project_claims_quickly_and_the_bar_moves_while_importing(
    tmp_path,
):
    result = scenario(tmp_path, "beside", 30_000)

    assert result["status"] == "succeeded"
    assert result["errors"] == []
    claims = sorted(result["claims"])
    # The import took seconds; one transaction made every claim meanwhile
    # wait for all of it.
    assert len(claims) >= 10, claims
    assert claims[int(0.95 * (len(claims) - 1))] < 0.25, claims
    assert claims[-1] < 1.0, claims
    assert len(set(result["done_seen"])) >= 3, result["done_seen"]
    # Written a batch at a time, shown all at once.
    assert result["max_rows"] > 0
    assert result["visible_seen"] == [0]
    [api] = result["api_while_staged"]
    assert (api["listed"], api["first"]) == (0, 404)
    assert api["stats"]["items"]["total"] == 0, api["stats"]
    assert result["after"]["visible"] == result["after"]["rows"] == 30_000
    assert result["after"]["items_counter"] == 30_000


def test_a_cancel_mid_import_ends_cancelled_and_leaves_nothing(tmp_path):
    result = scenario(tmp_path, "cancelled", 30_000)

    assert result["status"] == "cancelled"
    assert result["cancel_to_end"] < 2.0
    assert result["max_rows"] > 0  # it had written rows, and removed them
    assert result["visible_seen"] == [0]
    assert result["after"] == NOTHING_LEFT


def test_a_failed_import_leaves_nothing_and_replaces_nothing(tmp_path):
    result = scenario(tmp_path, "failed", 5_000)

    assert result["status"] == "failed"
    assert result["max_rows"] > 0  # it had written rows, and removed them
    assert result["visible_seen"] == [0]
    assert result["after"] == NOTHING_LEFT
    assert result["update_status"] == "failed"
    assert result["content_unchanged"]
    assert result["after_update"] == {
        **NOTHING_LEFT,
        "visible": 50,
        "rows": 50,
        "items_counter": 50,
    }


def test_a_killed_workers_rows_stay_invisible_and_its_retry_or_the_sweep_removes_them(tmp_path):
    result = scenario(tmp_path, "killed", 20_000)

    killed = result["killed"]
    assert killed["job"] == "running"
    assert killed["rows"] >= 2000  # staged, and never visible
    assert (killed["visible"], killed["items_counter"]) == (0, 0)
    retried = result["retried"]
    assert (retried["status"], retried["attempts"], retried["created"]) == ("succeeded", 2, 20_000)
    assert retried["visible"] == retried["rows"] == retried["distinct"] == 20_000
    assert retried["staging"] == 0
    assert result["before_sweep"]["rows"] >= 2000
    assert result["before_sweep"]["visible"] == 0
    assert result["after_sweep"] == NOTHING_LEFT


def test_two_imports_into_one_project_at_once_import_every_row_once(tmp_path):
    result = scenario(tmp_path, "two_at_once", 4_000)

    assert result["statuses"] == ["succeeded", "succeeded"]
    assert result["items"] == result["rows"] == result["created"] == 6_000
    assert result["duplicates"] == 2_000
    assert result["items_counter"] == 6_000
    assert result["staging"] == 0
