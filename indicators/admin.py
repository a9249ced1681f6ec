from django.contrib import admin

from evaluations.admin import (
    PhaseInline,
    VersionCheckedAdmin,
    VersionCheckedForm,
    XlsxImportExportMixin,
    evaluations_for,
)
from evaluations.forms import NUMBER_FIELDS

from .models import (
    BudgetPoints,
    EvidenceRules,
    Indicator,
    IndicatorCategory,
    IndicatorGroup,
    IndicatorTemplate,
)
from .resources import IndicatorTemplateResource


class IndicatorCategoryInline(PhaseInline, admin.TabularInline):
    model = IndicatorCategory
    extra = 0
    show_change_link = True

    def evaluation_of(self, group: IndicatorGroup):
        return group.evaluation


class IndicatorGroupForm(VersionCheckedForm):
    def evaluation(self):
        return self.instance.evaluation if self.instance.pk else None


@admin.register(IndicatorGroup)
class IndicatorGroupAdmin(VersionCheckedAdmin):
    form = IndicatorGroupForm
    list_display = ["name", "weight", "evaluation"]
    list_select_related = ["evaluation__unit"]
    inlines = [IndicatorCategoryInline]

    def evaluation_of(self, group: IndicatorGroup):
        return group.evaluation

    def has_add_permission(self, request) -> bool:
        # Rows are added on the entry page or in their evaluation's inline, under the
        # evaluation's version and phase; a free-standing add page would bypass both.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(evaluation__in=evaluations_for(request))


class IndicatorInline(PhaseInline, admin.StackedInline):
    model = Indicator
    extra = 0
    exclude = ["review_score", "review_opinion"]

    def evaluation_of(self, category: IndicatorCategory):
        return category.group.evaluation


class IndicatorCategoryForm(VersionCheckedForm):
    def evaluation(self):
        return self.instance.group.evaluation if self.instance.pk else None


@admin.register(IndicatorCategory)
class IndicatorCategoryAdmin(VersionCheckedAdmin):
    form = IndicatorCategoryForm
    list_display = ["name", "group"]
    list_select_related = ["group__evaluation__unit"]
    inlines = [IndicatorInline]

    def evaluation_of(self, category: IndicatorCategory):
        return category.group.evaluation

    def has_add_permission(self, request) -> bool:
        return False  # as for 一级: added on the entry page or in its 一级's inline

    def get_queryset(self, request):
        return super().get_queryset(request).filter(group__evaluation__in=evaluations_for(request))


@admin.register(IndicatorTemplate)
class IndicatorTemplateAdmin(XlsxImportExportMixin, admin.ModelAdmin):
    resource_classes = [IndicatorTemplateResource]
    scoped_to_districts = False  # the template is the same for every district
    formfield_overrides = NUMBER_FIELDS
    list_display = [
        "form_kind",
        "year",
        "group_name",
        "group_weight",
        "category_name",
        "name",
        "base_share",
        "points",
        "default_target",
        "evidence_required",
    ]
    list_filter = ["form_kind", "year", "group_name"]
    search_fields = ["group_name", "category_name", "name"]


@admin.register(BudgetPoints)
class BudgetPointsAdmin(admin.ModelAdmin):
    """项目资金分值 per year: what a project form started that year copies as its
    年度资金总额's 分值 (10 where a year has none)."""

    formfield_overrides = NUMBER_FIELDS
    list_display = ["year", "points"]


@admin.register(EvidenceRules)
class EvidenceRulesAdmin(admin.ModelAdmin):
    """Per kind of form and year: which rows need evidence beyond those the 指标库 marks."""

    list_display = ["form_kind", "year", "below_points", "satisfaction"]
    list_filter = ["form_kind"]
