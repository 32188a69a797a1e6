"""The role × action × project matrix, as data (SECURITY.md A1, A4, A7, A9, A10).
Over 500 lines on purpose: the whole matrix in one table, one row a route.

``collect_routes()`` walks the whole URL conf. ``MATRIX`` says, for every
route name and every HTTP method its view answers, which status each role gets:

* lead, annotator, reviewer: members of the fixture project;
* outsider: the lead of ANOTHER project (a user of another tenant);
* anonymous: nobody logged in.

tests/security/test_route_matrix.py fails when a route of the URL conf has no
entry here, when an entry names a route that no longer exists, or when the
methods listed here differ from what the view answers.

To add a route: add ONE entry to ``MATRIX`` — ``"<namespace>:<name>": {METHOD:
Case(expect, body=...)}`` — and, if its path has a new keyword (``review_id``…),
a source for it in ``KWARGS`` (and the object in ``build_world`` in
tests/security/conftest.py). ``Case.expect`` is built with ``roles(...)`` or
one of the shorthands below; ``body`` (a dict, a list, or ``(world, role) ->
body``) is what makes the request succeed for a role that is allowed: API
routes get it as JSON, pages as a form.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.page_forms import settings_form

ROLES = ("lead", "annotator", "reviewer", "outsider", "anonymous")
PROBE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Left out of the matrix on purpose, each with its reason.
IGNORED_NAMESPACES = {
    "admin": "Django admin: superusers only (test_admin_is_superuser_only.py, A5)",
}
IGNORED_ROUTES = {
    "schema": "OpenAPI schema, public by design (tests/api/test_schema_and_error_shape.py)",
    "api-docs": "Swagger UI page that renders the schema above",
}

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - tests/conftest.py's PASSWORD
NEW_PASSWORD = "a new and longer passphrase 77"  # noqa: S105 - test password


# --- routes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    kwargs: tuple[str, ...]
    # The methods the view's class answers; None for a function view, whose
    # methods come from MATRIX and are probed (test_undeclared_methods_get_405).
    methods: frozenset[str] | None

    @property
    def is_api(self) -> bool:
        return self.name.startswith("api:")

    @property
    def in_project(self) -> bool:
        """Addresses something that belongs to a project (a project id, a job id…)."""
        return any(KWARGS[k].kind == TENANT for k in self.kwargs if k in KWARGS)


def _view_methods(callback) -> frozenset[str] | None:
    cls = getattr(callback, "view_class", None)
    if cls is None:
        return None
    return frozenset(
        m.upper()
        for m in cls.http_method_names
        if m not in ("head", "options", "trace") and hasattr(cls, m)
    )


def collect_routes() -> dict[str, Route]:
    """Every route of the URL conf by name (namespace:name), includes followed."""
    out: dict[str, Route] = {}

    def walk(patterns, prefix: str, namespace: str, kwargs: tuple[str, ...]) -> None:
        for entry in patterns:
            here = tuple(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                ns = entry.namespace
                full_ns = ":".join(x for x in (namespace, ns) if x)
                if ns in IGNORED_NAMESPACES and not namespace:
                    continue
                walk(entry.url_patterns, prefix + str(entry.pattern), full_ns, kwargs + here)
            elif isinstance(entry, URLPattern):
                pattern = prefix + str(entry.pattern)
                base = entry.name or pattern
                name = f"{namespace}:{base}" if namespace else base
                if name in IGNORED_ROUTES:
                    continue
                if name in out:
                    raise AssertionError(f"two routes are named {name!r}; names must be unique")
                out[name] = Route(name, pattern, kwargs + here, _view_methods(entry.callback))

    walk(get_resolver().url_patterns, "", "", ())
    return out


# --- path keywords ----------------------------------------------------------------


TENANT = "tenant"  # picks a project, or an object of one, on its own: project_id, job_id
OBJECT = "object"  # a global id of an object under /projects/<project_id>/…
PLAIN = "plain"  # a per-project number, a token


@dataclass(frozen=True)
class Kwarg:
    source: Callable[[Any], Any]
    # TENANT: test_other_projects_user_cannot_tell_project_exists swaps it for
    # a missing id and expects the same 404. OBJECT: test_foreign_ids_under_
    # own_project_get_404 sends it under another project's id.
    kind: str = PLAIN


KWARGS: dict[str, Kwarg] = {
    "project_id": Kwarg(lambda w: w.project.pk, TENANT),
    "job_id": Kwarg(lambda w: w.extra["job"].pk, TENANT),
    "user_id": Kwarg(lambda w: w.users["annotator"].pk, OBJECT),
    "invite_id": Kwarg(lambda w: w.invite.pk, OBJECT),
    "item_id": Kwarg(lambda w: w.extra["item"].pk, OBJECT),
    # The annotator's live lease and submitted annotation: global ids that
    # pick a project on their own.
    "assignment_id": Kwarg(lambda w: w.extra["assignment"].pk, TENANT),
    "annotation_id": Kwarg(lambda w: w.extra["annotation"].pk, TENANT),
    # The reviewer's live review and the adjudicated gold record.
    "review_id": Kwarg(lambda w: w.extra["review"].pk, TENANT),
    "gold_id": Kwarg(lambda w: w.extra["gold"].pk, TENANT),
    # A succeeded dataset version (compared with itself).
    "export_id": Kwarg(lambda w: w.extra["export"].pk, TENANT),
    "other_id": Kwarg(lambda w: w.extra["export"].pk, TENANT),
    "number": Kwarg(lambda w: 1),  # guideline version numbers are per project
    "token": Kwarg(lambda w: w.invite_token),
}


def url_for(route: Route, world, **override) -> str:
    missing = [k for k in route.kwargs if k not in KWARGS and k not in override]
    if missing:
        raise AssertionError(
            f"{route.name}: add a source for {missing} to KWARGS in tests/security/route_matrix.py"
        )
    values = {k: override[k] if k in override else KWARGS[k].source(world) for k in route.kwargs}
    return reverse(route.name, kwargs=values)


# --- expectations -----------------------------------------------------------------


def roles(lead: int, annotator: int, reviewer: int, outsider: int, anonymous: int) -> dict:
    return dict(zip(ROLES, (lead, annotator, reviewer, outsider, anonymous), strict=True))


def everyone(status: int) -> dict:
    return roles(status, status, status, status, status)


def any_user(status: int, anonymous: int = 401) -> dict:
    return roles(status, status, status, status, anonymous)


def members(status: int = 200, anonymous: int = 401) -> dict:
    """Any member reads it; another project's user gets 404 (A1)."""
    return roles(status, status, status, 404, anonymous)


