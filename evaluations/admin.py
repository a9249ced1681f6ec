"""The admin of 管理员. It reaches evaluations only through `for_user()`; a field is
editable only while the evaluation's phase opens it (`Evaluation.editable_fields`);
a save carries the version the page was read at and is refused if someone saved since."""

from dataclasses import replace

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.forms.models import ModelChoiceIterator
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.safestring import mark_safe
from import_export.admin import ImportExportMixin
from import_export.forms import SelectableFieldsExportForm
from simple_history.admin import SimpleHistoryAdmin

from indicators.models import IndicatorGroup

from . import roles, views, workflow
from .forms import NUMBER_FIELDS
from .models import (
    Attachment,
    BudgetLine,
    District,
    Evaluation,
    Extension,
    FilingWindow,
    Project,
    Reminder,
    ReminderPoint,
    ReviewComment,
    ReviewEvent,
    StaleVersion,
    Unit,
    clean_rich_text,
)
from .resources import ProjectResource, UnitResource, UserResource, districts_open_to_import
from .roles import ROLE_PARENT_REVIEWER, ROLE_STAFF, ROLES
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
    """Saves inside `workflow.changing`, which checks and raises the version."""

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
        # Who may write here is the admin's model permissions (the 管理员 group).
        with workflow.changing(
            self.evaluation_of(form.instance),
            by=request.user,
            expected_version=form.cleaned_data["expected_version"],
        ):
            form.instance.save()
            super().save_related(request, form, formsets, change)

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


class ColumnNamedExportForm(SelectableFieldsExportForm):
    """The export's choice of columns, each named as its column in the workbook
    (单位编码) rather than by its field in English (Code (单位编码))."""

    def _get_field_label(self, resource, field_name: str) -> str:
        field = resource().fields.get(field_name)
        return field.column_name if field else field_name


class XlsxImportExportMixin(ImportExportMixin):
    """Admin import and export through xlsx only, scoped to the importer's districts,
    with the file's faults in Chinese, each at its row of the workbook."""

    import_formats = [SafeXLSX]
    export_formats = [SafeXLSX]
    export_form_class = ColumnNamedExportForm
    import_template_name = "admin/evaluations/import.html"
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


class ReachCheckedAdmin(admin.ModelAdmin):
    """A model whose many-to-many field of users gives a role its reach (区·审核人,
    部门（单位）·填报人): nobody adds or removes themselves, a 管理员 no superuser and no
    other 管理员, and every change is logged on the user concerned (`roles`)."""

    reach_field: str

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        field_name, actor = self.reach_field, request.user

        class ReachCheckedForm(form_class):
            def clean(self):
                cleaned_data = super().clean()
                if field_name not in cleaned_data:
                    return cleaned_data
                saved = set(getattr(self.instance, field_name).all()) if self.instance.pk else set()
                for user in sorted(saved ^ set(cleaned_data[field_name]), key=lambda u: u.pk):
                    if user.pk == actor.pk:
                        self.add_error(field_name, roles.REFUSE_SELF)
                    elif refusal := roles.management_refusal(actor, user):
                        self.add_error(field_name, f"{user.get_username()}：{refusal}")
                return cleaned_data

        return ReachCheckedForm

    def save_related(self, request, form, formsets, change):
        field_name = self.reach_field
        saved = set(getattr(form.instance, field_name).all()) if change else set()
        affected = saved ^ set(form.cleaned_data.get(field_name, saved))
        before = {user.pk: roles.rights_of(user) for user in affected}
        super().save_related(request, form, formsets, change)
        for user in affected:
            roles.log_changes(request.user, user, before[user.pk], roles.rights_of(user))


@admin.register(District)
class DistrictAdmin(ReachCheckedAdmin):
    list_display = ["code", "name", "parent_review"]
    search_fields = ["code", "name"]
    filter_horizontal = ["reviewers"]
    reach_field = "reviewers"


