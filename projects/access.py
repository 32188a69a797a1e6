"""The one place that decides who may do what in a project.

* ``ROLE_PERMISSIONS`` maps roles to django-guardian object permissions;
* ``sync_permissions`` derives the guardian rows from a membership (only the
  membership services call it, inside their transaction);
* ``access_project`` and friends fetch an object for a user or raise Http404 —
  the same answer for "does not exist" and "not yours", so nobody learns that
  another project exists;
* ``projects_for_user`` is the queryset filter for lists;
* ``ProjectPermission`` is the DRF permission class.

No view compares roles inline.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import connection
from django.db.models import Model, QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user
from rest_framework.permissions import BasePermission

from accord.errors import ProjectArchived
from accord.sql import dialect, model_columns, model_from_row

from .models import Job, Membership, Project, ProjectUserObjectPermission, Role

VIEW = "view_project"
CHANGE = "change_project"
MANAGE_MEMBERS = "manage_members"
EDIT_GUIDELINES = "edit_guidelines"
IMPORT_ITEMS = "import_items"
ANNOTATE = "annotate"
REVIEW = "review"
EXPORT = "export_data"
VIEW_STATS = "view_stats"

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.LEAD: frozenset(
        {VIEW, CHANGE, MANAGE_MEMBERS, EDIT_GUIDELINES, IMPORT_ITEMS, EXPORT, VIEW_STATS}
    ),
    Role.REVIEWER: frozenset({VIEW, REVIEW}),
    Role.ANNOTATOR: frozenset({VIEW, ANNOTATE}),
}
ALL_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())
# Reading a project that is archived is still allowed; these change it.
WRITE_PERMISSIONS = frozenset(
    {CHANGE, MANAGE_MEMBERS, EDIT_GUIDELINES, IMPORT_ITEMS, ANNOTATE, REVIEW}
)


def permissions_for_roles(roles: Iterable[str]) -> frozenset[str]:
    perms: set[str] = set()
    for role in roles:
        perms |= ROLE_PERMISSIONS[role]
    return frozenset(perms)


def _permission_rows() -> dict[str, Permission]:
    rows = Permission.objects.filter(
        content_type__app_label="projects", codename__in=ALL_PERMISSIONS
    )
    return {row.codename: row for row in rows}


def sync_permissions(*, project: Project, user, roles: Iterable[str]) -> None:
    """Make the user's guardian rows on ``project`` exactly those of ``roles``.

    Call inside the transaction that writes the membership.
    """
    wanted = permissions_for_roles(roles)
    rows = _permission_rows()
    ProjectUserObjectPermission.objects.filter(content_object=project, user=user).exclude(
        permission__codename__in=wanted
    ).delete()
    have = set(
        ProjectUserObjectPermission.objects.filter(content_object=project, user=user).values_list(
            "permission__codename", flat=True
        )
    )
    ProjectUserObjectPermission.objects.bulk_create(
        [
            ProjectUserObjectPermission(
                content_object=project, user=user, permission=rows[codename]
            )
            for codename in sorted(wanted - have)
        ]
    )


def projects_for_user(user, perm: str = VIEW) -> QuerySet[Project]:
    """Projects on which ``user`` holds ``perm`` through an object permission.

    Global and group-level model permissions never widen this (SECURITY.md
    A9), and superusers get no special path: they join projects like anyone.
    """
    if (
        user is None
        or isinstance(user, AnonymousUser)
        or not user.is_authenticated
        or not user.is_active
    ):
        return Project.objects.none()
    return get_objects_for_user(
        user,
        f"projects.{perm}",
        klass=Project,
        use_groups=False,
        with_superuser=False,
        accept_global_perms=False,
    )


def has_perm(user, project: Project, perm: str) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return perm in user_permissions(user, project)


def user_permissions(user, project: Project) -> frozenset[str]:
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    # SQL of its own: every API request asks this, and compiling the ORM
    # query cost more than running it (docs/benchmarks.md, the queue).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.codename FROM {ProjectUserObjectPermission._meta.db_table} o "  # noqa: S608
            f"JOIN {Permission._meta.db_table} p ON p.id = o.permission_id "
            "WHERE o.user_id = %s AND o.content_object_id = %s",
            [user.pk, project.pk],
        )
        return frozenset(row[0] for row in cursor.fetchall())


def _project_and_permissions(pk: int, user) -> tuple[Project | None, frozenset[str]]:
    """The project and the user's permission codenames on it, in one read."""
    if user is None or not user.is_authenticated or not user.is_active:
        return _project(pk), frozenset()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Project, 'pr')}, {_held_sql()} "  # noqa: S608
            f"FROM {Project._meta.db_table} pr WHERE pr.id = %s",
            [user.pk, pk],
        )
        row = cursor.fetchone()
    if row is None:
        return None, frozenset()
    return model_from_row(Project, row), _held(row[-1])


