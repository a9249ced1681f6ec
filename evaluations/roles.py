"""Who may give whom which role, and the record of every grant and revoke.

A user's rights are their role group (填报人, 审核人, 管理员), the admin flags
(is_staff, is_superuser) and the reach of the role: the units they fill in for
(部门（单位）·填报人) and the districts they review (区·审核人). Separation of duties:

- nobody changes their own rights, superusers included: no one who administers users
  makes themselves a reviewer, a 填报人 or staff of the admin;
- a 管理员 who is not a superuser changes neither a superuser nor another 管理员
  (password, rights, deletion), and does not grant or revoke 管理员 or superuser;
- one user holds one role: 填报人, 主管部门审核人, 审核人 or 管理员, never two (a superuser counts
  as 管理员). The 审核人 approves what the 填报人 submitted and the 管理员 reopens
  approved forms and keeps the users; each is another person.

Every grant and revoke is written to the admin's log of the user concerned (the
user's 历史 page): who, when, and one plain sentence per change. Changes made from
the shell or by `load_demo` have no actor and are not logged.
"""

from contextvars import ContextVar
from dataclasses import dataclass, field

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

# The three roles, as auth groups (created by a migration). Which units a user
# sees comes from Unit.staff and District.reviewers; what a user may do there
# comes from the group.
ROLE_STAFF = "填报人"
ROLE_REVIEWER = "审核人"
ROLE_ADMIN = "管理员"
# The first level of the review: a member (Unit.staff) of a 主管部门 who checks the
# forms of the units under it before the district sees them.
ROLE_PARENT_REVIEWER = "主管部门审核人"
ROLES = (ROLE_STAFF, ROLE_PARENT_REVIEWER, ROLE_REVIEWER, ROLE_ADMIN)


@dataclass(frozen=True)
class Scope:
    """What a user is: their role groups, the units they are staff of (Unit.staff)
    and the districts they review (District.reviewers)."""

    roles: frozenset[str] = frozenset()
    unit_ids: frozenset[int] = frozenset()
    district_ids: frozenset[int] = frozenset()


# The scopes read during the current request, by user id (`ScopePerRequest`).
_request_scopes: ContextVar[dict | None] = ContextVar("request_scopes", default=None)


class ScopePerRequest:
    """Middleware: each user's scope is read at most once per request. Outside a
    request (commands, tasks, the shell) it is read at each use, so a membership
    changed a moment ago is never missed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request_scopes.set({})
        try:
            return self.get_response(request)
        finally:
            _request_scopes.reset(token)


def scope_of(user) -> Scope:
    """The user's scope: in a request, read once for all of its access checks.

    Every page asks who the user is before anything else; one plain query answers
    all three instead of a group query and two subqueries in each access check,
    whose compiling cost more than the rest of a cached table page."""
    if not user.is_authenticated or not user.is_active:
        return Scope()
    scopes = _request_scopes.get()
    if scopes is not None and user.pk in scopes:
        return scopes[user.pk]
    from django.apps import apps
    from django.db import connection

    user_groups = get_user_model().groups.through._meta
    groups = user_groups.get_field("group").related_model._meta
    unit_staff = apps.get_model("evaluations", "Unit").staff.through._meta.db_table
    reviewers = apps.get_model("evaluations", "District").reviewers.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 'role', g.name FROM {groups.db_table} g"
            f" JOIN {user_groups.db_table} ug ON ug.group_id = g.id WHERE ug.user_id = %s"
            f" UNION ALL SELECT 'unit', CAST(unit_id AS TEXT) FROM {unit_staff}"
            " WHERE user_id = %s"
            f" UNION ALL SELECT 'district', CAST(district_id AS TEXT) FROM {reviewers}"
            " WHERE user_id = %s",
            [user.pk, user.pk, user.pk],
        )
        rows = cursor.fetchall()
    roles = {name for kind, name in rows if kind == "role" and name in ROLES}
    if user.is_superuser:
        roles.add(ROLE_ADMIN)
    scope = Scope(
        roles=frozenset(roles),
        unit_ids=frozenset(int(value) for kind, value in rows if kind == "unit"),
        district_ids=frozenset(int(value) for kind, value in rows if kind == "district"),
    )
    if scopes is not None:
        scopes[user.pk] = scope
    return scope


def roles_of(user) -> frozenset[str]:
    """The user's role groups (read with their scope)."""
    return scope_of(user).roles


REFUSE_SELF = (
    "不能修改自己的角色或权限范围（用户组、职员状态、所属单位、审核的区）：请由另一位管理员修改。"
)
REFUSE_SUPERUSER = "只有超级管理员可以修改超级管理员的密码、角色和权限范围。"
REFUSE_PEER = "只有超级管理员可以修改其他管理员的密码、角色和权限范围。"
REFUSE_ADMIN_GRANT = "只有超级管理员可以授予或撤销“管理员”角色和超级用户状态。"


