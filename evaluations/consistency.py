"""The consistency check of one evaluation: every fault in Chinese, pointing at its row.

It reads the form's tree, which `build_table` computes once for the page, the PDF,
the workbook, the entry page's preview, the import preview and submission; it runs
no query.
"""

from dataclasses import dataclass
from decimal import Decimal

from indicators.scoring import QUALITATIVE_BANDS, round_score

from .kinds import Layout
from .models import BudgetLine, Evaluation
from .numbers import HUNDRED, amount, two_places, whole_or_two_places

TOTAL_WEIGHT = HUNDRED  # the 一级 weights add up to 100
BUDGET_ANCHOR = "budget"
TOTAL_ANCHOR = "indicator-total"


@dataclass(frozen=True)
class Fault:
    anchor: str
    message: str


def find_faults(table) -> list[Fault]:
    """The faults of a form's tree (`evaluations.table.build_table`), saved or not.
    得分 and 全年完成值 are expected only in the results phase (年末自评)."""
    groups = [(group.group, [row.indicator for row in group.rows]) for group in table.groups]
    budget_lines = [row.line for row in table.budget_rows]
    layout = table.layout
    return _budget_faults(budget_lines, layout) + _indicator_faults(
        groups, table.evaluation.phase, layout, table.indicator_share
    )


def _budget_faults(budget_lines: list[BudgetLine], layout: Layout) -> list[Fault]:
    lines = {line.kind: line for line in budget_lines}
    faults = []
    # Line by line first: sources can equal structure while one line spends money it
    # was never given, or more than it was given.
    for kind in layout.budget_kinds:
        line = lines.get(kind)
        if line is None or line.executed_amount <= line.budget_amount:
            continue
        label = f"{layout.budget_fault_label}·{line.get_kind_display()}"
        if not line.budget_amount:
            message = (
                f"{label}：全年预算数为 0，全年执行数却有 {amount(line.executed_amount)}，"
                "请核对预算数或执行数。"
            )
        else:
            message = (
                f"{label}：全年执行数 {amount(line.executed_amount)}"
                f" 超过全年预算数 {amount(line.budget_amount)}"
                f"（执行率 {two_places(line.execution_rate)}%），请核对或说明。"
            )
        faults.append(Fault(line.anchor, message))
    for balance in layout.balances:
        for field, label in (("budget_amount", "全年预算数"), ("executed_amount", "全年执行数")):

            def total(kinds: tuple[str, ...], field: str = field) -> Decimal:
                return sum(
                    (getattr(lines[kind], field) for kind in kinds if kind in lines),
                    Decimal("0.00"),
                )

            left, right = total(balance.left), total(balance.right)
            if left != right:
                faults.append(
                    Fault(
                        BUDGET_ANCHOR,
                        f"{balance.label}·{label}：{balance.left_label}{amount(left)}"
                        f" 与{balance.right_label}{amount(right)} 不一致，"
                        f"相差 {amount(abs(left - right))}。",
                    )
                )
    return faults


def _indicator_faults(
    groups: list[tuple], phase: str, layout: Layout, indicator_share: Decimal
) -> list[Fault]:
    faults = []
    for group, indicators in groups:
        points = sum((indicator.points for indicator in indicators), Decimal("0"))
        if points != group.weight:
            faults.append(
                Fault(
                    group.anchor,
                    f"一级指标“{group.name}”：各指标分值合计 {whole_or_two_places(points)}，"
                    f"与{layout.weight_label} {whole_or_two_places(group.weight)} 不一致。",
                )
            )
        for indicator in indicators:
            faults.extend(_row_faults(indicator, phase, layout))
    total_weight = sum((group.weight for group, _ in groups), Decimal("0"))
    if total_weight != indicator_share:
        if layout.scores_budget:
            # The shares are not printed on the project form; the points are.
            message = (
                f"各一级指标分值合计 {whole_or_two_places(total_weight)}，应为"
                f" {whole_or_two_places(indicator_share)}（总分 100，"
                f"其中{layout.budget_total_label} {whole_or_two_places(TOTAL_WEIGHT - indicator_share)}）。"
            )
        else:
            message = f"各一级指标权重合计 {whole_or_two_places(total_weight)}，应为 100。"
        faults.append(Fault(TOTAL_ANCHOR, message))
    return faults


def _row_faults(indicator, phase: str, layout: Layout) -> list[Fault]:
    name = indicator.name or indicator.category.name
    faults = []
    if phase == Evaluation.Phase.RESULTS:
        if not indicator.target.is_empty and indicator.actual.is_empty:
            faults.append(Fault(indicator.anchor, f"“{name}”：请填写{layout.actual_label}。"))
        if indicator.score is None:
            faults.append(Fault(indicator.anchor, f"“{name}”：请填写得分。"))
    if indicator.score is None:
        return faults
    if indicator.score > indicator.points:
        faults.append(
            Fault(
                indicator.anchor,
                f"“{name}”：得分 {two_places(indicator.score)} 超过分值 {two_places(indicator.points)}。",
            )
        )
    elif (band := _qualitative_band(indicator)) and not band[0] <= indicator.score <= band[1]:
        low, high = band
        faults.append(
            Fault(
                indicator.anchor,
                f"“{name}”：{layout.actual_label}为“{indicator.actual.label}”，得分应在分值的"
                f"{_band_text(indicator.actual.label)}（{two_places(low)}–{two_places(high)}）之间，"
                f"现为 {two_places(indicator.score)}。",
            )
        )
    if indicator.score < indicator.points and not indicator.deviation_reason.strip():
        faults.append(
            Fault(
                indicator.anchor,
                f"“{name}”：得分 {two_places(indicator.score)} 低于分值 {two_places(indicator.points)}，"
                f"请填写{layout.reason_label}。",
            )
        )
    return faults


def _qualitative_band(indicator) -> tuple[Decimal, Decimal] | None:
    """The 得分 a qualitative result allows (达成 80–100 %, 部分达成 60–80 %, 未达成
    0–60 % of 分值), or None for a quantitative row or an unknown label."""
    if indicator.target.is_quantitative or indicator.actual.label not in QUALITATIVE_BANDS:
        return None
    low, high, _ = QUALITATIVE_BANDS[indicator.actual.label]
    return round_score(indicator.points * low), round_score(indicator.points * high)


def _band_text(label: str) -> str:
    low, high, _ = QUALITATIVE_BANDS[label]
    return f"{(low * 100).normalize():f}%–{(high * 100).normalize():f}%"
