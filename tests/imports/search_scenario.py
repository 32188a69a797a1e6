"""Item search, the same script on PostgreSQL and on SQLite: items made
through the services, searched through the list's selector (the API and the
page call it), changed and deleted, searched again. ``run`` returns what
each search found (external ids) and how the database answered it.
``main`` prints it for a process of its own (the embedded mode)."""

from __future__ import annotations

import json
import secrets

TEXTS = {
    "T-1": "Das Äpfel-Problem",
    "T-2": "the APPLE pie",
    "T-3": "pineapple",
    "T-4": "100% sure_thing",
    "T-5": "back\\slash",
    "T-6": "quote \"it\" and 'it'",
    "T-7": "ab",
    "T-8": "naïve café",
    "T-9": "ǅemal Straße",
    "T-10": "unrelated",
}
QUERIES = [
    "apple",
    "APPLE PIE",
    "äpfel",
    "ÄPFEL",
    "100%",
    "%",
    "e_t",
    "e t",
    "_",
    "\\sla",
    '"it"',
    "'it'",
    "ab",
    "b",
    "CAFÉ",
    "NAÏVE",
    "ǆemal",
    "STRASSE",
    "not there",
]


def _found(project, query: dict) -> list[str]:
    from items.selectors import items_filter

    return list(items_filter(project, query).order_by("pk").values_list("external_id", flat=True))


def run() -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from items import text_search
    from items.models import Item
    from items.selectors import items_filter
    from items.services import ItemRow, items_create, items_delete
    from projects import services
    from projects.services import project_config

    lead = get_user_model().objects.create_user(
        f"search-{secrets.token_hex(4)}", password=secrets.token_urlsafe()
    )
    project = services.project_create(
        user=lead,
        name="search",
        task_type="classification",
        config={"labels": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]},
    )
    config = project_config(project).config
    items_create(
        project=project,
        rows=[ItemRow({"text": text}, external_id=key) for key, text in TEXTS.items()],
        config=config,
    )
    out: dict = {"before": {q: _found(project, {"q": q}) for q in QUERIES}}
    out["external_id"] = {k: _found(project, {"external_id": k}) for k in ("T-1", "t-1", "T-")}
    # Changed text (as a re-import with on_conflict=update writes it) and a
    # deleted item: the index follows.
    Item.objects.filter(project=project, external_id="T-3").update(data={"text": "kiwi"})
    items_delete(project=project, ids=[Item.objects.get(project=project, external_id="T-2").pk])
    out["after"] = {q: _found(project, {"q": q}) for q in ("apple", "kiwi", "pie")}
    query = items_filter(project, {"q": "apple"}).order_by("pk")[:51]
    if connection.vendor == "sqlite":
        out["plan"] = query.explain()
        # A migration that rebuilds the item table on SQLite drops its
        # triggers: the next migrate puts them back and refills the index.
        with connection.cursor() as cursor:
            for name in text_search.SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER {name}")
        items_create(project=project, rows=[ItemRow({"text": "lost grape"})], config=config)
        out["without_triggers"] = len(items_filter(project, {"q": "grape"}))
        call_command("migrate", verbosity=0)
        out["migrated_again"] = len(items_filter(project, {"q": "grape"}))
        items_create(project=project, rows=[ItemRow({"text": "new grape"})], config=config)
        out["after_migrate"] = len(items_filter(project, {"q": "grape"}))
    return out


def main() -> None:
    print("RESULT " + json.dumps(run()))