@dataclass(frozen=True)
class Rights:
    """What a user may do, as labels that read well in the log."""

    roles: frozenset[str] = field(default_factory=frozenset)
    is_staff: bool = False
    is_superuser: bool = False
    units: frozenset[str] = field(default_factory=frozenset)
    districts: frozenset[str] = field(default_factory=frozenset)


def rights_of(user) -> Rights:
    """The user's rights as saved (an unsaved user has none)."""
    if user is None or user.pk is None:
        return Rights()
    saved = get_user_model().objects.get(pk=user.pk)
    return Rights(
        roles=frozenset(saved.groups.filter(name__in=ROLES).values_list("name", flat=True)),
        is_staff=saved.is_staff,
        is_superuser=saved.is_superuser,
        units=frozenset(f"{unit.name}（{unit.code}）" for unit in saved.units.all()),
        districts=frozenset(
            f"{district.name}（{district.code}）" for district in saved.reviewed_districts.all()
        ),
    )


def combination_refusal(roles: set[str] | frozenset[str], is_superuser: bool) -> str | None:
    """The roles one user may hold together: one of the three, or none."""
    held = [role for role in ROLES if role in roles]
    if len(held) > 1:
        return (
            "一个用户只能担任一个角色（填报人、主管部门审核人、审核人或管理员），"
            f"不能同时担任“{'”和“'.join(held)}”："
            "审核人审核填报人提交的表，管理员重新打开已审核的表并管理用户，须由不同的人担任。"
        )
    if is_superuser and set(held) - {ROLE_ADMIN}:
        return f"超级管理员已有管理员的全部权限，不能再担任“{held[0]}”。"
    return None


def is_protected_from(actor, target) -> bool:
    """A superuser, or another 管理员, whom `actor` (not a superuser) may not change."""
    return management_refusal(actor, target) is not None


def management_refusal(actor, target) -> str | None:
    """Why `actor` may not change `target` at all (password, rights, deletion), as
    saved: a form may already have changed the object in memory."""
    if actor.is_superuser or target is None or target.pk is None:
        return None
    saved = get_user_model().objects.get(pk=target.pk)
    if saved.is_superuser:
        return REFUSE_SUPERUSER
    if saved.pk != actor.pk and saved.groups.filter(name=ROLE_ADMIN).exists():
        return REFUSE_PEER
    return None


def change_refusal(actor, target, before: Rights, after: Rights) -> str | None:
    """Why `actor` may not change `target`'s rights from `before` to `after`, or None."""
    if before == after:
        return None
    if target is not None and target.pk is not None and target.pk == actor.pk:
        return REFUSE_SELF
    refusal = management_refusal(actor, target)
    if refusal:
        return refusal
    admin_changed = (ROLE_ADMIN in before.roles) != (ROLE_ADMIN in after.roles)
    if not actor.is_superuser and (admin_changed or before.is_superuser != after.is_superuser):
        return REFUSE_ADMIN_GRANT
    if before.roles != after.roles or before.is_superuser != after.is_superuser:
        return combination_refusal(after.roles, after.is_superuser)
    return None


def changes(before: Rights, after: Rights) -> list[str]:
    """One sentence per grant or revoke, in a fixed order."""
    sentences = []
    for role in ROLES:
        if role in after.roles and role not in before.roles:
            sentences.append(f"授予角色“{role}”")
        if role in before.roles and role not in after.roles:
            sentences.append(f"撤销角色“{role}”")
    for flag, label in (
        ("is_staff", "职员状态（可登录管理后台）"),
        ("is_superuser", "超级用户状态"),
    ):
        if getattr(after, flag) and not getattr(before, flag):
            sentences.append(f"授予{label}")
        if getattr(before, flag) and not getattr(after, flag):
            sentences.append(f"撤销{label}")
    for unit in sorted(after.units - before.units):
        sentences.append(f"设为“{unit}”的填报人")
    for unit in sorted(before.units - after.units):
        sentences.append(f"不再是“{unit}”的填报人")
    for district in sorted(after.districts - before.districts):
        sentences.append(f"设为“{district}”的审核人")
    for district in sorted(before.districts - after.districts):
        sentences.append(f"不再是“{district}”的审核人")
    return sentences


def log_changes(actor, target, before: Rights, after: Rights) -> list[LogEntry]:
    """One admin log entry per grant or revoke, on the user concerned."""
    content_type = ContentType.objects.get_for_model(get_user_model())
    return [
        LogEntry.objects.create(
            user=actor,
            content_type=content_type,
            object_id=str(target.pk),
            object_repr=str(target)[:200],
            action_flag=CHANGE,
            change_message=f"权限变更：{sentence}（操作人：{actor.get_username()}）",
        )
        for sentence in changes(before, after)
    ]
