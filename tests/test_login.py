"""Login: throttled after five wrong passwords, in Chinese; sessions end after two idle
hours, their expiry written at most once a minute."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from .conftest import PASSWORD


def log_in(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_works_and_a_wrong_password_says_so(client, staff):
    wrong = log_in(client, "staff", "wrong")
    assert wrong.status_code == 200
    assert "用户名或密码不正确" in wrong.content.decode()
    assert log_in(client, "staff", PASSWORD).status_code == 302


def test_five_failures_lock_the_username_for_15_minutes(client, staff, reviewer):
    for _ in range(4):
        assert log_in(client, "staff", "wrong").status_code == 200
    locked = log_in(client, "staff", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "该用户名连续 5 次密码错误" in page and "已暂停登录 15 分钟" in page
    # Even the right password waits now; another user is not affected.
    assert log_in(client, "staff", PASSWORD).status_code == 429
    assert log_in(client, "reviewer", PASSWORD).status_code == 302


def test_a_success_clears_the_count(client, staff):
    for _ in range(4):
        log_in(client, "staff", "wrong")
    assert log_in(client, "staff", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert log_in(client, "staff", "wrong").status_code == 200
    assert log_in(client, "staff", PASSWORD).status_code == 302


def test_passwords_are_validated(db):
    with pytest.raises(ValidationError):
        validate_password("12345678")


def test_throttling_counts_by_the_real_client_address(settings):
    from django.test import RequestFactory

    from evaluations.login import client_address

    forged = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(forged) == "203.0.113.9"  # no proxy: the header is the client's word
    behind_proxy = RequestFactory().post(
        "/accounts/login/",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.1.1.1, 198.51.100.7",  # forged hop, then what nginx saw
    )
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(behind_proxy) == "198.51.100.7"


def test_an_over_long_username_is_refused_before_throttling_sees_it(client, staff):
    """axes keeps usernames in a 255-character column: PostgreSQL refused the insert (500)."""
    from axes.models import AccessAttempt

    for url in (reverse("login"), reverse("admin:login")):
        response = client.post(url, {"username": "a" * 100_000, "password": "wrong"})
        assert response.status_code == 200
        assert "用户名过长：最多 150 个字符" in response.content.decode()
    assert not AccessAttempt.objects.exists()
    # 150 characters is still a username: a wrong password is counted as usual.
    assert log_in(client, "b" * 150, "wrong").status_code == 200
    assert AccessAttempt.objects.get().username == "b" * 150


def test_throttling_never_reads_more_than_a_username_holds(rf, staff):
    """Any other caller of authenticate() gets the name cut to an account's length."""
    from axes.models import AccessAttempt
    from django.contrib.auth import authenticate

    request = rf.post(reverse("login"))
    assert authenticate(request, username="c" * 100_000, password="wrong") is None
    assert AccessAttempt.objects.get().username == "c" * 150


def test_the_idle_expiry_is_written_at_most_once_a_minute(staff_client):
    written = Session.objects.get().expire_date
    for _ in range(3):
        assert staff_client.get(reverse("home")).status_code == 200
    assert Session.objects.get().expire_date == written

    # A minute later (the stored expiry a minute older), the next request moves it.
    Session.objects.update(expire_date=F("expire_date") - timedelta(seconds=61))
    before = timezone.now()
    assert staff_client.get(reverse("home")).status_code == 200
    moved = Session.objects.get().expire_date
    assert moved >= before + timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_a_session_idle_for_two_hours_has_ended(staff_client):
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = staff_client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_login_page_writes_no_session(client, db):
    assert client.get(reverse("login")).status_code == 200
    assert not Session.objects.exists()


def test_the_session_and_the_user_are_read_as_the_orm_reads_them(staff_client, staff):
    from django.contrib.auth import get_user_model

    from evaluations.by_key import fetch

    User = get_user_model()
    stored = Session.objects.get()
    read = fetch(Session, "session_key", stored.session_key)
    assert (read.session_key, read.session_data, read.expire_date) == (
        stored.session_key,
        stored.session_data,
        stored.expire_date,
    )
    assert read.expire_date.tzinfo is not None  # converted, on SQLite too
    user = fetch(User, "id", staff.pk)
    fields = [field.attname for field in User._meta.concrete_fields]
    assert [getattr(user, name) for name in fields] == [
        getattr(User.objects.get(pk=staff.pk), name) for name in fields
    ]
    assert not user._state.adding and user._state.db == "default"
    assert fetch(User, "id", 10**9) is None


def test_a_deactivated_user_is_signed_out_at_the_next_request(staff_client, staff):
    assert staff_client.get(reverse("home")).status_code == 200
    staff.is_active = False
    staff.save()
    response = staff_client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_unknown_session_key_is_no_session(client, staff):
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Session.objects.exists()
