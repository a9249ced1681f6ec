from django.contrib import admin

from .models import Indicator, IndicatorCategory, IndicatorGroup


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