def _held_sql(project: str = "pr") -> str:
    """The caller's permission codenames on ``project`` as one text column
    (parameter: the user's id)."""
    joined = dialect().string_agg("p.codename", "','")
    return (
        f"(SELECT {joined} FROM {ProjectUserObjectPermission._meta.db_table} o "  # noqa: S608
        f"JOIN {Permission._meta.db_table} p ON p.id = o.permission_id "
        f"WHERE o.user_id = %s AND o.content_object_id = {project}.id)"
    )


def _held(joined: str | None) -> frozenset[str]:
    return frozenset(filter(None, (joined or "").split(",")))


def _project(pk: int) -> Project | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Project, 'pr')} FROM {Project._meta.db_table} pr "  # noqa: S608
            "WHERE pr.id = %s",
            [pk],
        )
        row = cursor.fetchone()
    return None if row is None else model_from_row(Project, row)


def access_project(user, project_id, perm: str = VIEW, *, write: bool | None = None) -> Project:
    """The project if ``user`` holds ``perm`` on it, else Http404.

    A member who lacks ``perm`` but can see the project also gets 404 here;
    use ``access_project_or_403`` where a member should learn it is a
    permission matter. Writes on an archived project raise ProjectArchived.
    """
    try:
        pk = int(project_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    project = Project.objects.filter(pk=pk).first()
    if project is None or not has_perm(user, project, perm):
        raise Http404
    if (write if write is not None else perm in WRITE_PERMISSIONS) and project.is_archived:
        raise ProjectArchived
    return project


class Forbidden(PermissionDenied):
    """The caller can see the project but may not do this (403)."""


def access_project_or_403(user, project_id, perm: str, *, write: bool | None = None) -> Project:
    """Like access_project, but a member without ``perm`` gets Forbidden (403)
    instead of 404, since they already know the project exists."""
    try:
        pk = int(project_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    # One query for both questions: may they see it, and may they do this.
    project, held = _project_and_permissions(pk, user)
    if project is None or VIEW not in held:
        raise Http404
    if perm not in held:
        raise Forbidden
    if (write if write is not None else perm in WRITE_PERMISSIONS) and project.is_archived:
        raise ProjectArchived
    return project


def membership_of(user, project: Project) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


class ProjectPermission(BasePermission):
    """DRF permission: the view declares ``project_perm`` (or a per-method
    ``project_perms`` dict) and reads the project id from ``project_id`` in
    the URL. The view still fetches through ``access_project`` so the object
    and the check can never drift apart."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        project_id = view.kwargs.get("project_id")
        if project_id is None:
            return True
        perm = getattr(view, "project_perms", {}).get(request.method) or getattr(
            view, "project_perm", VIEW
        )
        write = getattr(view, "project_write", None)
        if write is None:
            write = request.method not in ("GET", "HEAD", "OPTIONS") and perm in WRITE_PERMISSIONS
        view.project = access_project_or_403(request.user, project_id, perm, write=write)
        return True


# The models of the apps above projects whose rows the access_* helpers
# below guard (an assignment, a review, a dataset version): each app
# registers its own in its AppConfig.ready, so projects imports none of them.
_OWNED: dict[str, type[Model]] = {}


def owned_register(**models: type[Model]) -> None:
    """Make ``models`` (by name: ``Assignment=Assignment``) known to access."""
    _OWNED.update(models)


def owned(name: str) -> type[Model]:
    try:
        return _OWNED[name]
    except KeyError:
        raise ImproperlyConfigured(f"no installed app registered the model {name}") from None


def access_job(user, job_id):
    """A job for its initiator or a lead of its project; 404 for anyone else
    (SECURITY.md A4). Cancelling needs the same."""
    try:
        pk = int(job_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    job = Job.objects.filter(pk=pk).select_related("project").first()
    if job is None or user is None or not user.is_authenticated:
        raise Http404
    if job.project is None:
        if job.created_by_id != user.pk:
            raise Http404
        return job
    if not has_perm(user, job.project, VIEW):
        raise Http404
    if job.created_by_id == user.pk or has_perm(user, job.project, CHANGE):
        return job
    raise Http404


def access_assignment(user, assignment_id, *, write: bool = True):
    """The caller's own assignment in a project where they may annotate;
    Http404 for anyone else's or a project they left (never 403: an
    annotator does not learn another's assignment exists)."""
    try:
        pk = int(assignment_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if user is None or not user.is_authenticated or not 0 < pk < 2**63:
        raise Http404
    # One read for the assignment, its project with the caller's permissions
    # on it, and its item: every submit, skip and draft asks this.
    Assignment, Item = owned("Assignment"), owned("Item")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_columns(Assignment, 'a')}, {model_columns(Project, 'pr')}, "  # noqa: S608
            f"{_held_sql()}, {model_columns(Item, 'i')} FROM {Assignment._meta.db_table} a "
            f"JOIN {Project._meta.db_table} pr ON pr.id = a.project_id "
            f"JOIN {Item._meta.db_table} i ON i.id = a.item_id "
            "WHERE a.id = %s AND a.annotator_id = %s",
            [user.pk, pk, user.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404
    split = len(Assignment._meta.concrete_fields)
    after = split + len(Project._meta.concrete_fields)
    if not user.is_active or ANNOTATE not in _held(row[after]):
        raise Http404
    assignment = model_from_row(Assignment, row)
    assignment.project = model_from_row(Project, row, split)
    assignment.item = model_from_row(Item, row, after + 1)
    if write and assignment.project.is_archived:
        raise ProjectArchived
    return assignment


def access_annotation(user, annotation_id, *, write: bool = False):
    """An annotation for its annotator (while they may annotate) or a lead of
    its project; Http404 for anyone else (blind: never another annotator)."""
    try:
        pk = int(annotation_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if user is None or not user.is_authenticated:
        raise Http404
    annotation = (
        owned("Annotation")
        .objects.filter(pk=pk)
        .select_related("item", "project", "annotator")
        .first()
    )
    if annotation is None:
        raise Http404
    own = annotation.annotator_id == user.pk and has_perm(user, annotation.project, ANNOTATE)
    lead = not write and has_perm(user, annotation.project, VIEW_STATS)
    if not (own or lead):
        raise Http404
    if write and annotation.project.is_archived:
        raise ProjectArchived
    return annotation


def _pk(value) -> int:
    try:
        pk = int(value)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if not 0 < pk < 2**63:
        raise Http404
    return pk


def access_review(user, review_id, *, write: bool = False):
    """A review lease for its reviewer while they may review; Http404 for
    anyone else, so a review id says nothing to an annotator or outsider."""
    pk = _pk(review_id)
    if user is None or not user.is_authenticated:
        raise Http404
    review = owned("Review").objects.filter(pk=pk, reviewer=user).select_related("item").first()
    if review is None:
        raise Http404
    project, held = _project_and_permissions(review.project_id, user)
    if project is None or REVIEW not in held:
        raise Http404
    review.project = project
    if write and project.is_archived:
        raise ProjectArchived
    return review


def access_gold(user, gold_id, *, write: bool = False):
    """A gold record for a reviewer or lead of its project (an annotator
    sees gold only as feedback on their own work); Http404 otherwise.
    Writing (a new adjudication) needs the review permission."""
    pk = _pk(gold_id)
    if user is None or not user.is_authenticated:
        raise Http404
    gold = owned("GoldRecord").objects.filter(pk=pk).select_related("item").first()
    if gold is None:
        raise Http404
    project, held = _project_and_permissions(gold.project_id, user)
    if project is None or not held & {REVIEW, VIEW_STATS}:
        raise Http404
    if write and REVIEW not in held:
        raise PermissionDenied
    gold.project = project
    if write and project.is_archived:
        raise ProjectArchived
    return gold


def access_dataset_version(user, version_id):
    """A dataset version for a lead of its project (the export permission);
    Http404 for anyone else, members included (SECURITY.md A1, A4)."""
    pk = _pk(version_id)
    if user is None or not user.is_authenticated:
        raise Http404
    version = owned("DatasetVersion").objects.select_related("project", "job").filter(pk=pk).first()
    if version is None or EXPORT not in user_permissions(user, version.project):
        raise Http404
    return version


def access_gold_project(user, project_id) -> tuple[Project, frozenset[str]]:
    """The project and the caller's permissions, for reading its gold:
    reviewers and leads. Another member gets Forbidden (403), anyone else
    Http404 (an annotator sees gold only as feedback on their own work)."""
    project = access_project(user, project_id)
    held = user_permissions(user, project)
    if not held & {REVIEW, VIEW_STATS}:
        raise Forbidden
    return project, held
