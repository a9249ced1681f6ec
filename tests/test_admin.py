"""The admin of 管理员: what it must not let through."""

from django.test import Client
from django.urls import reverse

from evaluations.models import Evaluation
from indicators.models import IndicatorCategory

from .conftest import PASSWORD
from .test_bulk_import import UNIT_HEADS, admin_import, workbook


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_manager_cannot_make_anyone_superuser(manager, staff):
    client = logged_in(manager)
    page = client.get(reverse("admin:auth_user_change", args=[staff.pk])).content.decode()
    assert 'name="username"' in page
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page


def test_a_manager_cannot_touch_a_superuser(manager, admin_user):
    client = logged_in(manager)
    password_url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    response = client.post(
        password_url, {"password1": "Taken-Over-Account-77", "password2": "Taken-Over-Account-77"}
    )
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)
    response = client.get(reverse("admin:auth_user_change", args=[admin_user.pk]))
    assert response.status_code == 200  # shown, read-only
    page = response.content.decode()
    assert 'name="is_superuser"' not in page and 'name="password' not in page


def test_rows_are_not_added_from_free_standing_admin_pages(manager, sample):
    client = logged_in(manager)
    assert client.get(reverse("admin:indicators_indicatorgroup_add")).status_code == 403
    assert client.get(reverse("admin:indicators_indicatorcategory_add")).status_code == 403


def test_an_inline_change_raises_the_version(manager, sample):
    """So a second tab opened before it is refused instead of overwriting it."""
    category = IndicatorCategory.objects.filter(group__evaluation=sample).first()
    client = logged_in(manager)
    url = reverse("admin:indicators_indicatorcategory_change", args=[category.pk])
    form = client.get(url).context["adminform"].form
    indicators = list(category.indicators.all())
    data = {
        "group": category.group_id,
        "position": category.position,
        "name": category.name,
        "expected_version": form.initial.get("expected_version", sample.version),
        "indicators-TOTAL_FORMS": len(indicators),
        "indicators-INITIAL_FORMS": len(indicators),
        "indicators-MIN_NUM_FORMS": 0,
        "indicators-MAX_NUM_FORMS": 1000,
    }
    for index, indicator in enumerate(indicators):
        prefix = f"indicators-{index}-"
        data |= {
            prefix + "id": indicator.pk,
            prefix + "category": category.pk,
            prefix + "position": indicator.position,
            prefix + "name": indicator.name + "（改）" if index == 0 else indicator.name,
            prefix + "target_comparator": indicator.target_comparator,
            prefix + "target_number": indicator.target_number or "",
            prefix + "target_unit": indicator.target_unit,
            prefix + "target_label": indicator.target_label,
            prefix + "points": indicator.points,
        }
    before = Evaluation.objects.get(pk=sample.pk).version
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert indicators[0].__class__.objects.get(pk=indicators[0].pk).name.endswith("（改）")
    assert Evaluation.objects.get(pk=sample.pk).version == before + 1
    stale = client.post(url, data)
    assert stale.status_code == 200
    assert "该自评表已被他人修改" in stale.content.decode()


# ---------------------------------------------------------------- the admin in Chinese


def test_the_admin_index_names_every_app_in_chinese(admin_user):
    page = logged_in(admin_user).get(reverse("admin:index")).content.decode()
    for name in (
        "绩效自评",
        "绩效指标",
        "登录保护",
        "登录尝试",
        "登录失败记录",
        "登录日志",
        "后台任务",
    ):
        assert name in page, name
    for english in (
        "Evaluations",
        "Indicators",
        "Axes",
        "Access attempts",
        "Access logs",
        "Tasks Database Backend",
        "Task",
    ):
        assert english not in page, english


def test_selects_and_the_export_speak_chinese(admin_user, district):
    client = logged_in(admin_user)
    page = client.get(reverse("admin:evaluations_unit_add")).content.decode()
    assert "- 请选择 -" in page and "Select an option" not in page
    page = client.get(reverse("admin:evaluations_unit_export")).content.decode()
    assert "全选" in page and "Select all" not in page
    for column in UNIT_HEADS:
        assert f">{column}</label>" in page, column
    for english in ("Code", "Name", "District", "Parent"):
        assert f">{english} (" not in page, english


def test_an_import_fault_is_shown_in_full_at_its_excel_row(admin_user, district):
    client = logged_in(admin_user)
    content = workbook(
        UNIT_HEADS,
        [["310112-PJ", "浦锦街道", "310112", None], ["310112-X", "某单位", "310199", None]],
    )
    page = admin_import(client, "admin:evaluations_unit_import", content).content.decode()
    assert "<h2>以下行未通过数据校验</h2>" in page and "某些行验数据证失败" not in page
    assert "<td>第 3 行</td>" in page  # the header is row 1, so the second unit is row 3
    assert "<li>所属区编码：编码“310199”不存在。</li>" in page
    assert "<td>None</td>" not in page
    assert "validation-error-count" not in page


def test_the_user_list_shows_role_and_reach(admin_user, staff, reviewer, unit, district):
    page = logged_in(admin_user).get(reverse("admin:auth_user_changelist")).content.decode()
    assert '<th scope="col" class="column-role">' in page
    staff_row = page[page.index(">staff</a>") :]
    staff_row = staff_row[: staff_row.index("</tr>")]
    assert '<td class="field-role">填报人</td>' in staff_row
    assert f'<td class="field-reach">{unit.name}</td>' in staff_row
    reviewer_row = page[page.index(">reviewer</a>") :]
    reviewer_row = reviewer_row[: reviewer_row.index("</tr>")]
    assert "审核人" in reviewer_row and f"{district.name}（审核）" in reviewer_row


def test_the_units_staff_picker_offers_only_staff(admin_user, staff, reviewer, manager, unit):
    page = (
        logged_in(admin_user)
        .get(reverse("admin:evaluations_unit_change", args=[unit.pk]))
        .content.decode()
    )
    picker = page[page.index('name="staff"') :]
    picker = picker[: picker.index("</select>")]
    assert f'value="{staff.pk}"' in picker
    assert f'value="{reviewer.pk}"' not in picker and f'value="{manager.pk}"' not in picker


def test_an_evaluations_admin_page_shows_its_goal_texts_as_text(admin_user, sample):
    page = (
        logged_in(admin_user)
        .get(reverse("admin:evaluations_evaluation_change", args=[sample.pk]))
        .content.decode()
    )
    assert "&lt;p&gt;" not in page
    assert '<div class="readonly"><p>根据《关于街镇' in page
    assert 'name="target_text"' not in page


def test_an_evaluations_history_page_lists_its_changes(admin_user, sample):
    client = logged_in(admin_user)
    page = client.get(reverse("admin:evaluations_evaluation_history", args=[sample.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "已创建" in content or "创建" in content
    assert "此对象没有变更历史" not in content and "没有变更历史" not in content
    version = sample.history.earliest().history_id
    url = reverse("admin:evaluations_evaluation_simple_history", args=[sample.pk, version])
    assert client.get(url).status_code == 200
    assert client.post(url, {}).status_code == 403  # seen, never reverted from here
