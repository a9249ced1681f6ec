"""Bulk data through django-import-export, xlsx only: units, projects and users here,
the indicator template in `indicators/resources.py`.

Every resource imports all or nothing (one transaction, rolled back on any row
error or validation error), says what is wrong per row and column in Chinese, and
writes only inside the districts it was given — the admin passes
`districts_open_to_import(request.user)`.
"""

from dataclasses import replace
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from import_export import fields, resources, widgets
from import_export.results import RowResult

from . import roles
from .access import is_admin
from .models import District, Project, Unit
from .roles import ROLE_ADMIN, ROLES
from .text import TextError, check_text, parse_two_places
from .xlsx import WorkbookError, is_blank

LIST_SEPARATORS = ("，", "、", ";", "；", "\n")


def districts_open_to_import(user) -> QuerySet:
    """The districts whose units and users `user` may import: all for 管理员 (and
    superusers), otherwise those they review. The one place that decides it."""
    if is_admin(user):
        return District.objects.all()
    return District.objects.filter(reviewers=user)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _codes(value) -> list[str]:
    text = _text(value)
    for separator in LIST_SEPARATORS:
        text = text.replace(separator, ",")
    return [code.strip() for code in text.split(",") if code.strip()]


# ---------------------------------------------------------------- widgets


class TextWidget(widgets.CharWidget):
    def __init__(self, label: str, *, required: bool = False, max_length: int = 200):
        super().__init__(coerce_to_string=True, allow_blank=True)
        self.label, self.required, self.max_length = label, required, max_length

    def clean(self, value, row=None, **kwargs) -> str:
        text = _text(value)
        if self.required and not text:
            raise ValueError(f"{self.label}：不能为空。")
        if len(text) > self.max_length:
            raise ValueError(f"{self.label}：过长（最多 {self.max_length} 字）。")
        try:
            check_text(text, "", max_length=self.max_length)
        except TextError as error:
            raise ValueError(f"{self.label}：{error}") from None
        return text


class NumberWidget(widgets.DecimalWidget):
    """A Decimal with two places; Chinese errors that name the column."""

    def __init__(
        self,
        label: str,
        *,
        required: bool = True,
        minimum: Decimal = Decimal("0"),
        maximum: Decimal = Decimal("100"),
        whole: bool = False,
    ):
        super().__init__(coerce_to_string=False)
        self.label, self.required = label, required
        self.minimum, self.maximum, self.whole = minimum, maximum, whole

    def clean(self, value, row=None, **kwargs) -> Decimal | None:
        text = _text(value) if not isinstance(value, float) else repr(value)
        if not text:
            if self.required:
                raise ValueError(f"{self.label}：不能为空，请填写数字。")
            return None
        number = parse_two_places(
            value
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            else text,
            f"{self.label}：",
            minimum=self.minimum,
            maximum=self.maximum,
        )
        if self.whole and number != number.to_integral_value():
            raise ValueError(f"{self.label}：应为整数，而不是 {text}。")
        return int(number) if self.whole else number

    def render(self, value, obj=None, **kwargs):
        return value


class CodeWidget(widgets.ForeignKeyWidget):
    """A foreign key by code, found only among `queryset` (the importer's scope)."""

    def __init__(self, model, label: str, queryset: QuerySet, *, required: bool = True):
        super().__init__(model, field="code")
        self.label, self.queryset, self.required = label, queryset, required

    def get_queryset(self, value, row, *args, **kwargs):
        return self.queryset

    def clean(self, value, row=None, **kwargs):
        code = _text(value)
        if not code:
            if self.required:
                raise ValueError(f"{self.label}：不能为空。")
            return None
        found = self.queryset.filter(code=code).first()
        if found is None:
            if self.model.objects.filter(code=code).exists():
                raise ValueError(f"{self.label}：“{code}”不在您可导入的区范围内。")
            raise ValueError(f"{self.label}：编码“{code}”不存在。")
        return found

    def render(self, value, obj=None, **kwargs):
        return value.code if value is not None else ""


