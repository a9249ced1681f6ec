"""Who may see and do what. Views, the admin, exports and imports reach evaluations
only through `Evaluation.objects.for_user()` and these helpers.

Seeing is decided by relations (staff of a unit or of its 主管部门, reviewer of its
district, or 管理员); doing is decided by the role group on top of that. A view
answers 404 for what the user may not see and 403 for what they may see but not do.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Evaluation, EvaluationQuerySet, ExportJob, Project, Unit
from .roles import (
    ROLE_ADMIN,
    ROLE_PARENT_REVIEWER,
    ROLE_REVIEWER,
    ROLE_STAFF,
    roles_of,
    scope_of,
)

# The longest username an account can have (auth.User.username's column).


def get_evaluation_for_user(
    user, evaluation_id: int, queryset: EvaluationQuerySet | None = None
) -> Evaluation:
    queryset = Evaluation.objects.all() if queryset is None else queryset
    try:
        return queryset.for_user(user).get(pk=evaluation_id)
    except Evaluation.DoesNotExist:
        raise Http404("没有这张自评表，或您无权查看。") from None


def is_unit_staff(user, evaluation: Evaluation) -> bool:
    return evaluation.unit_id in scope_of(user).unit_ids


def is_district_reviewer(user, evaluation: Evaluation) -> bool:
    return evaluation.unit.district_id in scope_of(user).district_ids


def is_parent_member(user, evaluation: Evaluation) -> bool:
    """A member of the unit's 主管部门 (its Unit.staff)."""
    parent_id = evaluation.unit.parent_id
    return parent_id is not None and parent_id in scope_of(user).unit_ids


def is_admin(user) -> bool:
    return ROLE_ADMIN in roles_of(user)


def can_fill(user, evaluation: Evaluation) -> bool:
    """Fill in and submit: a 填报人 of the unit itself (not of its 主管部门)."""
    return ROLE_STAFF in roles_of(user) and is_unit_staff(user, evaluation)


def can_review(user, evaluation: Evaluation) -> bool:
    """Return, approve and re-check: a 审核人 of the unit's district."""
    return ROLE_REVIEWER in roles_of(user) and is_district_reviewer(user, evaluation)


def can_review_first(user, evaluation: Evaluation) -> bool:
    """主管部门初审 (pass on to the district, or return to the unit): a 主管部门审核人
    who belongs to the unit's 主管部门."""
    return ROLE_PARENT_REVIEWER in roles_of(user) and is_parent_member(user, evaluation)


def is_parent_reviewer(user) -> bool:
    return ROLE_PARENT_REVIEWER in roles_of(user)


def can_reopen(user, evaluation: Evaluation) -> bool:
    return is_admin(user)


def is_reviewer(user) -> bool:
    return ROLE_REVIEWER in roles_of(user)


def units_to_start(user) -> QuerySet[Unit]:
    """The units whose evaluation of a new year `user` may start: a 填报人 their own
    units, 管理员 any unit."""
    if is_admin(user):
        return Unit.objects.all()
    if ROLE_STAFF in roles_of(user):
        return Unit.objects.filter(staff=user)
    return Unit.objects.none()


def units_seen_by(user) -> QuerySet[Unit]:
    """The units whose forms `user` sees, as `Evaluation.objects.for_user` draws them."""
    if not user.is_authenticated or not user.is_active:
        return Unit.objects.none()
    if is_admin(user):
        return Unit.objects.all()
    own_units = Unit.objects.filter(staff=user)
    return Unit.objects.filter(
        Q(pk__in=own_units) | Q(parent__in=own_units) | Q(district__reviewers=user)
    ).distinct()


def get_project_to_start(user, project_id: int) -> Project:
    """A project whose form `user` may start: 404 if its unit is out of their sight,
    403 if they see it but do not fill its forms (a 主管部门's staff, a reviewer)."""
    project = (
        Project.objects.filter(unit__in=units_seen_by(user))
        .select_related("unit")
        .filter(pk=project_id)
        .first()
    )
    if project is None:
        raise Http404("没有这个项目，或您无权查看。")
    if not units_to_start(user).filter(pk=project.unit_id).exists():
        raise PermissionDenied("只有本单位的填报人和管理员可以新建项目自评表。")
    return project


def fills_unit(user, unit: Unit) -> bool:
    """A 填报人 of the unit itself, as `can_fill` for a form."""
    return ROLE_STAFF in roles_of(user) and unit.staff.filter(pk=user.pk).exists()


def units_adding_projects(user) -> QuerySet[Unit]:
    """The units to which `user` may add a project themselves: the 填报人's own units,
    in districts that allow it (`District.units_add_projects`). 管理员 keep projects
    in the admin."""
    if ROLE_STAFF not in roles_of(user):
        return Unit.objects.none()
    return Unit.objects.filter(staff=user, district__units_add_projects=True)


def can_enter(user, evaluation: Evaluation) -> bool:
    """Use the entry page: the unit's 填报人, and 管理员 (who may change any
    evaluation in the admin anyway). Submitting stays with the 填报人."""
    return can_fill(user, evaluation) or is_admin(user)


def can_see_overview(user) -> bool:
    """The year overview: 审核人 (their districts) and 管理员."""
    return bool(roles_of(user) & {ROLE_REVIEWER, ROLE_ADMIN})


def units_for_user(user) -> QuerySet[Unit]:
    """The units whose year the user may look at in the overview, as `for_user` draws
    evaluations for its roles: a 审核人's districts, everything for a 管理员; None
    (the command line) means everything too. Units, not evaluations, so that units
    that have not started show as well."""
    if user is None or is_admin(user):
        return Unit.objects.all()
    if ROLE_REVIEWER in roles_of(user):
        return Unit.objects.filter(district__reviewers=user)
    return Unit.objects.none()


def can_export(user) -> bool:
    """Bulk exports (every unit's table at once) are for 管理员."""
    return is_admin(user)


def get_export_job_for_user(user, job_id: int) -> ExportJob:
    """Export jobs and their files are for 管理员 only; others get a 404."""
    if not can_export(user):
        raise Http404("没有这个导出任务，或您无权查看。")
    try:
        return ExportJob.objects.select_related("parent", "requested_by").get(pk=job_id)
    except ExportJob.DoesNotExist:
        raise Http404("没有这个导出任务，或您无权查看。") from None