@admin.register(Unit)
class UnitAdmin(XlsxImportExportMixin, ReachCheckedAdmin):
    resource_classes = [UnitResource]
    list_display = ["code", "name", "parent", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    list_select_related = ["parent", "district"]
    autocomplete_fields = ["parent"]
    filter_horizontal = ["staff"]
    reach_field = "staff"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if "staff" in form_class.base_fields:
            field = form_class.base_fields["staff"]
            # A 主管部门's members include its 主管部门审核人 (the first level of review).
            roles = Q(groups__name__in=[ROLE_STAFF, ROLE_PARENT_REVIEWER])
            offered = roles | Q(units=obj) if obj else roles

            class StaffChoices(ModelChoiceIterator):
                """Offers 填报人 and 主管部门审核人 (and whoever the unit already has):
                district reviewers and 管理员 belong to no unit. The field still accepts
                any user, so that adding someone else is refused in words by the checks
                of `ReachCheckedAdmin`."""

                def __init__(self, field):
                    super().__init__(field)
                    self.queryset = self.queryset.filter(offered).distinct()

            field.iterator = StaffChoices
            field.widget.choices = field.choices
        return form_class


@admin.register(Project)
class ProjectAdmin(XlsxImportExportMixin, admin.ModelAdmin):
    """Projects of the units in the user's districts (`districts_open_to_import`), as
    units are scoped for their import: the list, the form's 实施单位 and the import."""

    resource_classes = [ProjectResource]
    formfield_overrides = NUMBER_FIELDS
    list_display = ["code", "name", "unit", "supervisor", "first_year", "last_year"]
    list_filter = ["unit__district", "first_year"]
    search_fields = ["code", "name", "unit__code", "unit__name"]
    list_select_related = ["unit", "unit__parent"]
    autocomplete_fields = ["unit"]

    @admin.display(description="主管部门", ordering="unit__parent__code")
    def supervisor(self, project: Project) -> str:
        return project.unit.parent.name if project.unit.parent else "—"

    def get_queryset(self, request):
        districts = districts_open_to_import(request.user)
        return super().get_queryset(request).filter(unit__district__in=districts)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit":
            kwargs["queryset"] = Unit.objects.filter(
                district__in=districts_open_to_import(request.user)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(XlsxImportExportMixin, DjangoUserAdmin):
    """Django's user admin, plus import and export of users with their units,
    roles and reviewed districts. Importing users can grant roles: superusers only.

    Separation of duties (`roles`): nobody changes their own rights; a 管理员 who is
    not a superuser leaves superusers and other 管理员 alone (shown read-only) and
    grants neither 管理员 nor superuser; one role per user; every grant is logged."""

    resource_classes = [UserResource]
    list_display = ["username", "first_name", "role", "reach", "email", "is_active"]
    list_filter = ["groups", "is_active", "is_staff", "is_superuser"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).prefetch_related("groups", "units", "reviewed_districts")
        )

    @admin.display(description="角色")
    def role(self, user) -> str:
        names = [group.name for group in user.groups.all() if group.name in ROLES]
        if user.is_superuser:
            names.append("超级管理员")
        return "、".join(names) or "—"

    @admin.display(description="所属单位 / 审核的区")
    def reach(self, user) -> str:
        names = [unit.name for unit in user.units.all()]
        names += [f"{district.name}（审核）" for district in user.reviewed_districts.all()]
        return "、".join(names) or "—"

    def has_import_permission(self, request) -> bool:
        return request.user.is_superuser

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {**super().get_resource_kwargs(request, *args, **kwargs), "actor": request.user}

    # Only a superuser makes a superuser or gives permissions one by one.
    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        actor = request.user

        class RightsCheckedForm(form_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                if self.instance.pk is not None and self.instance.pk == actor.pk:
                    for name in ("groups", "is_staff", "is_superuser"):  # said before it is tried
                        if name in self.fields:
                            self.fields[name].help_text = roles.REFUSE_SELF

            def clean(self):
                cleaned_data = super().clean()
                target = self.instance if self.instance.pk else None
                before = roles.rights_of(target)
                after = before
                if "groups" in self.fields and "groups" in cleaned_data:
                    names = {group.name for group in cleaned_data["groups"]}
                    after = replace(after, roles=frozenset(names & set(ROLES)))
                for flag in ("is_staff", "is_superuser"):
                    if flag in self.fields and flag in cleaned_data:
                        after = replace(after, **{flag: cleaned_data[flag]})
                refusal = roles.change_refusal(actor, target, before, after)
                if refusal:
                    raise forms.ValidationError(refusal, code="separation_of_duties")
                return cleaned_data

        return RightsCheckedForm

    def save_model(self, request, obj, form, change):
        form.rights_before = roles.rights_of(obj if change else None)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        roles.log_changes(
            request.user, form.instance, form.rights_before, roles.rights_of(form.instance)
        )

    # A superuser or another 管理员 is shown read-only to a 管理员; a change posted
    # anyway, or a new password, is refused in words.
    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            self._refuse_protected(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def user_change_password(self, request, id, form_url=""):
        self._refuse_protected(request, id)
        return super().user_change_password(request, id, form_url)

    def delete_view(self, request, object_id, extra_context=None):
        self._refuse_protected(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def _refuse_protected(self, request, object_id) -> None:
        refusal = roles.management_refusal(
            request.user, self.get_object(request, unquote(object_id))
        )
        if refusal:
            raise PermissionDenied(refusal)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not roles.is_protected_from(
            request.user, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not roles.is_protected_from(
            request.user, obj
        )


class BudgetLineInline(PhaseInline, admin.TabularInline):
    model = BudgetLine
    extra = 0
    max_num = len(BudgetLine.Kind)

    def evaluation_of(self, parent: Evaluation) -> Evaluation:
        return parent

    def get_fields(self, request, obj=None):
        # The money columns of this kind of form (no 年初预算数 on the overall form).
        if obj is None:
            return super().get_fields(request, obj)
        return ["kind", *(name for name, _ in obj.layout.budget_columns)]

    # An evaluation has its budget lines from its creation: none to add or remove.
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
class EvaluationAdmin(SimpleHistoryAdmin, VersionCheckedAdmin):
    """Its 历史 page is the field history of the form itself (its rows have theirs);
    nothing is reverted from there: a change goes through the phase rules and the
    version like any other."""

    form = EvaluationForm
    list_display = ["unit", "project", "year", "kind", "phase", "status", "updated_at"]
    list_filter = ["year", "kind", "phase", "status", "unit__district"]
    search_fields = ["unit__name", "unit__code", "project__name", "project__code"]
    list_select_related = ["unit", "project"]
    autocomplete_fields = ["unit"]
    inlines = [BudgetLineInline, IndicatorGroupInline]

    change_form_template = "admin/evaluations/evaluation/change_form.html"

    def evaluation_of(self, obj: Evaluation) -> Evaluation:
        return obj

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=evaluations_for(request).values("pk"))

    def get_urls(self):
        # The entry page's old addresses, from when it lived in the admin: bookmarks and
        # mailed links keep working. Not wrapped in `admin_view` (填报人 are not staff).
        return [
            path(
                "<int:evaluation_id>/entry/",
                views.entry_moved,
                {"name": "evaluation_entry"},
                name="evaluations_evaluation_entry",
            ),
            path(
                "<int:evaluation_id>/entry/preview/",
                views.entry_moved,
                {"name": "evaluation_entry_preview"},
                name="evaluations_evaluation_entry_preview",
            ),
            *super().get_urls(),
        ]

    # The goal texts are rich text (paragraphs), edited on the entry page: here they
    # are shown as the form prints them, never as their tags.
    exclude = list(Evaluation.RICH_TEXT_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj) or list(Evaluation.WORKFLOW_FIELDS)
        fields = [name for name in fields if name not in Evaluation.RICH_TEXT_FIELDS]
        # What kind of form it is, and of which project, is set when it starts.
        fixed = [name for name in ("kind", "project", "budget_points") if name not in fields]
        return [*fields, *fixed, "target_text_shown", "result_text_shown"]

    @admin.display(description="年初设定目标")
    def target_text_shown(self, evaluation: Evaluation) -> str:
        return mark_safe(clean_rich_text(evaluation.target_text))

    @admin.display(description="全年完成情况")
    def result_text_shown(self, evaluation: Evaluation) -> str:
        return mark_safe(clean_rich_text(evaluation.result_text))

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_view(self, request, object_id, extra_context=None):
        get_object_or_404(self.get_queryset(request), pk=unquote(object_id))
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("历史版本只能查看，不能恢复。")
        get_object_or_404(self.get_queryset(request), pk=unquote(object_id))
        return super().history_form_view(request, object_id, version_id, extra_context)


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


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """佐证材料 as 管理员 look them up: read-only (files come and go on the table page,
    under the phase rules), without the file itself (downloads pass the access check)."""

    list_display = ["uploaded_at", "evaluation", "row_label", "category", "title", "file_name"]
    list_filter = ["category"]
    list_select_related = ["evaluation__unit", "evaluation__project"]
    exclude = ["file"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(evaluation__in=evaluations_for(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FilingWindow)
class FilingWindowAdmin(admin.ModelAdmin):
    """The district notice's dates, per year, phase and kind of form."""

    list_display = ["year", "district", "kind", "phase", "opens_on", "due_on", "grace_days"]
    list_filter = ["year", "district", "kind", "phase"]
    list_select_related = ["district"]


@admin.register(ReminderPoint)
class ReminderPointAdmin(admin.ModelAdmin):
    """The reminder schedule, the same for every window."""

    list_display = ["__str__", "anchor", "days"]


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    """延期: granted here or on the site's 延期办理 page; a log, never changed or removed."""

    list_display = ["created_at", "unit", "window", "until", "reason", "granted_by"]
    list_filter = ["window__year", "window__district"]
    list_select_related = ["unit", "window__district", "granted_by"]
    fields = ["window", "unit", "until", "reason"]
    autocomplete_fields = ["unit"]

    def save_model(self, request, obj, form, change):
        obj.granted_by = request.user
        super().save_model(request, obj, form, change)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """What went to whom: scheduled reminders and 催办, written only by the app."""

    list_display = ["created_at", "unit", "window", "point", "sent_by"]
    list_filter = ["window__year", "window__district", "point"]
    list_select_related = ["unit", "window__district", "point", "sent_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
