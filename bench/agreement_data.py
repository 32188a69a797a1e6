"""Reliability data made in bulk with SQL, for the agreement benchmark and
the test that kills a worker mid-report: items, submitted assignments,
annotations and some adjudicated gold, in four statements on PostgreSQL.

Deterministic for a seed: the first annotator's label is a hash of the
item, the second copies it for about ``agree`` of the items and else
takes another hash; ``single`` of the items (in percent) have one
annotation only. Guideline versions 1-3 by item, with some items made
under two versions (the "mixed" bucket); submissions spread over eight
weeks; every tenth item with two annotations has adjudicated gold.

With ``gold="all"`` (the export benchmark) every item with two annotations
gets gold instead: consensus (the shared value) where the two agree,
adjudicated by the first person (the first annotation's value, with a
reason) where they differ and on every tenth item.
"""

from __future__ import annotations

from django.db import connection

from annotation.models import Annotation, Assignment
from annotation.reconcile import counters_reconcile
from items.models import Item
from projects.models import Project
from review.models import GoldRecord

ITEMS_SQL = f"""
INSERT INTO {Item._meta.db_table} (project_id, external_id, data, meta, content_hash, state,
    priority, rank, overlap, free_slots, outcome, compared_at, created_at)
SELECT %(p)s, NULL, jsonb_build_object('text', 'generated item ' || g), '{{}}'::jsonb,
    md5(%(seed)s || ':' || g) || md5(g || ':' || %(seed)s),
    CASE WHEN g %% 100 < %(single)s THEN 'open' ELSE 'review' END, 0, 0, 2,
    CASE WHEN g %% 100 < %(single)s THEN 1 ELSE 0 END,
    CASE WHEN g %% 100 < %(single)s THEN '' ELSE 'disagreed' END,
    CASE WHEN g %% 100 < %(single)s THEN NULL ELSE now() END, now()
FROM generate_series(1, %(n)s) g
"""  # noqa: S608 - our tables

ASSIGNMENTS_SQL = f"""
INSERT INTO {Assignment._meta.db_table} (project_id, item_id, annotator_id, state, slot,
    leased_at, expires_at, config_version, guideline_version, skip_reason, finished_at, created_at)
SELECT i.project_id, i.id, (%(people)s::bigint[])[((i.id + s) %% %(k)s) + 1], 'submitted', s,
    now(), now(), 1, 1, '', now(), now()
FROM {Item._meta.db_table} i CROSS JOIN generate_series(1, 2) s
WHERE i.project_id = %(p)s AND (s = 1 OR i.free_slots = 0)
    AND NOT EXISTS (SELECT 1 FROM {Assignment._meta.db_table} x WHERE x.item_id = i.id)
"""  # noqa: S608

ANNOTATIONS_SQL = f"""
INSERT INTO {Annotation._meta.db_table} (project_id, item_id, annotator_id, assignment_id, value,
    config_version, guideline_version, lease_to_submit_ms, active_ms, preannotation_shown,
    revision, created_at, updated_at)
SELECT a.project_id, a.item_id, a.annotator_id, a.id,
    to_jsonb((%(labels)s::text[])[(CASE
        WHEN a.slot = 1 OR abs(hashtext(%(seed)s || 'agree' || a.item_id)) %% 100 < %(agree)s
        THEN abs(hashtext(%(seed)s || ':' || a.item_id))
        ELSE abs(hashtext(%(seed)s || ':' || a.item_id || ':2')) END) %% %(nl)s + 1]),
    1,
    1 + (a.item_id %% 3) + CASE WHEN a.slot = 2 AND a.item_id %% 17 = 0 THEN 1 ELSE 0 END,
    1000, 1000, false, 1,
    now() - ((a.item_id %% 56) || ' days')::interval - (a.slot || ' minutes')::interval, now()
FROM {Assignment._meta.db_table} a WHERE a.project_id = %(p)s
    AND NOT EXISTS (SELECT 1 FROM {Annotation._meta.db_table} x WHERE x.assignment_id = a.id)
"""  # noqa: S608

