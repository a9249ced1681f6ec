"""The two kinds of form one engine serves, and everything in which they differ.

A unit files one 部门（单位）整体支出绩效自评表 a year and one 项目支出绩效自评表 per
project. Both are a budget block, the year's goals and a three-level indicator
table, filled in two phases and reviewed the same way. What differs — the title
and labels, the budget block's lines and columns, whether that block scores, which
fields each phase opens, the template that draws it — is described here, once per
kind, as a `Layout`. Everything else reads `evaluation.layout` and never asks which
kind it has.

This module imports no model: `evaluations.models` reads it.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models


class FormKind(models.TextChoices):
    OVERALL = "overall", "部门（单位）整体支出"
    PROJECT = "project", "项目支出"


class BudgetLineKind(models.TextChoices):
    FISCAL = "fiscal", "财政拨款"
    OTHER = "other", "其他资金"
    BASIC = "basic", "基本支出"
    PROJECT = "project", "项目支出"
    CARRYOVER = "carryover", "上年结转资金"


@dataclass(frozen=True)
class Balance:
    """Two sets of budget lines whose sums must agree, column by column (the overall
    form's sources and structure are two views of the same money)."""

    label: str
    left: tuple[str, ...]
    left_label: str
    right: tuple[str, ...]
    right_label: str


@dataclass(frozen=True)
class Layout:
    kind: str
    title: str
    # The official table's partial; the page, the entry preview and the PDF's
    # drawing of the same blocks follow it.
    template: str
    # The PDF's document (evaluations/pdf.py): pdf.html draws the overall form, and the
    # project form's extends it with the blocks in which it differs.
    pdf_template: str
    # 整体支出规模（元）/ 项目资金（元）: its lines in the form's order, with their
    # labels, and the money columns it shows, as (field, heading).
    budget_heading: str
    budget_lines: tuple[tuple[str, str], ...]
    budget_columns: tuple[tuple[str, str], ...]
    balances: tuple[Balance, ...] = ()
    # The project form's 年度资金总额: a line summed from the others, with 分值 and a
    # 得分 computed from its 执行率 that counts towards 总分.
    budget_total_label: str = ""
    # Where a fault of a budget line says which block it is in.
    budget_fault_label: str = ""
    shows_weight: bool = True
    # What a 一级's 分值 are checked against, in its faults, and its heading on the
    # entry page.
    weight_label: str = "权重"
    weight_heading: str = "权重"
    # The entry page's head block (the form's identity) and what its help says to
    # fill in each phase.
    entry_head_template: str = "evaluations/entry/_head_overall.html"
    entry_help: dict = field(default_factory=dict)
    target_text_label: str = "年初设定目标"
    result_text_label: str = "全年完成情况"
    actual_label: str = "全年完成值"
    reason_label: str = "偏差及原因分析"
    indicator_heading: str = "分解目标自评"
    total_label: str = "总得分"
    grade_label: str = "评价等级"
    # The budget line that the unit's project forms of the year account for (the
    # overall form's 项目支出): the table page shows their sums beside it, as
    # information. Blank: the form has no such line.
    accounted_by_projects: str = ""
    # Which fields the unit fills in which phase, by model name (see
    # `Evaluation.editable_fields`); the data-entry forms, the admin and the save
    # guard all read it.
    phase_fields: dict = field(default_factory=dict)

    @property
    def budget_kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.budget_lines)

    @property
    def scores_budget(self) -> bool:
        return bool(self.budget_total_label)

    def budget_label(self, kind: str) -> str:
        return dict(self.budget_lines)[kind]

    @property
    def indicator_heads(self) -> tuple[str, ...]:
        """The indicator table's column heads, in the order every drawing uses."""
        weight = ("权重",) if self.shows_weight else ()
        heads = ("一级指标", *weight, "二级指标", "三级指标", "年度指标值", self.actual_label)
        return heads + ("分值", "得分", self.reason_label)


_INDICATOR_TARGETS = ("position", "name", "target_comparator", "target_number", "target_unit")
_INDICATOR_TARGETS += ("target_label", "points")
_INDICATOR_RESULTS = ("actual_number", "actual_unit", "actual_label", "score", "deviation_reason")

