"""Keypress → next item painted in the annotator's workspace, in Chromium.

    python bench/workspace.py --baseline main          # this code and main, interleaved
    python bench/workspace.py --items 40 --rounds 5 --baseline main

An annotator signed in to the Annotate page presses a label's key, then
Enter; the figure is the time from that Enter's keydown (the event's own
timestamp) to the first frame painted after the workspace swapped in the next
item (a task queued from requestAnimationFrame after the swap runs after that
paint). Between items the script waits 150 ms, a fast human's pace, so no key
is typed ahead.

Each contender (this tree, and with --baseline the tree of that git revision,
exported with ``git archive``) gets its own PostgreSQL database (dropped and
created), migrated by its own code, and its own gunicorn (2 workers × 2
threads, gthread) on PostgreSQL and Redis (REDIS_URL, database 9 by default).
Playwright drives Debian's Chromium (/usr/bin/chromium, headless). Rounds
alternate between the contenders (baseline, this code, this code, baseline,
…) so that a machine shared with other work slows both alike; the spread of
the per-round medians is reported. Writes the result into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, machine, recreate_database, server_env, write_section  # noqa: E402

PASSWORD = "bench-workspace-password-0123"  # noqa: S105 - a throwaway bench user
FIRST_PORT = 8781
PACE_MS = 150
CHROMIUM = "/usr/bin/chromium"
MEASURE = """
window.__latencies = [];
(function () {
  var pressed = null;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.repeat) pressed = e.timeStamp;
  }, true);
  document.addEventListener("htmx:afterSwap", function (e) {
    if (pressed === null || !e.detail.target || e.detail.target.id !== "workspace") return;
    var start = pressed;
    pressed = null;
    requestAnimationFrame(function () {
      setTimeout(function () { window.__latencies.push(performance.now() - start); }, 0);
    });
  });
})();
"""

SETUP = """
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from items.services import ItemRow, items_create
from projects import services
from projects.services import project_config
User = get_user_model()
n = int(sys.argv[1])
lead = User.objects.create_user("bench-lead", password=sys.argv[2])
person = User.objects.create_user("bench-annotator", password=sys.argv[2])
project = services.project_create(
    user=lead, name="workspace bench", task_type="classification",
    config={"labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p"},
        {"key": "neg", "name": "Negative", "hotkey": "n"},
    ]},
)
services.guideline_publish(project=project, user=lead, body="# Rules\\n\\nRead the text.")
services.membership_set(project=project, user=person, roles=["annotator"])
items_create(
    project=project,
    rows=[ItemRow({"text": f"Review {i}: the kettle boils fast but leaks a little."}) for i in range(n)],
    config=project_config(project).config,
)
print(json.dumps({"project": project.pk}))
"""


class Contender:
    def __init__(self, name: str, tree: Path, database: str, port: int) -> None:
        self.name, self.tree, self.database, self.port = name, tree, database, port
        self.env = server_env(database)
        self.env["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
        self.env.pop("ACCORD_STATIC_ROOT", None)
        self.server: subprocess.Popen | None = None
        self.project = 0
        self.page = None
        self.rounds: list[list[float]] = []

    def prepare(self, n_items: int) -> None:
        recreate_database(self.database)
        run = {"env": self.env, "cwd": self.tree, "check": True}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], **run)
        out = subprocess.run(
            [sys.executable, "-c", SETUP, str(n_items), PASSWORD],
            capture_output=True,
            text=True,
            **run,
        )
        self.project = json.loads(out.stdout.strip().splitlines()[-1])["project"]

    def start(self) -> None:
        # -m from the tree: its own code comes first on sys.path.
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "accord.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "2",
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            env=self.env,
            cwd=self.tree,
            start_new_session=True,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/accounts/login/", timeout=2)  # noqa: S310
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name}: the server did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)


def export_tree(rev: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="accord-baseline-"))
    archive = subprocess.run(
        ["git", "archive", rev], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def open_workspace(browser, contender: Contender):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.add_init_script(MEASURE)
    page = context.new_page()
    base = f"http://127.0.0.1:{contender.port}"
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "bench-annotator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto(f"{base}/projects/{contender.project}/annotate/")
    page.wait_for_selector("#answer-form")
    return page


def measure_round(page, n: int) -> list[float]:
    page.evaluate("window.__latencies = []")
    for _ in range(n):
        before = page.locator("#answer-form").get_attribute("data-assignment")
        page.keyboard.press("p")
        page.keyboard.press("Enter")
        page.wait_for_selector(f'#answer-form:not([data-assignment="{before}"])')
        page.wait_for_timeout(PACE_MS)
    page.wait_for_function(f"window.__latencies.length >= {n}")
    return page.evaluate("window.__latencies")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30, help="items per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per contender")
    parser.add_argument("--baseline", default="", help="a git revision to compare with")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    contenders = [Contender("this code", ROOT, "accord_bench_workspace", FIRST_PORT)]
    baseline_rev = ""
    if args.baseline:
        baseline_rev = subprocess.run(
            ["git", "rev-parse", "--short", args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        contenders.insert(
            0,
            Contender(
                f"baseline {baseline_rev}",
                export_tree(args.baseline),
                "accord_bench_workspace_base",
                FIRST_PORT + 1,
            ),
        )
    n_items = args.items * args.rounds + 10
    try:
        for contender in contenders:
            contender.prepare(n_items)
            contender.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            for contender in contenders:
                contender.page = open_workspace(browser, contender)
                measure_round(contender.page, 3)  # warm: caches, connections
            for n in range(args.rounds):
                order = contenders if n % 2 == 0 else contenders[::-1]
                for contender in order:
                    contender.rounds.append(measure_round(contender.page, args.items))
            browser.close()
    finally:
        for contender in contenders:
            contender.stop()
            if contender.tree != ROOT:
                shutil.rmtree(contender.tree, ignore_errors=True)
    report(args, contenders, baseline_rev)


def report(args, contenders: list[Contender], baseline_rev: str) -> None:
    rows = []
    for c in contenders:
        everything = [x for r in c.rounds for x in r]
        medians = [statistics.median(r) for r in c.rounds]
        p90 = statistics.quantiles(everything, n=10)[-1]
        rows.append(
            f"| {c.name} | {len(everything)} | {statistics.median(everything):.0f} | {p90:.0f} | "
            f"{min(medians):.0f}–{max(medians):.0f} |"
        )
        print(f"{c.name}: median {statistics.median(everything):.0f} ms, rounds {medians}")
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    body = f"""Machine: {machine()}. PostgreSQL and Redis on the same machine, shared with other
work while it ran. Command: `python bench/workspace.py --items {args.items} --rounds {args.rounds}{baseline}`.

Keypress → next item painted in the annotator's workspace: Chromium (headless,
Playwright) presses a label's key and Enter, {PACE_MS} ms apart from the previous
item; the time runs from the Enter's keydown to the first frame painted after the
next item was swapped in. Each contender runs on its own gunicorn (2 workers × 2
threads) and database; rounds of {args.items} items alternate between them. In ms:

| code | items | median | p90 | per-round medians |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Target (issue 18): a median of at most 80 ms.
"""
    write_section("Annotator workspace: keypress to next item painted", body)


if __name__ == "__main__":
    main()