def lead_only(status: int, anonymous: int = 401) -> dict:
    """Leads only; members learn it is a permission matter (403), others 404."""
    return roles(status, 403, 403, 404, anonymous)


def annotator_only(status: int, anonymous: int = 401) -> dict:
    """Annotators only (the queue); other members get 403, others 404."""
    return roles(403, status, 403, 404, anonymous)


def owner_only(status: int, anonymous: int = 401) -> dict:
    """The annotator's own assignment or annotation: 404 for everyone else,
    members included, so nobody learns another's work exists (A7)."""
    return roles(404, status, 404, 404, anonymous)


# Pages (HTML, session) send anonymous visitors to the login page.
PAGE_LOGIN = 302


def page_members(status: int = 200) -> dict:
    return members(status, PAGE_LOGIN)


def page_lead_only(status: int) -> dict:
    return lead_only(status, PAGE_LOGIN)


def reviewer_only(status: int, anonymous: int = 401) -> dict:
    """Reviewers only (the review queue); other members get 403, others 404."""
    return roles(403, 403, status, 404, anonymous)


def review_owner(status: int, anonymous: int = 401) -> dict:
    """The reviewer's own review: 404 for everyone else, members included."""
    return roles(404, 404, status, 404, anonymous)


def gold_readers(status: int = 200, anonymous: int = 401) -> dict:
    """Gold is for reviewers and leads; an annotator sees it only as feedback."""
    return roles(status, 404, status, 404, anonymous)


