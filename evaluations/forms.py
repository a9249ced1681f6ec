from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from .access import USERNAME_MAX_LENGTH
from .models import Unit
from .overview import STAGES


class ExportForm(forms.Form):
    """What a bulk export takes: a year, and optionally a stage or a 主管部门."""

    year = forms.TypedChoiceField(label="年度", coerce=int)
    stage = forms.ChoiceField(label="状态", required=False)
    parent = forms.TypedChoiceField(label="主管部门", required=False, empty_value=None)

    def __init__(self, *args, years: list[int], parents: list[Unit], **kwargs):
        super().__init__(*args, **kwargs)
        self.parents = {str(unit.pk): unit for unit in parents}
        self.fields["year"].choices = [(year, f"{year}年度") for year in years]
        self.fields["stage"].choices = [("", "全部")] + STAGES
        self.fields["parent"].choices = [("", "全部")] + [
            (str(unit.pk), unit.name) for unit in parents
        ]
        self.fields["parent"].coerce = self.parents.get


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


class LoginForm(UsernameLengthMixin, AuthenticationForm):
    pass


class AdminLoginForm(UsernameLengthMixin, AdminAuthenticationForm):
    pass