class CodesWidget(widgets.ManyToManyWidget):
    """Several codes in one cell (separated by commas or 、), every one checked."""

    def __init__(self, model, label: str, queryset: QuerySet, field: str = "code"):
        super().__init__(model, separator="，", field=field)
        self.label, self.queryset = label, queryset

    def clean(self, value, row=None, **kwargs) -> list:
        codes = _codes(value)
        found = {
            getattr(item, self.field): item
            for item in self.queryset.filter(**{f"{self.field}__in": codes})
        }
        missing = [code for code in codes if code not in found]
        if missing:
            raise ValueError(f"{self.label}：{'、'.join(missing)} 不存在或不在您可导入的范围内。")
        return [found[code] for code in dict.fromkeys(codes)]

    def render(self, value, obj=None, **kwargs) -> str:
        if value is None:  # a new row's links, before it is saved
            return ""
        return "，".join(sorted(str(getattr(item, self.field)) for item in value.all()))


class RolesWidget(CodesWidget):
    def __init__(self):
        super().__init__(Group, "角色", Group.objects.filter(name__in=ROLES), field="name")

    def clean(self, value, row=None, **kwargs) -> list:
        names = _codes(value)
        unknown = [name for name in names if name not in ROLES]
        if unknown:
            raise ValueError(
                f"角色：{'、'.join(unknown)} 不是可用的角色（可用：{'、'.join(ROLES)}）。"
            )
        return [Group.objects.get_or_create(name=name)[0] for name in dict.fromkeys(names)]

    def render(self, value, obj=None, **kwargs) -> str:
        if value is None:
            return ""
        return "，".join(group.name for group in value.all() if group.name in ROLES)


class YesNoWidget(widgets.BooleanWidget):
    """是 / 否 (and their usual spellings); anything else is refused, naming what was
    typed. A blank cell is `blank`."""

    YES, NO = {"是", "启用", "1", "true", "yes", "y"}, {"否", "停用", "0", "false", "no", "n"}

    def __init__(self, label: str, *, blank: bool = True):
        super().__init__(coerce_to_string=False)
        self.label, self.blank = label, blank

    def clean(self, value, row=None, **kwargs) -> bool:
        text = _text(value).lower()
        if value is None or text == "":
            return self.blank
        if value is True or text in self.YES:
            return True
        if value is False or text in self.NO:
            return False
        raise ValueError(f"{self.label}：应填“是”或“否”，而不是“{_text(value)}”。")

    def render(self, value, obj=None, **kwargs) -> str:
        return "是" if value else "否"


class ScopedManyField(fields.Field):
    """A many-to-many column that replaces only the links inside the importer's
    scope: links to other districts' units stay as they were."""

    def __init__(self, *args, keep_outside, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_outside = keep_outside

    def save(self, instance, row, is_m2m=False, **kwargs):
        cleaned = self.clean(row, **kwargs)
        manager = getattr(instance, self.attribute)
        manager.set(list(self.keep_outside(manager.all())) + list(cleaned))


# ---------------------------------------------------------------- the base


class XlsxResource(resources.ModelResource):
    """Column names checked first, blank rows skipped, many-to-many columns
    validated with the rest of the row, and all or nothing."""

    # Columns a file may leave out: their field is then left as it is.
    optional_columns: tuple[str, ...] = ()

    def import_data(self, dataset, **kwargs):
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, **kwargs)

    def before_import(self, dataset, **kwargs) -> None:
        expected = [field.column_name for field in self.get_import_fields()]
        headers = [_text(header) for header in dataset.headers or []]
        missing = [
            name for name in expected if name not in headers and name not in self.optional_columns
        ]
        unknown = [name for name in headers if name and name not in expected]
        if missing or unknown:
            parts = []
            if missing:
                parts.append("缺少列：" + "、".join(missing))
            if unknown:
                parts.append("无法识别的列：" + "、".join(unknown))
            dataset.wipe()  # no row is read under the wrong heads
            raise WorkbookError(
                "第 1 行的列名不对。"
                + "；".join(parts)
                + "。应有的列："
                + "、".join(expected)
                + "。"
            )

    def import_row(self, row, instance_loader, **kwargs):
        if is_blank(row.values()):
            result = self.get_row_result_class()()
            result.import_type = RowResult.IMPORT_TYPE_SKIP
            return result
        return super().import_row(row, instance_loader, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget):
                try:
                    field.clean(row, **kwargs)
                except ValueError as error:
                    errors[field.attribute] = ValidationError(str(error), code="invalid")
        errors.update(self.check_row(instance, row))
        if errors:
            raise ValidationError(errors)

    def check_row(self, instance, row) -> dict:
        """Errors of this row that depend on more than one cell: {attribute: message}."""
        return {}