def page_annotator_only(status: int) -> dict:
    """The annotator's workspace: anyone else, members too, gets 404 (an
    assignment or annotation of another person is not theirs to know of)."""
    return roles(404, status, 404, 404, PAGE_LOGIN)


@dataclass(frozen=True)
class Case:
    expect: dict[str, int]
    body: dict | list | Callable[[Any, str], dict | list] | None = None
    query: str | Callable[[Any], str] = ""

    def query_for(self, world) -> str:
        return self.query(world) if callable(self.query) else self.query

    def body_for(self, world, role: str) -> dict | list | None:
        return self.body(world, role) if callable(self.body) else self.body


def _credentials(world, role: str) -> dict:
    user = world.user(role) or world.users["lead"]
    return {"username": user.username, "password": PASSWORD}


def _token_body(world, role: str) -> dict:
    if role == "anonymous":
        return {"username": "nobody-at-all", "password": "wrong password"}
    return _credentials(world, role)


def _settings_form(name: str) -> dict:
    return settings_form(name=name)


def _labels_form(labels: list[tuple[str, str]]) -> dict:
    form = {"labels-TOTAL_FORMS": str(len(labels)), "labels-INITIAL_FORMS": "0"}
    for i, (key, name) in enumerate(labels):
        form |= {f"labels-{i}-key": key, f"labels-{i}-name": name}
    return form


CONFIG_V2 = {
    "multi_label": False,
    "labels": [
        {"key": "pos", "name": "Positive", "hotkey": "p"},
        {"key": "neg", "name": "Negative", "hotkey": "n"},
        {"key": "neu", "name": "Neutral", "hotkey": "u"},
        {"key": "mixed", "name": "Mixed", "hotkey": "m"},
    ],
}

