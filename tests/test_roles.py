"""Separation of duties in the admin: nobody changes their own rights, a 管理员 leaves
superusers and other 管理员 alone, one role per user, and every grant is logged."""

from html.parser import HTMLParser

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evaluations import roles
from evaluations.models import Evaluation
from evaluations.roles import ROLE_ADMIN, ROLE_REVIEWER, ROLE_STAFF

from .conftest import PASSWORD, make_user
from .test_bulk_import import USER_HEADS, XLSX, workbook


class FormReader(HTMLParser):
    """What a browser would post back from the page's main form, unchanged."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in {"submit", "button", "file"}:
            checkable = attrs.get("type") in {"checkbox", "radio"}
            if checkable and "checked" not in attrs:
                return
            self.data.setdefault(name, []).append(attrs.get("value", "on" if checkable else ""))
        elif tag == "select" and name:
            self.select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self.select and "selected" in attrs:
            self.data[self.select].append(attrs.get("value", ""))
        elif tag == "textarea" and name:
            self.textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self.select = None
        if tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea][0] += data


def form_data(client: Client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    reader = FormReader()
    reader.feed(response.content.decode())
    reader.data.pop("csrfmiddlewaretoken", None)
    return reader.data


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def group_id(name: str) -> str:
    return str(Group.objects.get(name=name).pk)


def role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def refusals(response) -> list[str]:
    """The errors the admin form shows above its fields."""
    return list(response.context["adminform"].form.non_field_errors())


def post_user(client: Client, user, **changes):
    url = reverse("admin:auth_user_change", args=[user.pk])
    data = form_data(client, url) | changes
    return client.post(url, data)


def test_a_manager_cannot_make_themselves_reviewer(manager):
    response = post_user(
        logged_in(manager), manager, groups=[group_id(ROLE_ADMIN), group_id(ROLE_REVIEWER)]
    )
    assert response.status_code == 200
    assert refusals(response) == [roles.REFUSE_SELF]
    assert role_names(manager) == {ROLE_ADMIN}
    # and the page says so before it is tried
    page = logged_in(manager).get(reverse("admin:auth_user_change", args=[manager.pk]))
    assert roles.REFUSE_SELF in page.content.decode()


def test_a_superuser_cannot_change_their_own_roles_either(admin_user):
    response = post_user(logged_in(admin_user), admin_user, groups=[group_id(ROLE_REVIEWER)])
    assert refusals(response) == [roles.REFUSE_SELF]
    assert role_names(admin_user) == set()
    response = post_user(logged_in(admin_user), admin_user, is_superuser=[])
    assert refusals(response) == [roles.REFUSE_SELF]


def test_a_manager_cannot_review_a_district_or_fill_for_a_unit_they_add_themselves_to(
    manager, district, unit, reviewer, sample
):
    client = logged_in(manager)
    url = reverse("admin:evaluations_district_change", args=[district.pk])
    data = form_data(client, url)
    assert data["reviewers"] == [str(reviewer.pk)]
    response = client.post(url, data | {"reviewers": [str(reviewer.pk), str(manager.pk)]})
    assert response.status_code == 200
    assert roles.REFUSE_SELF in response.content.decode()
    assert list(district.reviewers.all()) == [reviewer]

    url = reverse("admin:evaluations_unit_change", args=[unit.pk])
    response = client.post(url, form_data(client, url) | {"staff": [str(manager.pk)]})
    assert roles.REFUSE_SELF in response.content.decode()
    assert not unit.staff.filter(pk=manager.pk).exists()

    # And so the approval the attack ended with is refused.
    Evaluation.objects.filter(pk=sample.pk).update(status=Evaluation.Status.SUBMITTED)
    response = client.post(reverse("approve_evaluation", args=[sample.pk]))
    assert response.status_code == 403
    assert "只有本区的审核人可以审核" in response.content.decode()


def test_a_manager_cannot_reset_another_managers_password_or_roles(manager):
    colleague = make_user("colleague", ROLE_ADMIN, is_staff=True)
    client = logged_in(manager)
    password_url = reverse("admin:auth_user_password_change", args=[colleague.pk])
    response = client.post(
        password_url, {"password1": "Taken-Over-Account-77", "password2": "Taken-Over-Account-77"}
    )
    assert response.status_code == 403
    assert roles.REFUSE_PEER in response.content.decode()
    colleague.refresh_from_db()
    assert colleague.check_password(PASSWORD)

    change_url = reverse("admin:auth_user_change", args=[colleague.pk])
    page = client.get(change_url).content.decode()
    assert 'name="groups"' not in page and 'name="is_staff"' not in page  # read-only
    response = client.post(change_url, {"username": "colleague", "groups": []})
    assert response.status_code == 403
    assert roles.REFUSE_PEER in response.content.decode()
    assert role_names(colleague) == {ROLE_ADMIN}
    delete_url = reverse("admin:auth_user_delete", args=[colleague.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert colleague.__class__.objects.filter(pk=colleague.pk).exists()


def test_a_manager_cannot_delete_another_manager_from_the_list(manager):
    colleague = make_user("colleague", ROLE_ADMIN, is_staff=True)
    response = logged_in(manager).post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [colleague.pk], "post": "yes"},
    )
    assert response.status_code in {200, 403}
    assert colleague.__class__.objects.filter(pk=colleague.pk).exists()


def test_a_manager_cannot_change_a_superusers_reach(manager, admin_user, district):
    client = logged_in(manager)
    url = reverse("admin:evaluations_district_change", args=[district.pk])
    response = client.post(url, form_data(client, url) | {"reviewers": [str(admin_user.pk)]})
    assert f"admin：{roles.REFUSE_SUPERUSER}" in response.content.decode()
    assert not district.reviewers.exists()


def test_only_a_superuser_grants_the_manager_role(manager, admin_user, staff):
    response = post_user(logged_in(manager), staff, groups=[group_id(ROLE_ADMIN)])
    assert refusals(response) == [roles.REFUSE_ADMIN_GRANT]
    assert role_names(staff) == {ROLE_STAFF}
    response = post_user(logged_in(admin_user), staff, groups=[group_id(ROLE_ADMIN)])
    assert response.status_code == 302
    assert role_names(staff) == {ROLE_ADMIN}


def test_one_role_per_user(admin_user, staff):
    client = logged_in(admin_user)
    response = post_user(client, staff, groups=[group_id(ROLE_STAFF), group_id(ROLE_REVIEWER)])
    page = response.content.decode()
    assert (
        "一个用户只能担任一个角色（填报人、主管部门审核人、审核人或管理员），不能同时担任“填报人”和“审核人”"
        in page
    )
    assert role_names(staff) == {ROLE_STAFF}
    other_admin = admin_user.__class__.objects.create_superuser("root2", "r@example.org", "x")
    response = post_user(client, other_admin, groups=[group_id(ROLE_REVIEWER)])
    assert "超级管理员已有管理员的全部权限，不能再担任“审核人”" in response.content.decode()


def test_every_grant_and_revoke_is_logged_on_the_user(manager, district, unit):
    newcomer = make_user("newcomer", first_name="新审核人")
    client = logged_in(manager)
    assert post_user(client, newcomer, groups=[group_id(ROLE_REVIEWER)]).status_code == 302
    url = reverse("admin:evaluations_district_change", args=[district.pk])
    response = client.post(url, form_data(client, url) | {"reviewers": [str(newcomer.pk)]})
    assert response.status_code == 302
    assert post_user(client, newcomer, groups=[group_id(ROLE_STAFF)]).status_code == 302

    entries = LogEntry.objects.filter(object_id=str(newcomer.pk), change_message__startswith="权限")
    assert [entry.change_message for entry in entries.order_by("pk")] == [
        "权限变更：授予角色“审核人”（操作人：manager）",
        "权限变更：设为“闵行区（310112）”的审核人（操作人：manager）",
        "权限变更：授予角色“填报人”（操作人：manager）",
        "权限变更：撤销角色“审核人”（操作人：manager）",
    ]
    assert {entry.user for entry in entries} == {manager}
    history = client.get(reverse("admin:auth_user_history", args=[newcomer.pk])).content.decode()
    assert "设为“闵行区（310112）”的审核人" in history


def import_users(client: Client, content: bytes):
    return client.post(
        reverse("admin:auth_user_import"),
        {"import_file": SimpleUploadedFile("用户.xlsx", content, XLSX), "format": "0"},
    )


def test_the_user_import_keeps_one_role_per_user_and_logs_its_grants(admin_user, district):
    client = logged_in(admin_user)
    both = workbook(USER_HEADS, [["li", "李四", None, None, None, "填报人、审核人", "310112"]])
    page = import_users(client, both).content.decode()
    assert "不能同时担任“填报人”和“审核人”" in page
    assert not admin_user.__class__.objects.filter(username="li").exists()

    reviewer_row = workbook(USER_HEADS, [["li", "李四", None, None, None, "审核人", "310112"]])
    preview = import_users(client, reviewer_row)
    assert not LogEntry.objects.filter(change_message__startswith="权限").exists()  # a dry run
    confirm = preview.context["confirm_form"]
    assert (
        client.post(reverse("admin:auth_user_process_import"), confirm.initial).status_code == 302
    )
    li = admin_user.__class__.objects.get(username="li")
    messages = set(
        LogEntry.objects.filter(
            object_id=str(li.pk), change_message__startswith="权限"
        ).values_list("change_message", flat=True)
    )
    assert messages == {
        "权限变更：授予角色“审核人”（操作人：admin）",
        "权限变更：设为“闵行区（310112）”的审核人（操作人：admin）",
    }
