"""The admin of 管理员. It reaches evaluations only through `for_user()`; a field is
editable only while the evaluation's phase opens it (`Evaluation.editable_fields`);
a save carries the version the page was read at and is refused if someone saved since."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.urls import path
from import_export.admin import ImportExportMixin

from indicators.models import IndicatorGroup

from . import views, workflow
from .forms import NUMBER_FIELDS
from .models import (
    BudgetLine,
    District,
    Evaluation,
    ReviewComment,
    ReviewEvent,
    StaleVersion,
    Unit,
)
from .resources import UnitResource, UserResource, districts_open_to_import
from .xlsx import SafeXLSX, WorkbookError


def evaluations_for(request):
    return Evaluation.objects.for_user(request.user)


def fields_closed_by_phase(evaluation: Evaluation | None, model: type[models.Model]) -> list[str]:
    """The editable-looking fields of `model` that the evaluation's phase keeps closed."""
    if evaluation is None:
        return []
    open_fields = set(evaluation.editable_fields(model))
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in open_fields
    ]


def evaluation_is_open(evaluation: Evaluation | None) -> bool:
    return evaluation is None or evaluation.status in Evaluation.EDITABLE_STATUSES


class VersionCheckedForm(forms.ModelForm):
    """Carries the evaluation's version from the page to the save (a second tab, or a
    colleague, may have saved in between)."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        evaluation = self.evaluation()
        if evaluation is not None:
            self.fields["expected_version"].initial = evaluation.version

    def evaluation(self) -> Evaluation | None:
        raise NotImplementedError

    def clean(self):
        cleaned_data = super().clean()
        evaluation = self.evaluation()
        if evaluation is not None:
            current = Evaluation.objects.select_for_update().values_list("version", flat=True)
            if cleaned_data.get("expected_version") != current.get(pk=evaluation.pk):
                raise forms.ValidationError(StaleVersion().message)
        return cleaned_data


class VersionCheckedAdmin(admin.ModelAdmin):
    """Saves through `workflow.save_changes`, which checks and raises the version."""

    formfield_overrides = NUMBER_FIELDS

    def evaluation_of(self, obj) -> Evaluation | None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()  # a new evaluation: nothing to be stale against yet
        # A change is saved in save_related, together with its inlines.

    def save_related(self, request, form, formsets, change):
        """The object and its inline rows in one version-checked write: a change made
        in an inline raises the version too, so an older tab's save is refused."""
        if not change:
            super().save_related(request, form, formsets, change)
            return
        save_inlines = super().save_related

        def apply(locked: Evaluation) -> None:
            form.instance.save()
            save_inlines(request, form, formsets, change)

        workflow.save_changes(
            self.evaluation_of(form.instance),
            by=request.user,
            expected_version=form.cleaned_data["expected_version"],
            apply=apply,
        )

    def get_readonly_fields(self, request, obj=None):
        return fields_closed_by_phase(self.evaluation_of(obj), self.model) if obj else []

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and evaluation_is_open(
            self.evaluation_of(obj) if obj else None
        )

    def has_delete_permission(self, request, obj=None):
        evaluation = self.evaluation_of(obj) if obj else None
        return super().has_delete_permission(request, obj) and (
            evaluation is None or evaluation.rows_can_be_added
        )


class PhaseInline:
    """An inline whose rows follow the phase of the evaluation `evaluation_of(parent)`."""

    formfield_overrides = NUMBER_FIELDS

    def evaluation_of(self, parent) -> Evaluation | None:
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        evaluation = self.evaluation_of(obj) if obj else None
        return fields_closed_by_phase(evaluation, self.model)

    def has_add_permission(self, request, obj=None):
        evaluation = self.evaluation_of(obj) if obj else None
        return super().has_add_permission(request, obj) and (
            evaluation is None or evaluation.rows_can_be_added
        )

    def has_delete_permission(self, request, obj=None):
        evaluation = self.evaluation_of(obj) if obj else None
        return super().has_delete_permission(request, obj) and (
            evaluation is None or evaluation.rows_can_be_added
        )