MATRIX: dict[str, dict[str, Case]] = {
    # --- health: public, JSON, never a 500 (G3)
    "healthz": {"GET": Case(everyone(200))},
    "readyz": {"GET": Case(everyone(200))},
    # --- accounts pages
    "accounts:login": {
        # Logged-in users are sent on; anyone may log in with credentials.
        "GET": Case(roles(302, 302, 302, 302, 200)),
        "POST": Case(everyone(302), body=_credentials),
    },
    "accounts:logout": {"POST": Case(everyone(302))},
    "accounts:password_change": {
        "GET": Case(any_user(200, PAGE_LOGIN)),
        "POST": Case(
            everyone(302),
            body={
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        ),
    },
    "accounts:invite_accept": {
        "GET": Case(everyone(200)),
        "POST": Case(
            everyone(302),
            body=lambda w, role: {
                "username": f"invited-{role}",
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        ),
    },
    # --- API: auth
    "api:auth-token": {
        "POST": Case(any_user(201, anonymous=400), body=_token_body),
        # Revokes the token the request carries.
        "DELETE": Case(any_user(204)),
    },
    "api:me": {"GET": Case(any_user(200))},
    # --- API: projects
    "api:project-list": {
        "GET": Case(any_user(200)),
        "POST": Case(
            any_user(201),
            body={
                "name": "New",
                "task_type": "classification",
                "config": {"labels": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}]},
            },
        ),
    },
    "api:project-detail": {
        "GET": Case(members()),
        "PATCH": Case(lead_only(200), body={"name": "Renamed"}),
    },
    "api:project-archive": {"POST": Case(lead_only(200))},
    "api:project-unarchive": {"POST": Case(lead_only(200))},
    "api:project-config": {
        "GET": Case(members()),
        "POST": Case(lead_only(201), body={"config": CONFIG_V2, "note": "adds mixed"}),
    },
    "api:project-stats": {"GET": Case(members())},
    # --- API: members and invites
    "api:member-list": {
        "GET": Case(members()),
        "POST": Case(
            lead_only(201),
            body=lambda w, role: {"user": w.extra["newcomer"].pk, "roles": ["annotator"]},
        ),
    },
    "api:member-detail": {"DELETE": Case(lead_only(204))},
    "api:invite-list": {
        "GET": Case(lead_only(200)),
        "POST": Case(lead_only(201), body={"email": "new@example.org", "roles": ["reviewer"]}),
    },
    "api:invite-detail": {"DELETE": Case(lead_only(204))},
    # --- API: guidelines
    "api:guideline-list": {
        "GET": Case(members()),
        "POST": Case(lead_only(201), body={"body": "# Rules\n\nv3", "note": "third"}),
    },
    "api:guideline-draft": {
        "GET": Case(lead_only(200)),
        "PUT": Case(lead_only(200), body={"body": "work in progress"}),
    },
    "api:guideline-diff": {"GET": Case(members(), query="from=1&to=2")},
    "api:guideline-detail": {"GET": Case(members())},
    # --- API: items (leads import and manage them)
    "api:item-list": {
        "GET": Case(lead_only(200)),
        "POST": Case(lead_only(202), body=[{"text": "a new item"}]),
    },
    "api:item-detail": {"GET": Case(lead_only(200)), "DELETE": Case(lead_only(204))},
    "api:item-bulk-delete": {
        "POST": Case(lead_only(200), body=lambda w, role: {"ids": [w.extra["item"].pk]})
    },
    "api:item-bulk-archive": {
        "POST": Case(lead_only(200), body=lambda w, role: {"ids": [w.extra["item"].pk]})
    },
    "api:item-priority": {
        "POST": Case(
            lead_only(202), body=lambda w, role: {"priority": 0.5, "ids": [w.extra["item"].pk]}
        )
    },
    # --- API: the queue. Annotators claim and see only their own work; leads
    # (who are not annotators here) learn claiming is a permission matter.
    "api:claim": {"POST": Case(annotator_only(200))},
    "api:my-annotations": {"GET": Case(annotator_only(200))},
    "api:my-skips": {"GET": Case(annotator_only(200))},
    # An assignment is its annotator's alone; nobody else learns it exists (A1, A7).
    "api:assignment-detail": {"GET": Case(owner_only(200))},
    "api:assignment-submit": {"POST": Case(owner_only(201), body={"value": "pos"})},
    "api:assignment-skip": {"POST": Case(owner_only(200), body={"reason": "not my field"})},
    "api:assignment-later": {"POST": Case(owner_only(200))},
    # The world's assignment is a live lease, not a skip: its owner is told so.
    "api:assignment-unskip": {"POST": Case(owner_only(409))},
    "api:assignment-draft": {"POST": Case(owner_only(200), body={"value": "neg"})},
    # Its history: its annotator and the project's leads.
    "api:assignment-revisions": {"GET": Case(roles(200, 200, 404, 404, 401))},
    # Leads read an annotation; only its annotator changes or withdraws it (A7, A8).
    "api:annotation-detail": {
        "GET": Case(roles(200, 200, 404, 404, 401)),
        "PATCH": Case(owner_only(200), body={"value": "neg"}),
    },
    "api:annotation-undo": {"POST": Case(owner_only(200))},
    # The lead's side of the queue.
    "api:lease-list": {"GET": Case(lead_only(200))},
    "api:lease-release": {"POST": Case(lead_only(200))},
    "api:unfinishable": {"GET": Case(lead_only(200))},
    "api:item-override": {"POST": Case(lead_only(200), body={"action": "exclude"})},
    "api:item-revisions": {"GET": Case(lead_only(200))},
    # --- API: jobs (the initiator or a lead of the job's project, else 404: A4)
    "api:job-detail": {"GET": Case(roles(200, 404, 404, 404, 401))},
    "api:job-cancel": {"POST": Case(roles(200, 404, 404, 404, 401))},
    # --- pages (projects namespace; HTML, session auth)
    "projects:list": {"GET": Case(any_user(200, PAGE_LOGIN))},
    "projects:new": {
        "GET": Case(any_user(200, PAGE_LOGIN)),
        "POST": Case(
            everyone(302),
            body={
                **_settings_form("Made on the page"),
                "task_type": "classification",
                **_labels_form([("a", "A"), ("b", "B")]),
            },
        ),
    },
    "projects:detail": {"GET": Case(page_members())},
    "projects:settings": {"GET": Case(page_lead_only(200))},
    "projects:settings_update": {
        "POST": Case(page_lead_only(302), body=_settings_form("Renamed on the page"))
    },
    "projects:schema_update": {
        "POST": Case(
            page_lead_only(302),
            body=_labels_form(
                [("pos", "Positive"), ("neg", "Negative"), ("neu", "Neutral"), ("mixed", "Mixed")]
            )
            | {"note": "adds mixed"},
        )
    },
    "projects:archive": {"POST": Case(page_lead_only(302))},
    "projects:unarchive": {"POST": Case(page_lead_only(302))},
    "projects:members": {"GET": Case(page_members())},
    "projects:member_add": {
        "POST": Case(page_lead_only(302), body={"username": "newcomer", "roles": ["annotator"]})
    },
    "projects:member_roles": {
        "POST": Case(page_lead_only(302), body={"roles": ["annotator", "reviewer"]})
    },
    "projects:member_remove": {"POST": Case(page_lead_only(302))},
    "projects:invite_create": {
        "POST": Case(page_lead_only(302), body={"email": "page@example.org", "roles": ["reviewer"]})
    },
    "projects:invite_revoke": {"POST": Case(page_lead_only(302))},
    "projects:guidelines": {"GET": Case(page_members())},
    "projects:guideline_version": {"GET": Case(page_members())},
    "projects:guideline_diff": {"GET": Case(page_members(), query="from=1&to=2")},
    "projects:guideline_edit": {"GET": Case(page_lead_only(200))},
    "projects:guideline_draft_save": {"POST": Case(page_lead_only(302), body={"body": "draft"})},
    # Renders Markdown without storing it.
    "projects:guideline_preview": {"POST": Case(page_lead_only(200), body={"body": "# hi"})},
    "projects:guideline_publish": {
        "POST": Case(page_lead_only(302), body={"body": "# Rules\n\nv3", "note": "third"})
    },
    # --- pages (the annotator's workspace and history). The world's annotator
    # holds a live lease (assignment_id) and a submitted, undoable annotation
    # (annotation_id); a plain browser post ends in a redirect to the page.
    "annotation:annotate": {"GET": Case(page_annotator_only(200))},
    "annotation:annotate_next": {"POST": Case(page_annotator_only(302))},
    "annotation:annotate_submit": {"POST": Case(page_annotator_only(302), body={"value": "neg"})},
    "annotation:annotate_skip": {
        "POST": Case(page_annotator_only(302), body={"reason": "unclear"})
    },
    "annotation:annotate_later": {"POST": Case(page_annotator_only(302))},
    # The autosave that workspace.js calls: no content.
    "annotation:annotate_draft": {"POST": Case(page_annotator_only(204), body={"value": "neg"})},
    "annotation:annotate_undo": {"POST": Case(page_annotator_only(302))},
    "annotation:annotate_unskip": {"POST": Case(page_annotator_only(409))},
    "annotation:annotate_history": {"GET": Case(page_annotator_only(200))},
    "annotation:annotate_edit": {"POST": Case(page_annotator_only(302), body={"value": "neg"})},
    # --- pages (annotation namespace: items and their imports, for leads)
    "items:items": {"GET": Case(page_lead_only(200))},
    "items:items_archive": {
        "POST": Case(page_lead_only(302), body=lambda w, role: {"ids": [w.extra["item"].pk]})
    },
    "items:items_delete": {
        "POST": Case(page_lead_only(302), body=lambda w, role: {"ids": [w.extra["item"].pk]})
    },
    "items:item_import": {
        "GET": Case(page_lead_only(200)),
        # A file in the body makes send() post multipart; the lead is sent to the job.
        "POST": Case(
            page_lead_only(302),
            body=lambda w, role: {
                "file": SimpleUploadedFile("items.jsonl", b'{"text": "uploaded"}\n'),
                "format": "jsonl",
                "on_conflict": "skip",
            },
        ),
    },
    # The world's job is an import job of the project, still queued.
    "items:job": {"GET": Case(page_lead_only(200))},
    "items:job_cancel": {"POST": Case(page_lead_only(302))},
    # --- pages (the lead's side of the queue)
    "annotation:queue": {"GET": Case(page_lead_only(200))},
    "annotation:item_detail": {"GET": Case(page_lead_only(200))},
    # The world's assignment is the annotator's live lease.
    "annotation:lease_release": {"POST": Case(page_lead_only(302))},
    # The world's item is open with no annotations: it can be excluded.
    "annotation:item_override": {"POST": Case(page_lead_only(302), body={"action": "exclude"})},
    # --- API: review. The world's reviewer holds a live review of a
    # disagreement and settled another (adjudicated gold).
    "api:review-claim": {"POST": Case(reviewer_only(200))},
    "api:review-detail": {"GET": Case(review_owner(200))},
    # A disagreement is never labelled blind: 409 for its reviewer.
    "api:review-blind": {"POST": Case(review_owner(409), body={"value": "pos"})},
    "api:review-resolve": {
        "POST": Case(review_owner(201), body={"value": "neu", "reason": "neither"})
    },
    "api:review-release": {"POST": Case(review_owner(200))},
    "api:review-precedents": {"GET": Case(review_owner(200))},
    "api:review-stats": {"GET": Case(lead_only(200))},
    "api:review-lease-release": {"POST": Case(lead_only(200))},
    "api:gold-list": {"GET": Case(roles(200, 403, 200, 404, 401))},
    "api:gold-detail": {"GET": Case(gold_readers())},
    "api:gold-history": {"GET": Case(gold_readers())},
    # A lead reads gold but decides only with the reviewer role.
    "api:gold-adjudicate": {
        "POST": Case(
            roles(403, 404, 200, 404, 401), body={"value": "neu", "reason": "x", "revision": 1}
        )
    },
    "api:gold-promote": {"POST": Case(roles(200, 404, 403, 404, 401))},
    "api:feedback-list": {"GET": Case(annotator_only(200))},
    "api:feedback-seen": {"POST": Case(annotator_only(200), body={})},
    "api:agreement": {"GET": Case(lead_only(200)), "POST": Case(lead_only(202), body={})},
    # --- pages (review)
    "review:review": {"GET": Case(roles(404, 404, 200, 404, PAGE_LOGIN))},
    "review:review_next": {"POST": Case(roles(404, 404, 302, 404, PAGE_LOGIN))},
    "review:review_blind": {
        "POST": Case(roles(404, 404, 409, 404, PAGE_LOGIN), body={"value": "pos"})
    },
    # Resolving the world's last review leaves nothing to review: the page
    # says so at once (no redirect to follow).
    "review:review_resolve": {
        "POST": Case(roles(404, 404, 200, 404, PAGE_LOGIN), body={"value": "neu", "reason": "x"})
    },
    "review:review_release": {"POST": Case(roles(404, 404, 302, 404, PAGE_LOGIN))},
    "review:feedback": {"GET": Case(page_annotator_only(200))},
    "review:gold": {"GET": Case(roles(200, 403, 200, 404, PAGE_LOGIN))},
    "review:gold_detail": {"GET": Case(gold_readers(200, PAGE_LOGIN))},
    "review:gold_adjudicate": {
        "POST": Case(
            roles(403, 404, 302, 404, PAGE_LOGIN),
            body={"revision": "1", "value": "neu", "reason": "x"},
        )
    },
    "review:gold_promote": {"POST": Case(roles(302, 404, 403, 404, PAGE_LOGIN))},
    "review:review_lease_release": {"POST": Case(page_lead_only(302))},
    # --- API: exports. Leads only; a dataset version is 404 to everyone else,
    # members included. A new request (provenance on) starts a job: 202.
    "api:export-list": {
        "GET": Case(lead_only(200)),
        "POST": Case(lead_only(202), body={"format": "jsonl", "options": {"provenance": True}}),
    },
    "api:export-detail": {"GET": Case(roles(200, 404, 404, 404, 401))},
    "api:export-download": {"GET": Case(roles(200, 404, 404, 404, 401))},
    "api:export-compare": {"GET": Case(roles(200, 404, 404, 404, 401))},
    # --- pages (agreement): leads only; "Compute now" queues a report job.
    "agreement:agreement": {"GET": Case(page_lead_only(200))},
    "agreement:run": {"POST": Case(page_lead_only(302))},
    # --- pages (exports, leads only)
    "datasets:exports": {"GET": Case(page_lead_only(200))},
    "datasets:export_new": {
        "POST": Case(page_lead_only(302), body={"format": "csv", "no_splits": "on"})
    },
    "datasets:export_card": {"GET": Case(page_lead_only(200))},
    # A preview assigns and stores nothing: the page with the sizes.
    "datasets:export_preview": {
        "POST": Case(page_lead_only(200), body={"format": "csv", "no_splits": "on"})
    },
    # The world has one finished version: comparing it with itself.
    "datasets:export_compare": {
        "GET": Case(
            page_lead_only(200),
            query=lambda w: f"a={w.extra['export'].pk}&b={w.extra['export'].pk}",
        )
    },
}


