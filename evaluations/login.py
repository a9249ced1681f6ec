"""Signing in: the login forms, and what login throttling (django-axes) counts
failures by — the client's address and the username."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from .by_key import fetch

# As long as Django's username column.
USERNAME_MAX_LENGTH = 150


class UsernameLengthMixin:
    """Django's login form sets the username's max_length after building the field,
    which only changes the widget: the length is never checked. An over-long name is
    refused here, before authenticate() runs and django-axes writes the name to its
    255-character column."""

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username") or ""
        if len(username) > USERNAME_MAX_LENGTH:
            raise forms.ValidationError(
                f"用户名过长：最多 {USERNAME_MAX_LENGTH} 个字符，您输入了 {len(username)} 个。",
                code="max_length",
            )
        return username


class AccountBackend(ModelBackend):
    """Django's model backend (passwords, permissions), whose lookup of the signed-in
    user, made by every request, is one plain SELECT."""

    def get_user(self, user_id):
        model = get_user_model()
        try:
            user_id = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        user = fetch(model, model._meta.pk.name, user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class LoginForm(UsernameLengthMixin, AuthenticationForm):
    pass


class AdminLoginForm(UsernameLengthMixin, AdminAuthenticationForm):
    pass


def client_address(request: HttpRequest) -> str | None:
    """The address login throttling counts failures by.

    Without a reverse proxy it is REMOTE_ADDR: a client may write any
    X-Forwarded-For it likes. Behind TRUSTED_PROXY_COUNT proxies, each of which
    appends the address it saw, the client is that many hops from the right."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def login_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username login throttling counts failures by, as django-axes reads it (the
    credentials, else the posted form), cut to the longest a user can have: the login
    forms refuse longer names, and this keeps any other caller of authenticate() from
    handing axes more than its column holds."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "POST", {}).get("username")
    if username is None:
        return None
    return str(username)[:USERNAME_MAX_LENGTH]