OVERALL = Layout(
    kind=FormKind.OVERALL,
    title="部门（单位）整体支出绩效自评表",
    template="evaluations/_official_table.html",
    pdf_template="evaluations/pdf.html",
    budget_heading="整体支出规模（元）",
    budget_lines=(
        (BudgetLineKind.FISCAL, "资金来源：（1）财政拨款"),
        (BudgetLineKind.OTHER, "（2）其他资金"),
        (BudgetLineKind.BASIC, "资金结构：（1）基本支出"),
        (BudgetLineKind.PROJECT, "（2）项目支出"),
    ),
    budget_columns=(("budget_amount", "全年预算数"), ("executed_amount", "全年执行数")),
    balances=(
        Balance(
            label="整体支出规模",
            left=(BudgetLineKind.FISCAL, BudgetLineKind.OTHER),
            left_label="资金来源合计（财政拨款+其他资金）",
            right=(BudgetLineKind.BASIC, BudgetLineKind.PROJECT),
            right_label="资金结构合计（基本支出+项目支出）",
        ),
    ),
    budget_fault_label="整体支出规模",
    accounted_by_projects=BudgetLineKind.PROJECT,
    entry_help={
        "targets": "年初目标：填写全年预算数、年初设定目标、下属单位个数，以及各项指标的年度指标值和"
        "分值；可增删、调整三级指标。全年完成值和得分在年初目标审核通过后填写。",
        "results": "年末自评：年初目标已审核，只读。请填写全年执行数、全年完成情况，以及各项指标的"
        "全年完成值、得分；得分低于分值的，须填写偏差及原因分析。",
    },
    phase_fields={
        "targets": {
            "evaluation": ("subordinate_unit_count", "target_text"),
            "budgetline": ("budget_amount",),
            "indicatorgroup": ("position", "name", "weight", "note"),
            "indicatorcategory": ("position", "name"),
            "indicator": _INDICATOR_TARGETS,
        },
        "results": {
            "evaluation": ("result_text",),
            "budgetline": ("executed_amount",),
            "indicator": _INDICATOR_RESULTS,
        },
    },
)

PROJECT = Layout(
    kind=FormKind.PROJECT,
    title="项目支出绩效自评表",
    template="evaluations/_project_table.html",
    pdf_template="evaluations/pdf_project.html",
    budget_heading="项目资金（元）",
    budget_lines=(
        (BudgetLineKind.FISCAL, "其中：当年财政拨款"),
        (BudgetLineKind.CARRYOVER, "上年结转资金"),
        (BudgetLineKind.OTHER, "其他资金"),
    ),
    budget_columns=(
        ("initial_budget_amount", "年初预算数"),
        ("budget_amount", "全年预算数"),
        ("executed_amount", "全年执行数"),
    ),
    budget_total_label="年度资金总额",
    budget_fault_label="项目资金",
    # The 一级 shares (产出 50, 效益 30, 满意度 10) are not printed; they stay the
    # template's data and what each 一级's 分值 must add up to.
    shows_weight=False,
    weight_label="指标库设定的一级指标分值",
    weight_heading="分值",
    entry_head_template="evaluations/entry/_head_project.html",
    entry_help={
        "targets": "年初目标：填写各资金来源的年初预算数、预期目标，以及各项指标的年度指标值和分值；"
        "可增删、调整三级指标。全年预算数、全年执行数、实际完成值和得分在年初目标审核通过后填写。",
        "results": "年末自评：年初目标已审核，只读。请填写全年预算数、全年执行数、实际完成情况，"
        "以及各项指标的实际完成值、得分；得分低于分值的，须填写偏差原因分析及改进措施。"
        "年度资金总额的得分按执行率自动计算。",
    },
    target_text_label="预期目标",
    result_text_label="实际完成情况",
    actual_label="实际完成值",
    reason_label="偏差原因分析及改进措施",
    indicator_heading="绩效指标",
    total_label="总分",
    grade_label="自评等级",
    # 年初预算数 is known when the targets are set; the year's adjusted 全年预算数
    # only at its end, with what was spent.
    phase_fields={
        "targets": {
            "evaluation": ("target_text",),
            "budgetline": ("initial_budget_amount",),
            "indicatorgroup": ("position", "name", "weight"),
            "indicatorcategory": ("position", "name"),
            "indicator": _INDICATOR_TARGETS,
        },
        "results": {
            "evaluation": ("result_text",),
            "budgetline": ("budget_amount", "executed_amount"),
            "indicator": _INDICATOR_RESULTS,
        },
    },
)

LAYOUTS = {OVERALL.kind: OVERALL, PROJECT.kind: PROJECT}

# The national default (财预〔2020〕10号): budget execution carries 10 of a project
# form's 100 points; a year's 指标库 may set another share.
DEFAULT_BUDGET_POINTS = Decimal("10.00")