# ---------------------------------------------------------------- units


class UnitResource(XlsxResource):
    """部门（单位）: code, name, district by code, parent by code. A parent must be
    in the same district, and listed above its units when both are new."""

    def __init__(self, districts: QuerySet | None = None):
        super().__init__()
        self.districts = districts if districts is not None else District.objects.none()
        units_in_scope = Unit.objects.filter(district__in=self.districts)
        self.fields["code"] = fields.Field(
            "code", "单位编码", TextWidget("单位编码", required=True, max_length=64)
        )
        self.fields["name"] = fields.Field(
            "name", "部门（单位）名称", TextWidget("部门（单位）名称", required=True)
        )
        self.fields["district"] = fields.Field(
            "district", "所属区编码", CodeWidget(District, "所属区编码", self.districts)
        )
        self.fields["parent"] = fields.Field(
            "parent",
            "主管部门编码",
            CodeWidget(Unit, "主管部门编码", units_in_scope, required=False),
        )

    class Meta:
        model = Unit
        fields = ("code", "name", "district", "parent")
        import_id_fields = ("code",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False

    def check_row(self, instance, row) -> dict:
        errors = {}
        if instance.pk:
            original = Unit.objects.filter(pk=instance.pk).values_list("district_id", flat=True)
            if not self.districts.filter(pk__in=original).exists():
                errors["code"] = (
                    f"单位编码：单位“{instance.code}”属于其他区，不在您可导入的范围内。"
                )
        if instance.parent_id and instance.district_id:
            if instance.parent.district_id != instance.district_id:
                errors["parent"] = "主管部门编码：主管部门须与本单位属于同一个区。"
            if instance.parent.code == instance.code:
                errors["parent"] = "主管部门编码：单位不能是自己的主管部门。"
        return errors


# ---------------------------------------------------------------- projects


class ProjectResource(XlsxResource):
    """A unit's project list: code, name, the 实施单位 by code, first and last year.
    The code is the project's identity across years: a code already there updates
    that project, if it lies in the importer's districts; twice in one file is refused."""

    YEARS = {"minimum": Decimal("2000"), "maximum": Decimal("2100"), "whole": True}

    def __init__(self, districts: QuerySet | None = None):
        super().__init__()
        self.districts = districts if districts is not None else District.objects.none()
        units_in_scope = Unit.objects.filter(district__in=self.districts)
        self.fields["code"] = fields.Field(
            "code", "项目编码", TextWidget("项目编码", required=True, max_length=64)
        )
        self.fields["name"] = fields.Field(
            "name", "项目名称", TextWidget("项目名称", required=True)
        )
        self.fields["unit"] = fields.Field(
            "unit", "实施单位编码", CodeWidget(Unit, "实施单位编码", units_in_scope)
        )
        self.fields["first_year"] = fields.Field(
            "first_year", "起始年度", NumberWidget("起始年度", **self.YEARS)
        )
        self.fields["last_year"] = fields.Field(
            "last_year",
            "结束年度",
            NumberWidget("结束年度（持续实施的项目留空）", required=False, **self.YEARS),
        )
        self.rows_of_code: dict[str, int] = {}

    class Meta:
        model = Project
        fields = ("code", "name", "unit", "first_year", "last_year")
        import_id_fields = ("code",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False

    def get_export_queryset(self, request=None, **kwargs):
        return Project.objects.filter(unit__district__in=self.districts).select_related("unit")

    def before_import(self, dataset, **kwargs) -> None:
        super().before_import(dataset, **kwargs)
        self.rows_of_code = {}

    def import_row(self, row, instance_loader, **kwargs):
        # The Excel row: the header is row 1.
        self.excel_row = kwargs.get("row_number", 0) + 1
        return super().import_row(row, instance_loader, **kwargs)

    def check_row(self, instance, row) -> dict:
        errors = {}
        if instance.code:
            first = self.rows_of_code.setdefault(instance.code, self.excel_row)
            if first != self.excel_row:
                errors["code"] = f"项目编码：“{instance.code}”与第 {first} 行重复。"
        if instance.pk:
            stored = Project.objects.filter(pk=instance.pk).values_list("unit__district", flat=True)
            if not self.districts.filter(pk__in=stored).exists():
                errors["code"] = (
                    f"项目编码：项目“{instance.code}”属于其他区的单位，不在您可导入的范围内。"
                )
        return errors


# ---------------------------------------------------------------- users


class UserResource(XlsxResource):
    """Users with the units they fill in for, their roles and the districts they
    review. New users get no password: an administrator sets one (or sends a reset)."""

    def __init__(self, districts: QuerySet | None = None, actor=None):
        super().__init__()
        self.districts = districts if districts is not None else District.objects.none()
        # Who imports: their own row is refused and every grant is logged in their name.
        self.actor = actor
        units_in_scope = Unit.objects.filter(district__in=self.districts)
        self.fields["username"] = fields.Field(
            "username", "用户名", TextWidget("用户名", required=True, max_length=150)
        )
        self.fields["first_name"] = fields.Field(
            "first_name", "姓名", TextWidget("姓名", max_length=150)
        )
        self.fields["email"] = fields.Field("email", "邮箱", TextWidget("邮箱", max_length=254))
        self.fields["is_active"] = fields.Field("is_active", "启用", YesNoWidget("启用"))
        self.fields["units"] = ScopedManyField(
            "units",
            "所属单位编码",
            CodesWidget(Unit, "所属单位编码", units_in_scope),
            keep_outside=lambda units: units.exclude(district__in=self.districts),
        )
        self.fields["groups"] = ScopedManyField(
            "groups",
            "角色",
            RolesWidget(),
            keep_outside=lambda groups: groups.exclude(name__in=ROLES),
        )
        self.fields["reviewed_districts"] = ScopedManyField(
            "reviewed_districts",
            "审核的区编码",
            CodesWidget(District, "审核的区编码", self.districts),
            keep_outside=lambda districts: districts.exclude(pk__in=self.districts),
        )

    class Meta:
        model = get_user_model()
        fields = ("username", "first_name", "email", "is_active", "units", "groups")
        import_id_fields = ("username",)
        clean_model_instances = True

    def get_export_queryset(self, request=None, **kwargs):
        return (
            get_user_model()
            .objects.order_by("username")
            .prefetch_related("units", "groups", "reviewed_districts")
        )

    def after_init_instance(self, instance, new, row, **kwargs) -> None:
        if new:
            instance.set_unusable_password()

    def check_row(self, instance, row) -> dict:
        if instance.is_superuser:
            return {"username": f"用户名：“{instance.username}”是超级管理员，不能通过导入修改。"}
        if self.actor is not None:
            if instance.pk is not None and instance.pk == self.actor.pk:
                return {"username": f"用户名：{roles.REFUSE_SELF}"}
            refusal = roles.management_refusal(self.actor, instance)
            if refusal:
                return {"username": f"用户名：“{instance.username}”：{refusal}"}
        try:
            names = {group.name for group in self.fields["groups"].clean(row)}
        except ValueError:
            return {}  # the column's own error is reported already
        before = roles.rights_of(instance)
        after = replace(before, roles=frozenset(names))
        admin_changed = (ROLE_ADMIN in before.roles) != (ROLE_ADMIN in after.roles)
        if self.actor is not None and not self.actor.is_superuser and admin_changed:
            return {"groups": f"角色：{roles.REFUSE_ADMIN_GRANT}"}
        refusal = roles.combination_refusal(after.roles, instance.is_superuser)
        if refusal:
            return {"groups": f"角色：{refusal}"}
        return {}

    def save_m2m(self, instance, row, **kwargs):
        before = roles.rights_of(instance) if self.actor is not None else None
        super().save_m2m(instance, row, **kwargs)
        if self.actor is not None:
            roles.log_changes(self.actor, instance, before, roles.rights_of(instance))