class XlsxImportExportMixin(ImportExportMixin):
    """Admin import and export through xlsx only, scoped to the importer's districts,
    with the file's faults in Chinese."""

    import_formats = [SafeXLSX]
    export_formats = [SafeXLSX]
    scoped_to_districts = True

    def get_resource_kwargs(self, request, *args, **kwargs):
        if self.scoped_to_districts:
            return {"districts": districts_open_to_import(request.user)}
        return {}

    def add_data_read_fail_error_to_form(self, form, error):
        if isinstance(error, WorkbookError):
            form.add_error("import_file", str(error))
        else:
            form.add_error(
                "import_file", "无法读取该文件，请上传用 Excel 或 WPS 保存的 .xlsx 文件。"
            )


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    filter_horizontal = ["reviewers"]


@admin.register(Unit)
class UnitAdmin(XlsxImportExportMixin, admin.ModelAdmin):
    resource_classes = [UnitResource]
    list_display = ["code", "name", "parent", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    list_select_related = ["parent", "district"]
    autocomplete_fields = ["parent"]
    filter_horizontal = ["staff"]


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(XlsxImportExportMixin, DjangoUserAdmin):
    """Django's user admin, plus import and export of users with their units,
    roles and reviewed districts. Importing users can grant roles: superusers only."""

    resource_classes = [UserResource]

    def has_import_permission(self, request) -> bool:
        return request.user.is_superuser

    # 管理员 keep users, but only a superuser makes or touches a superuser: otherwise
    # a 管理员 could tick is_superuser on themselves or reset a superuser's password
    # (Django's password page asks has_change_permission for that user).
    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not self._guards_superuser(
            request, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not self._guards_superuser(
            request, obj
        )

    def _guards_superuser(self, request, obj) -> bool:
        return obj is not None and obj.is_superuser and not request.user.is_superuser


class BudgetLineInline(PhaseInline, admin.TabularInline):
    model = BudgetLine
    extra = 0
    max_num = len(BudgetLine.Kind)

    def evaluation_of(self, parent: Evaluation) -> Evaluation:
        return parent

    # An evaluation has its four lines from its creation: none to add or remove.
    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class IndicatorGroupInline(PhaseInline, admin.TabularInline):
    model = IndicatorGroup
    extra = 0
    show_change_link = True
    fields = ["position", "name", "weight", "note"]

    def evaluation_of(self, parent: Evaluation) -> Evaluation:
        return parent


class EvaluationForm(VersionCheckedForm):
    def evaluation(self) -> Evaluation | None:
        return self.instance if self.instance.pk else None


@admin.register(Evaluation)
class EvaluationAdmin(VersionCheckedAdmin):
    form = EvaluationForm
    list_display = ["unit", "year", "phase", "status", "updated_at"]
    list_filter = ["year", "phase", "status", "unit__district"]
    search_fields = ["unit__name", "unit__code"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]
    inlines = [BudgetLineInline, IndicatorGroupInline]

    change_form_template = "admin/evaluations/evaluation/change_form.html"

    def evaluation_of(self, obj: Evaluation) -> Evaluation:
        return obj

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=evaluations_for(request).values("pk"))

    def get_urls(self):
        # The entry page lives in the admin but is not wrapped in `admin_view`: 填报人
        # reach it without being `is_staff`, and see no other admin page.
        # Access is the views' own (`get_evaluation_for_user`, `can_fill`).
        return [
            path(
                "<int:evaluation_id>/entry/",
                views.evaluation_entry,
                name="evaluations_evaluation_entry",
            ),
            path(
                "<int:evaluation_id>/entry/preview/",
                views.evaluation_entry_preview,
                name="evaluations_evaluation_entry_preview",
            ),
            *super().get_urls(),
        ]

    def get_readonly_fields(self, request, obj=None):
        return super().get_readonly_fields(request, obj) or list(Evaluation.WORKFLOW_FIELDS)


class ReviewCommentInline(admin.TabularInline):
    model = ReviewComment
    extra = 0
    fields = ["row_label", "text"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReviewEvent)
class ReviewEventAdmin(admin.ModelAdmin):
    """The review history: read by 管理员, written only by the workflow."""

    list_display = ["created_at", "evaluation", "action", "phase", "from_status", "to_status"]
    list_filter = ["action", "phase"]
    list_select_related = ["evaluation__unit", "actor"]
    inlines = [ReviewCommentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(evaluation__in=evaluations_for(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
