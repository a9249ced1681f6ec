from django.contrib import admin

from evaluations.admin import XlsxImportExportMixin

from .models import Indicator, IndicatorCategory, IndicatorGroup, IndicatorTemplate
from .resources import IndicatorTemplateResource


class IndicatorCategoryInline(admin.TabularInline):
    model = IndicatorCategory
    extra = 0
    show_change_link = True


@admin.register(IndicatorGroup)
class IndicatorGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "weight", "evaluation"]
    list_select_related = ["evaluation__unit"]
    inlines = [IndicatorCategoryInline]


class IndicatorInline(admin.StackedInline):
    model = Indicator
    extra = 0


@admin.register(IndicatorCategory)
class IndicatorCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "group"]
    list_select_related = ["group__evaluation__unit"]
    inlines = [IndicatorInline]


@admin.register(IndicatorTemplate)
class IndicatorTemplateAdmin(XlsxImportExportMixin, admin.ModelAdmin):
    resource_classes = [IndicatorTemplateResource]
    scoped_to_districts = False  # the template is the same for every district
    list_display = [
        "year",
        "group_name",
        "group_weight",
        "category_name",
        "name",
        "base_share",
        "points",
        "default_target",
    ]
    list_filter = ["year", "group_name"]
    search_fields = ["group_name", "category_name", "name"]