GOLD_SQL = f"""
INSERT INTO {GoldRecord._meta.db_table} (project_id, item_id, revision, value, excluded, source,
    annotation_ids, reviewer_id, reason, reason_code, config_version, guideline_version,
    min_guideline_version, dispute, decided_at)
SELECT n.project_id, n.item_id, 1, n.value, false, 'adjudicated', '[]'::jsonb, NULL, '', '',
    1, 1, 1, '', now()
FROM {Annotation._meta.db_table} n JOIN {Item._meta.db_table} i ON i.id = n.item_id
JOIN {Assignment._meta.db_table} a ON a.id = n.assignment_id
WHERE n.project_id = %(p)s AND a.slot = 1 AND i.free_slots = 0 AND n.item_id %% 10 = 0
    AND NOT EXISTS (SELECT 1 FROM {GoldRecord._meta.db_table} x WHERE x.item_id = n.item_id)
"""  # noqa: S608

# Gold for every item with two annotations (gold="all"); see the docstring.
GOLD_ALL_SQL = f"""
INSERT INTO {GoldRecord._meta.db_table} (project_id, item_id, revision, value, excluded, source,
    annotation_ids, reviewer_id, reason, reason_code, config_version, guideline_version,
    min_guideline_version, dispute, decided_at)
SELECT g.project_id, g.item_id, 1, g.value, false, g.source, g.ids,
    CASE WHEN g.source = 'adjudicated' THEN %(reviewer)s END,
    CASE WHEN g.source = 'adjudicated' THEN 'the annotators disagreed' ELSE '' END,
    '', 1, g.guideline_version, g.min_guideline_version, '', g.decided_at
FROM (
    SELECT n1.project_id, n1.item_id, n1.value,
        CASE WHEN n1.value = n2.value AND n1.item_id %% 10 <> 0 THEN 'consensus'
            ELSE 'adjudicated' END AS source,
        jsonb_build_array(n1.id, n2.id) AS ids,
        greatest(n1.guideline_version, n2.guideline_version) AS guideline_version,
        least(n1.guideline_version, n2.guideline_version) AS min_guideline_version,
        greatest(n1.created_at, n2.created_at) + interval '1 hour' AS decided_at
    FROM {Annotation._meta.db_table} n1
    JOIN {Assignment._meta.db_table} a1 ON a1.id = n1.assignment_id AND a1.slot = 1
    JOIN {Assignment._meta.db_table} a2 ON a2.item_id = n1.item_id AND a2.slot = 2
    JOIN {Annotation._meta.db_table} n2 ON n2.assignment_id = a2.id
    WHERE n1.project_id = %(p)s
        AND NOT EXISTS (SELECT 1 FROM {GoldRecord._meta.db_table} x WHERE x.item_id = n1.item_id)
) g
"""  # noqa: S608


def fill(
    project: Project,
    people: list[int],
    n_items: int,
    labels: list[str],
    *,
    single: int = 5,
    agree: int = 70,
    seed: int = 1,
    gold: str = "adjudicated",
) -> int:
    """Add ``n_items`` items with their annotations to ``project``;
    returns how many annotations were made. PostgreSQL only. ``gold`` is
    "adjudicated" (every tenth pair) or "all" (every pair; see above)."""
    if gold not in ("adjudicated", "all"):
        raise ValueError(f"gold must be 'adjudicated' or 'all', not {gold!r}")
    params = {
        "p": project.pk,
        "n": n_items,
        "seed": str(seed),
        "single": single,
        "agree": agree,
        "people": people,
        "k": len(people),
        "labels": labels,
        "nl": len(labels),
        "reviewer": people[0],
    }
    gold_sql = GOLD_SQL if gold == "adjudicated" else GOLD_ALL_SQL
    with connection.cursor() as cursor:
        for sql in (ITEMS_SQL, ASSIGNMENTS_SQL, ANNOTATIONS_SQL, gold_sql):
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")
    counters_reconcile(project)
    return Annotation.objects.filter(project=project).count()


def bench_project(name: str, labels: list[str], annotators: int) -> tuple[Project, list[int]]:
    """A classification project with a lead (``bench-lead``) and
    ``annotators`` annotators, made through the services; returns the
    project and the annotators' ids, for ``fill``."""
    from django.contrib.auth import get_user_model

    from projects import services

    make = get_user_model().objects.create_user
    lead = make(username="bench-lead")
    config = {"multi_label": False, "labels": [{"key": k, "name": k.title()} for k in labels]}
    project = services.project_create(
        user=lead, name=name, task_type="classification", config=config
    )
    people = [make(username=f"bench-annotator-{i}") for i in range(annotators)]
    for person in people:
        services.membership_set(project=project, user=person, roles=["annotator"])
    return project, [p.pk for p in people]
