"""The admin of 管理员: what it must not let through."""

from django.test import Client
from django.urls import reverse

from evaluations.models import Evaluation
from indicators.models import IndicatorCategory

from .conftest import PASSWORD


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
