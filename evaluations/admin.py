from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from import_export.admin import ImportExportMixin

from indicators.models import IndicatorGroup

from .models import BudgetLine, District, Evaluation, Unit
from .resources import UnitResource, UserResource, districts_open_to_import
from .xlsx import SafeXLSX, WorkbookError


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


class BudgetLineInline(admin.TabularInline):
    model = BudgetLine
    extra = 0
    max_num = len(BudgetLine.Kind)


class IndicatorGroupInline(admin.TabularInline):
    model = IndicatorGroup
    extra = 0
    show_change_link = True
    fields = ["position", "name", "weight", "note"]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["unit", "year", "status", "updated_at"]
    list_filter = ["year", "status", "unit__district"]
    search_fields = ["unit__name", "unit__code"]
    list_select_related = ["unit"]
    autocomplete_fields = ["unit"]
    inlines = [BudgetLineInline, IndicatorGroupInline]
