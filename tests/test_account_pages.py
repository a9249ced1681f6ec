"""What every signed-in person has besides the form: changing their own password, and
the error pages of production in Chinese with a way back."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import path, reverse

from config.urls import urlpatterns as site_urlpatterns

from .conftest import PASSWORD


def broken_view(request):
    raise RuntimeError("a bug")


urlpatterns = [*site_urlpatterns, path("broken/", broken_view)]


def test_the_header_links_to_changing_the_password(staff_client):
    page = staff_client.get(reverse("home")).content.decode()
    assert f'<a href="{reverse("password_change")}">修改密码</a>' in page


def test_changing_the_password_needs_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("who", ["staff", "reviewer"])
def test_staff_and_reviewers_change_their_own_password(client, cast, who):
    client.force_login(cast[who])
    page = client.get(reverse("password_change")).content.decode()
    assert "<h1>修改密码</h1>" in page and "原密码" in page and "再次输入新密码" in page

    wrong = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    )
    assert wrong.status_code == 200
    assert "原密码" in wrong.content.decode() and 'class="error"' in wrong.content.decode()

    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Xin-Mima-2024-abc",
            "new_password2": "Xin-Mima-2024-abc",
        },
        follow=True,
    )
    assert "<h1>密码已修改</h1>" in response.content.decode()
    assert get_user_model().objects.get(pk=cast[who].pk).check_password("Xin-Mima-2024-abc")


def test_the_404_page_is_chinese_with_a_way_home(staff_client, settings):
    settings.DEBUG = False
    response = staff_client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>页面不存在</h1>" in page and '<a href="/">返回首页</a>' in page
    assert "Not Found" not in page


@pytest.mark.urls(__name__)
def test_the_500_page_is_chinese_with_a_way_home(db, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "<h1>系统出错</h1>" in page and '<a href="/">返回首页</a>' in page
    assert "Server Error" not in page


def test_the_csrf_failure_page_is_chinese(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "<h1>页面已过期，请重新操作</h1>" in page and '<a href="/">返回首页</a>' in page
    assert "Forbidden" not in page and "CSRF" not in page
