from django.contrib import admin

from indicators.models import IndicatorGroup

from .models import BudgetLine, District, Evaluation, Unit


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]
    filter_horizontal = ["reviewers"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "parent", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    list_select_related = ["parent", "district"]
    autocomplete_fields = ["parent"]
    filter_horizontal = ["staff"]


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