# --- sending requests -------------------------------------------------------------


def send(client, route: Route, method: str, url: str, body: dict | list | None):
    """API routes get JSON, pages get a form post."""
    if method == "GET":
        return client.get(url)
    if route.is_api:
        data = json.dumps(body) if body is not None else ""
        return client.generic(method, url, data, content_type="application/json")
    if (
        method == "POST"
        and isinstance(body, dict)
        and any(hasattr(v, "read") for v in body.values())
    ):
        return client.post(url, body)  # multipart, with the file
    return client.generic(
        method,
        url,
        urlencode(body or {}, doseq=True),
        content_type="application/x-www-form-urlencoded",
    )


@functools.cache
def _project_tables() -> list[tuple[Any, str]]:
    """(model, field) for every model with a foreign key to Project."""
    from django.apps import apps

    from projects.models import Project

    return [
        (model, f.name)
        for model in sorted(apps.get_models(), key=lambda m: m._meta.label)
        for f in model._meta.get_fields()
        if f.concrete and (f.many_to_one or f.one_to_one) and f.related_model is Project
    ]


@functools.cache
def _project_rows_sql() -> str:
    """One statement that gives, per table, every row of the project as
    PostgreSQL's text of the whole row, in primary key order. (One ORM query
    per table, compiled for every call, took most of this module's time.)"""
    from projects.models import Project

    tables = [(Project, Project._meta.pk.name)] + _project_tables()
    parts = []
    for model, name in tables:
        meta = model._meta
        label = f"{meta.label}.{name}"
        column = meta.get_field(name).column
        parts.append(
            f"SELECT '{label}', (SELECT string_agg(t::text, E'\\n' ORDER BY t.{meta.pk.column}) "  # noqa: S608 - our tables
            f"FROM {meta.db_table} t WHERE t.{column} = %(project)s)"
        )
    return " UNION ALL ".join(parts)


def project_rows(project_id: int) -> str:
    """Every row of the project and of every model with a foreign key to it,
    whole, so a denied request can be shown to leave them byte-identical."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_project_rows_sql(), {"project": project_id})
        return "\n".join(f"{label}: {rows}" for label, rows in cursor.fetchall())
