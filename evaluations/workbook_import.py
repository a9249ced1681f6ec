"""Importing an official-table workbook into an evaluation open for editing: reading it,
what would change, row by row, and then applying it in one transaction.

`read_workbook` reads a sheet drawn by `workbook.render_xlsx` back, as Excel or WPS
saved it, into plain data of the same shape as `demo.sample_data()` (decimals as
strings, so it can wait in the database between preview and confirm). It reads what
people see: a merged cell's value sits in its top-left cell and the rows below carry
it on, so rows added inside a merged block or below it, unmerged and refilled cells,
and blank padding rows all read the way they look. Every fault is collected, in
Chinese, with its sheet, row and column. `imported_tree` turns that data into the
form's tree, which the preview compares with the stored one and `apply_upload` writes.

Rows are matched by their names — 一级, then 二级 inside it, then 三级 inside that,
the n-th of equal names with the n-th — so an edited value is a change of that row,
a new name is a row added and a missing name a row removed. Matched rows keep
their ids. Unchanged goal texts keep their stored rich text; a changed one becomes
a paragraph per line.

It reads the sheet of the evaluation's kind (`READERS`, and the layout's labels and
columns). The figures the form computes — 执行率, the project form's 年度资金总额, the
合计 / 总分 row — are not imported; what the file prints of them is kept beside the
data and compared with the computation (`printed_findings`): each difference is
shown on the preview.

Between preview and confirmation the parsed data waits in a `WorkbookUpload` row,
with a fingerprint of the evaluation as it was previewed: confirming after the
evaluation changed is refused, so what is applied is what was shown.
"""

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup
from indicators.values import ValueParseError, format_value, parse_value

from . import workflow
from .kinds import LAYOUTS, OVERALL, PROJECT, Layout
from .models import MAX_AMOUNT, Evaluation, EvaluationError, WorkbookUpload
from .numbers import amount, two_places, whole_or_two_places
from .table import (
    CategoryBlock,
    GroupBlock,
    Row,
    Structure,
    Table,
    build_table,
    changed_fields,
    remember,
    save_tree,
    saved_budget_lines,
    saved_structure,
)
from .text import REASON_MAX_LENGTH, RICH_TEXT_MAX_LENGTH, TextError, check_text, parse_two_places
from .workbook import (
    BUDGET_HEAD_ROW,
    COLUMN_HEAD_ROW,
    GOAL_HEAD_ROW,
    HEADER_ROW,
    MAX_INDICATOR_ROWS,
    MAX_SHEET_ROWS,
    NOT_SCORED,
    SHEET_LAYOUTS,
    SHEET_LIMITS,
    SHEET_TITLE,
    YEAR_ROW,
    plain_text_to_rich,
    rich_text_to_plain,
)
from .xlsx import WorkbookError, load_workbook

UPLOAD_LIFETIME = timedelta(days=1)
# How much of a computed figure's cell that holds text the preview quotes.
PRINTED_TEXT_SHOWN = 40


def indicator_fields(layout: Layout) -> tuple[tuple[str, str], ...]:
    """An indicator row's fields the workbook carries, with the form's column heads."""
    return (
        ("target", "年度指标值"),
        ("actual", layout.actual_label),
        ("points", "分值"),
        ("score", "得分"),
        ("deviation_reason", layout.reason_label),
    )


class ImportRefused(Exception):
    """The import cannot go ahead; the message says why, in Chinese."""


def check_open_to_import(evaluation: Evaluation) -> None:
    if evaluation.status not in Evaluation.EDITABLE_STATUSES:
        raise ImportRefused(
            f"该自评表当前为“{evaluation.state_display}”，只有草稿或已退回的自评表可以导入。"
        )


# ---------------------------------------------------------------- reading the workbook


@dataclass
class ReadResult:
    data: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, sheet: Worksheet, layout: Layout) -> None:
        self.sheet = sheet
        self.layout = layout
        self.heads = layout.indicator_heads
        self.columns = SHEET_LAYOUTS[layout.kind].columns(layout)
        self.errors: list[str] = []
        # The figures the form computes, as the file prints them: compared with the
        # computation, never imported (`printed_findings`). By key: [row, text].
        self.printed: dict[str, list] = {}
        # Every value of the table's columns, taken once from the cells the
        # file holds. `sheet.cell()` would create each cell it is asked for, so a
        # lone cell at row 1,048,576 would make millions of them.
        self.values: dict[tuple[int, int], object] = {}
        for (row, column), cell in sheet._cells.items():
            value = cell.value
            if isinstance(value, str):
                value = value.strip() or None
            if column <= len(self.heads) and value is not None:
                self.values[row, column] = value
        # The real extent, whatever dimension the file declares: WPS sometimes
        # writes "A1" over a full sheet.
        self.last_row = max((row for row, _column in self.values), default=0)
        self.note_cells: set[tuple[int, int]] = set()
        for cells in sheet.merged_cells.ranges:
            if cells.max_row > cells.min_row:
                self.note_cells.add((cells.min_row, cells.min_col))

    def where(self, row: int, column: int | None = None) -> str:
        place = f"工作表“{self.sheet.title}”第 {row} 行"
        if column:
            place += f" {get_column_letter(column)} 列"
            if self.heads_row and column <= len(self.heads) and row > self.heads_row:
                place += f"（{self.heads[column - 1]}）"
        return place

    heads_row: int | None = None

    def fail(self, row: int, column: int | None, message: str) -> None:
        self.errors.append(f"{self.where(row, column)}：{message}")

    def value(self, row: int, column: int):
        return self.values.get((row, column))

    def text(self, row: int, column: int) -> str:
        value = self.value(row, column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).replace("\r\n", "\n").replace("\r", "\n")

    def decimal(
        self,
        row: int,
        column: int,
        label: str,
        *,
        required: bool = False,
        maximum: Decimal = MAX_AMOUNT,
    ) -> Decimal | None:
        value = self.value(row, column)
        if value is None:
            if required:
                self.fail(row, column, f"{label}不能为空，请填写数字。")
            return None
        if isinstance(value, bool):
            self.fail(row, column, f"{label}应为数字。")
            return None
        if not isinstance(value, int | float | Decimal):
            value = str(value)  # text in a number cell: read by the one grammar
        try:
            return parse_two_places(value, label, maximum=maximum, tolerance=Decimal("0.000001"))
        except ValueError as error:
            self.fail(row, column, str(error))
            return None

    def check(
        self, row: int, column: int, text: str, label: str, max_length: int, multiline=False
    ) -> None:
        """The text rules of the field the cell fills (`evaluations.text`)."""
        try:
            check_text(text, label, max_length=max_length, multiline=multiline)
        except TextError as error:
            self.fail(row, column, str(error))

    def keep_printed(self, key: str, row: int, column: int) -> None:
        """Notes a computed figure as printed: a number as its decimal, anything else
        (86.19%, —) as its text; a blank cell prints nothing."""
        value = self.value(row, column)
        if value is None or value == NOT_SCORED:
            return
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            text = str(Decimal(str(value)))
        else:
            text = self.text(row, column)
            if len(text) > PRINTED_TEXT_SHOWN:  # the preview quotes it, not a page of it
                text = text[:PRINTED_TEXT_SHOWN] + "…"
        self.printed[key] = [row, text]

    def find_row(self, label: str, start: int = 1, column: int = 1) -> int | None:
        for row in range(start, self.last_row + 1):
            value = self.value(row, column)
            if isinstance(value, str) and value.replace(" ", "") == label:
                return row
        return None


def _find_sheet(workbook) -> Worksheet:
    if SHEET_TITLE in workbook.sheetnames:
        return workbook[SHEET_TITLE]
    return workbook.worksheets[0]


def read_workbook(content: bytes, layout: Layout = OVERALL) -> ReadResult:
    """Reads a workbook of the form `layout` describes (the evaluation's)."""
    try:
        workbook = load_workbook(content, read_only=False, limits=SHEET_LIMITS)
    except WorkbookError as error:
        return ReadResult(errors=[str(error)])
    reader = _Reader(_find_sheet(workbook), layout)
    if reader.last_row > MAX_SHEET_ROWS:
        return ReadResult(
            errors=[
                f"工作表“{reader.sheet.title}”第 {reader.last_row:,} 行仍有内容，"
                f"超出自评表的范围（最多 {MAX_SHEET_ROWS:,} 行，"
                f"其中指标最多 {MAX_INDICATOR_ROWS:,} 行）。请删除表格下方多余的内容后再上传。"
            ]
        )
    title = reader.text(1, 1)
    for other in LAYOUTS.values():
        if other is not layout and f"《{other.title}》" in title:
            return ReadResult(
                errors=[
                    f"工作簿是《{other.title}》，本表是《{layout.title}》，"
                    "请上传本表下载的 Excel 文件。"
                ]
            )
    data = {}
    _read_year(reader, data)
    READERS[layout.kind](reader, data)
    _read_goals(reader, data)
    _read_indicators(reader, data)
    data["printed"] = reader.printed
    return ReadResult(data=data, errors=reader.errors)


def _read_year(reader: _Reader, data: dict) -> None:
    data["year"] = None
    for row in range(1, min(reader.last_row, HEADER_ROW + 5) + 1):
        match = re.search(r"[（(]\s*(\d{4})\s*年度\s*[)）]", reader.text(row, 1))
        if match:
            data["year"] = int(match[1])
            break
    if data["year"] is None:
        reader.fail(YEAR_ROW, 1, "找不到年度（应为“(2023年度)”的形式）。")


def _read_overall_top(reader: _Reader, data: dict) -> None:
    _read_overall_header(reader, data)
    _read_overall_budget(reader, data)


def _read_overall_header(reader: _Reader, data: dict) -> None:
    row = reader.find_row("部门（单位）名称")
    if row is None:
        reader.fail(HEADER_ROW, 1, "找不到“部门（单位）名称”。这不是本系统导出的自评表格式。")
        data["unit_name"], data["subordinate_unit_count"] = "", None
        return
    data["unit_name"] = reader.text(row, 2)
    count = reader.decimal(row, 9, "下属单位个数", required=True)
    if count is not None and count != count.to_integral_value():
        reader.fail(row, 9, "下属单位个数应为整数。")
        count = None
    data["subordinate_unit_count"] = int(count) if count is not None else None


def _read_overall_budget(reader: _Reader, data: dict) -> None:
    data["budget"] = {}
    head = reader.find_row("整体支出规模（元）")
    if head is None:
        reader.fail(BUDGET_HEAD_ROW, 1, "找不到“整体支出规模（元）”。")
        return
    keywords = {kind: str(label).split("）")[-1] for kind, label in OVERALL.budget_lines}
    for row in range(head + 1, head + 12):
        label = reader.text(row, 2)
        if reader.text(row, 1) and row > head + 1 and reader.text(row, 1) != "整体支出规模（元）":
            break
        kind = next((kind for kind, word in keywords.items() if word and word in label), None)
        if kind is None or kind in data["budget"]:
            continue
        budget = reader.decimal(row, 5, f"{label}·全年预算数", required=True)
        executed = reader.decimal(row, 7, f"{label}·全年执行数", required=True)
        data["budget"][kind] = [str(budget or "0.00"), str(executed or "0.00")]
        data.setdefault("budget_rows", {})[kind] = row
        reader.keep_printed(f"rate:{kind}", row, 9)
    for kind in OVERALL.budget_kinds:
        if kind not in data["budget"]:
            reader.fail(head, 1, f"整体支出规模缺少“{OVERALL.budget_label(kind)}”一行。")


def _read_project_top(reader: _Reader, data: dict) -> None:
    """项目名称, 主管部门 and 实施单位; then 项目资金（元）: its lines' three amounts,
    and what the file prints of the figures computed from them."""
    layout = reader.layout
    row = reader.find_row("项目名称")
    if row is None:
        reader.fail(HEADER_ROW, 1, "找不到“项目名称”。这不是本系统导出的项目支出绩效自评表格式。")
        data["project_name"] = data["unit_name"] = ""
    else:
        data["project_name"] = reader.text(row, 2)
        row = reader.find_row("主管部门", start=row)
        data["unit_name"] = reader.text(row, 6) if row else ""
    data["budget"] = {}
    head = reader.find_row(layout.budget_heading)
    if head is None:
        reader.fail(BUDGET_HEAD_ROW, 1, f"找不到“{layout.budget_heading}”。")
        return
    keywords = {kind: label.removeprefix("其中：") for kind, label in layout.budget_lines}
    amounts = list(enumerate(layout.budget_columns, start=3))
    for row in range(head + 1, head + 12):
        label = reader.text(row, 2)
        if reader.text(row, 1) and reader.text(row, 1) != layout.budget_heading:
            break
        if label == layout.budget_total_label:
            for column, (name, _) in amounts:
                reader.keep_printed(f"total:{name}", row, column)
            reader.keep_printed("total:points", row, 6)
            reader.keep_printed("total:rate", row, 7)
            reader.keep_printed("total:score", row, 8)
            continue
        kind = next((kind for kind, word in keywords.items() if word and word in label), None)
        if kind is None or kind in data["budget"]:
            continue
        data["budget"][kind] = [
            str(reader.decimal(row, column, f"{label}·{heading}", required=True) or "0.00")
            for column, (_, heading) in amounts
        ]
        data.setdefault("budget_rows", {})[kind] = row
        reader.keep_printed(f"rate:{kind}", row, 7)
    for kind in layout.budget_kinds:
        if kind not in data["budget"]:
            reader.fail(
                head, 1, f"{layout.budget_fault_label}缺少“{layout.budget_label(kind)}”一行。"
            )


# What is above the goals, by kind of form.
READERS = {OVERALL.kind: _read_overall_top, PROJECT.kind: _read_project_top}


def _read_goals(reader: _Reader, data: dict) -> None:
    data["target_text"] = data["result_text"] = ""
    head = reader.find_row("年度总体目标")
    if head is None:
        reader.fail(GOAL_HEAD_ROW, 1, "找不到“年度总体目标”。")
        return
    labels = (reader.layout.target_text_label, reader.layout.result_text_label)
    columns = {}
    for column in range(2, len(reader.heads) + 1):
        label = reader.text(head, column)
        if label in labels:
            columns[label] = column
    if len(columns) < 2:
        reader.fail(head, None, "年度总体目标应有“{}”和“{}”两栏。".format(*labels))
        return
    row = head + 1
    while row < head + 20 and not any(reader.text(row, column) for column in columns.values()):
        if reader.text(row, 1) and reader.text(row, 1) != "年度总体目标":
            break
        row += 1
    for key, label in zip(("target_text", "result_text"), labels, strict=True):
        data[key] = reader.text(row, columns[label])
        reader.check(row, columns[label], data[key], label, RICH_TEXT_MAX_LENGTH, multiline=True)


def _read_indicators(reader: _Reader, data: dict) -> None:
    data["groups"] = []
    heads, c = reader.heads, reader.columns
    heading = reader.layout.indicator_heading
    total_label = SHEET_LAYOUTS[reader.layout.kind].total_row_label
    heads_row = reader.find_row("一级指标")
    if heads_row is None:
        reader.fail(COLUMN_HEAD_ROW, 1, f"找不到{heading}的列名行（第一列为“一级指标”）。")
        return
    found = tuple(reader.text(heads_row, column) for column in range(1, len(heads) + 1))
    if tuple(text.replace(" ", "") for text in found) != heads:
        reader.fail(
            heads_row,
            None,
            "列名应依次为“"
            + "、".join(heads)
            + "”，实际为“"
            + "、".join(text or "（空）" for text in found)
            + "”。请勿增删或调换列。",
        )
        return
    reader.heads_row = heads_row
    group = category = None
    count = 0
    for row in range(heads_row + 1, reader.last_row + 1):
        values = [reader.value(row, column) for column in range(1, len(heads) + 1)]
        if all(value is None for value in values):
            continue  # blank padding, or the lower part of merged cells only
        if reader.text(row, 1).replace(" ", "") == total_label:
            reader.keep_printed("sum:points", row, c["points"])
            reader.keep_printed("sum:score", row, c["score"])
            break
        count += 1
        if count > MAX_INDICATOR_ROWS:
            reader.fail(row, None, f"指标超过 {MAX_INDICATOR_ROWS} 行，请检查文件。")
            return
        group_name, category_name = reader.text(row, 1), reader.text(row, c["category"])
        # The project form prints no 权重: its 一级 keep the shares they have.
        shows_weight = "weight" in c
        weight = reader.decimal(row, 2, "权重", maximum=Decimal("100")) if shows_weight else None
        if group_name and (group is None or group_name != group["name"]):
            if shows_weight and weight is None and reader.value(row, 2) is None:
                reader.fail(row, 2, f"一级指标“{group_name}”未填写权重。")
            elif shows_weight and weight is not None and weight <= 0:
                reader.fail(row, 2, f"一级指标“{group_name}”的权重应大于 0。")
            group = {
                "name": group_name,
                "weight": str(weight) if weight is not None else ("0" if shows_weight else None),
                "note": "",
                "row": row,
                "categories": [],
            }
            data["groups"].append(group)
            category = None
            # The 三级 column merged down a whole 一级 is its note (投入管理).
            if (row, c["name"]) in reader.note_cells and reader.text(row, c["name"]):
                group["note"] = reader.text(row, c["name"])
            reader.check(row, 1, group_name, "一级指标名称", 100)
            reader.check(row, c["name"], group["note"], "三级指标说明", 300)
        elif group is None:
            reader.fail(row, 1, "第一行指标必须填写一级指标名称。")
            continue
        elif weight is not None and str(weight) != group["weight"]:
            reader.fail(
                row,
                2,
                f"权重 {weight} 与一级指标“{group['name']}”第 {group['row']} 行的权重 "
                f"{group['weight']} 不一致（一个一级指标只有一个权重）。",
            )
        if category_name and (category is None or category_name != category["name"]):
            category = {"name": category_name, "row": row, "indicators": []}
            reader.check(row, c["category"], category_name, "二级指标名称", 100)
            group["categories"].append(category)
        elif category is None:
            reader.fail(
                row, c["category"], f"一级指标“{group['name']}”下的第一行必须填写二级指标名称。"
            )
            continue
        name = "" if group["note"] else reader.text(row, c["name"])
        category["indicators"].append(_read_indicator_row(reader, row, name))


def _read_indicator_row(reader: _Reader, row: int, name: str) -> dict:
    c, reason_label = reader.columns, reader.layout.reason_label
    values = {}
    for key, comparator in (("target", True), ("actual", False)):
        column = c[key]
        try:
            values[key] = format_value(
                parse_value(reader.text(row, column), allow_comparator=comparator)
            )
        except ValueParseError as error:
            reader.fail(row, column, str(error))
            values[key] = ""
    points = reader.decimal(row, c["points"], "分值", required=True, maximum=Decimal("100"))
    score = reader.decimal(row, c["score"], "得分", maximum=Decimal("100"))
    if points is not None and score is not None and score > points:
        reader.fail(row, c["score"], f"得分 {score} 超过分值 {points}。")
    reader.check(row, c["name"], name, "三级指标名称", 200)
    reason = reader.text(row, c["reason"])
    reader.check(row, c["reason"], reason, reason_label, REASON_MAX_LENGTH, multiline=True)
    return {
        "name": name,
        "target": values["target"],
        "actual": values["actual"],
        "points": str(points) if points is not None else "0.00",
        "score": str(score) if score is not None else None,
        "deviation_reason": reason,
        "row": row,
    }


# ---------------------------------------------------------------- the workbook as a tree


def fingerprint(evaluation: Evaluation) -> str:
    """The evaluation as previewed (expects `with_table()`)."""
    return build_table(evaluation).fingerprint()


def imported_tree(evaluation: Evaluation, data: dict) -> tuple[Table, list]:
    """The tree of `evaluation` (from `with_table()`) as it would be with the workbook's
    `data`: its own rows carry the workbook's values, in memory; rows the workbook adds
    are new; the rows it no longer has are returned to be removed. Each object keeps
    the workbook row it came from in `workbook_row`, for the preview."""
    budget_lines = saved_budget_lines(evaluation)
    structure = saved_structure(evaluation)
    for obj in [evaluation, *budget_lines]:
        remember(obj)
    if "subordinate_unit_count" in data:  # the overall form's header
        evaluation.subordinate_unit_count = data["subordinate_unit_count"]
    for key in ("target_text", "result_text"):
        # Unchanged goal texts keep their stored rich text.
        if data[key] != rich_text_to_plain(getattr(evaluation, key)):
            setattr(evaluation, key, plain_text_to_rich(data[key]))
    columns = [name for name, _ in evaluation.layout.budget_columns]
    for line in budget_lines:
        for name, value in zip(columns, data["budget"][line.kind], strict=True):
            setattr(line, name, Decimal(value))
        line.workbook_row = data.get("budget_rows", {}).get(line.kind)

    removed = []
    stored_groups = _keyed(structure, lambda pair: pair[0].name)
    imported: Structure = []
    for position, (key, group_data) in enumerate(_by_name(data["groups"]).items(), start=1):
        group, stored_categories = stored_groups.pop(key, (None, []))
        group = remember(group) if group else IndicatorGroup(evaluation=evaluation)
        group.position, group.name, group.note = position, group_data["name"], group_data["note"]
        group.workbook_row = group_data.get("row")
        categories, gone = _imported_categories(group, stored_categories, group_data["categories"])
        if group_data["weight"] is not None:
            group.weight = Decimal(group_data["weight"])
        elif group.pk is None:
            # A 一级 the project form's workbook adds: its share is what its rows carry.
            group.weight = sum((row.points for _, rows in categories for row in rows), Decimal(0))
        imported.append((group, categories))
        removed += gone
    for group, categories in stored_groups.values():
        # The workbook draws no 一级 without rows: such a group is not missing from it.
        if any(indicators for _, indicators in categories):
            removed.append(group)
        else:
            imported.append((group, categories))
    table = build_table(evaluation, budget_lines=budget_lines, structure=imported)
    return table, removed


def _imported_categories(group: IndicatorGroup, stored: list, categories_data: list):
    stored_categories = _keyed(stored, lambda pair: pair[0].name)
    categories, removed = [], []
    for position, (key, category_data) in enumerate(_by_name(categories_data).items(), start=1):
        category, stored_rows = stored_categories.pop(key, (None, []))
        category = remember(category) if category else IndicatorCategory(group=group)
        category.position, category.name = position, category_data["name"]
        name_of = (lambda indicator: "") if group.note else (lambda indicator: indicator.name)
        stored_indicators = _keyed(stored_rows, name_of)
        indicators = []
        for row_position, (row_key, row) in enumerate(
            _by_name(category_data["indicators"]).items(), start=1
        ):
            indicator = stored_indicators.pop(row_key, None)
            indicator = remember(indicator) if indicator else Indicator(category=category)
            indicator.position = row_position
            indicator.name = row["name"]
            indicator.target = row["target"]
            indicator.actual = row["actual"]
            indicator.points = Decimal(row["points"])
            indicator.score = Decimal(row["score"]) if row["score"] is not None else None
            indicator.deviation_reason = row["deviation_reason"]
            indicator.workbook_row = row.get("row")
            indicators.append(indicator)
        removed += stored_indicators.values()
        categories.append((category, indicators))
    for category, indicators in stored_categories.values():
        if indicators:
            removed.append(category)
        else:
            categories.append((category, indicators))
    return categories, removed


def check_identity(evaluation: Evaluation, data: dict) -> list[str]:
    """A workbook of another unit or year is refused, never merged in."""
    errors = []
    project = evaluation.project if evaluation.project_id else None
    if project and data.get("project_name") and data["project_name"] != project.name:
        errors.append(
            f"工作簿的项目名称为“{data['project_name']}”，与本自评表的项目“{project.name}”"
            "不一致，请确认上传的是本项目的自评表。"
        )
    if data.get("unit_name") and data["unit_name"] != evaluation.unit.name:
        errors.append(
            f"工作簿的部门（单位）名称为“{data['unit_name']}”，与本自评表的单位"
            f"“{evaluation.unit.name}”不一致，请确认上传的是本单位的自评表。"
        )
    if data.get("year") and data["year"] != evaluation.year:
        errors.append(
            f"工作簿的年度为 {data['year']} 年，本自评表为 {evaluation.year} 年，请确认文件。"
        )
    return errors


# ---------------------------------------------------------------- preview


@dataclass
class Change:
    action: str  # 新增 · 修改 · 删除
    section: str
    label: str
    row: int | None = None
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # label, old, new


def _keyed(items: list, name_of) -> dict:
    """Items by (name, occurrence): the n-th of equal names pairs with the n-th."""
    seen: Counter = Counter()
    keyed = {}
    for item in items:
        name = name_of(item)
        keyed[(name, seen[name])] = item
        seen[name] += 1
    return keyed


def _by_name(items: list) -> dict:
    return _keyed(items, lambda item: item["name"])


def preview(evaluation: Evaluation, data: dict) -> list[Change]:
    """What applying `data` would change, in the table's order: the stored tree and
    the imported one, compared node by node."""
    old = build_table(evaluation)
    new, removed = imported_tree(Evaluation.objects.with_table().get(pk=evaluation.pk), data)
    before, after = old.evaluation, new.evaluation
    layout = evaluation.layout
    section, fields_of_row = layout.indicator_heading, indicator_fields(layout)
    changes = []
    if before.subordinate_unit_count != after.subordinate_unit_count:
        changes.append(
            Change(
                "修改",
                "表头",
                "下属单位个数",
                fields=[
                    (
                        "下属单位个数",
                        str(before.subordinate_unit_count),
                        str(after.subordinate_unit_count),
                    )
                ],
            )
        )
    for old_line, new_line in zip(old.budget_rows, new.budget_rows, strict=True):
        fields = [
            (label, amount(getattr(old_line, name)), amount(getattr(new_line, name)))
            for name, label in layout.budget_columns
            if getattr(old_line, name) != getattr(new_line, name)
        ]
        if fields:
            changes.append(Change("修改", layout.budget_fault_label, new_line.label, fields=fields))
    goal_labels = (layout.target_text_label, layout.result_text_label)
    for key, label in zip(("target_text", "result_text"), goal_labels, strict=True):
        old_text = rich_text_to_plain(getattr(before, key))
        new_text = rich_text_to_plain(getattr(after, key))
        if old_text != new_text:
            fields = _paragraph_changes(label, old_text, new_text)
            changes.append(Change("修改", "年度总体目标", label, fields=fields))

    old_groups = {group.group.pk: group for group in old.groups}
    for group in new.groups:
        stored = old_groups.get(group.group.pk)
        label = f"一级指标 {group.name}"
        row = getattr(group.group, "workbook_row", None)
        if stored is None:
            changes.append(
                Change(
                    "新增",
                    section,
                    label,
                    row,
                    [("权重", "", whole_or_two_places(group.weight))],
                )
            )
            continue
        fields = []
        if stored.weight != group.weight:
            fields.append(
                ("权重", whole_or_two_places(stored.weight), whole_or_two_places(group.weight))
            )
        if stored.note != group.note:
            fields.append(("三级指标说明", stored.note, group.note))
        if fields:
            changes.append(Change("修改", section, label, row, fields))
    removed_groups = {obj.pk for obj in removed if isinstance(obj, IndicatorGroup)}
    for group in old.groups:
        if group.group.pk in removed_groups:
            changes.append(Change("删除", section, f"一级指标 {group.name}"))

    old_rows = {row.indicator.pk: (group, row) for group in old.groups for row in group.rows}
    kept = set()
    for group in new.groups:
        for category in group.categories:
            for row in category.rows:
                label = _row_label(group, category, row)
                workbook_row = getattr(row.indicator, "workbook_row", None)
                stored = old_rows.get(row.indicator.pk)
                if stored is None:
                    fields = [(title, "", _shown(row, name)) for name, title in fields_of_row]
                    changes.append(
                        Change("新增", section, label, workbook_row, [f for f in fields if f[2]])
                    )
                    continue
                kept.add(row.indicator.pk)
                fields = [
                    (title, _shown(stored[1], name), _shown(row, name))
                    for name, title in fields_of_row
                    if _shown(stored[1], name) != _shown(row, name)
                ]
                if fields:
                    changes.append(Change("修改", section, label, workbook_row, fields))
    for group in old.groups:
        for category in group.categories:
            for row in category.rows:
                if row.indicator.pk not in kept:
                    fields = [(title, _shown(row, name), "") for name, title in fields_of_row]
                    changes.append(
                        Change(
                            "删除",
                            section,
                            _row_label(group, category, row),
                            fields=[f for f in fields if f[1]],
                        )
                    )
    return changes


def _row_label(group: GroupBlock, category: CategoryBlock, row: Row) -> str:
    return " / ".join([group.name, category.name] + ([row.name] if row.name else []))


def _paragraph_changes(label: str, old: str, new: str) -> list[tuple[str, str, str]]:
    """Only the paragraphs that differ: goal texts run to pages."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    fields = []
    for operation, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if operation == "equal":
            continue
        first, last = new_start + 1, max(new_end, new_start + 1)
        place = f"第 {first} 段" if last == first else f"第 {first}–{last} 段"
        fields.append(
            (
                f"{label}·{place}",
                "\n".join(old_lines[old_start:old_end]),
                "\n".join(new_lines[new_start:new_end]),
            )
        )
    return fields


def _shown(row: Row, field: str) -> str:
    """A row's field as the form prints it: 分值 and 得分 with two decimals."""
    value = getattr(row, field)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return two_places(value)
    return str(value)


# ---------------------------------------------------------------- what the file prints otherwise


@dataclass
class Finding:
    """A figure the form computes that the file prints otherwise: shown, not imported."""

    row: int | None
    message: str


def printed_findings(evaluation: Evaluation, data: dict) -> list[Finding]:
    """Each figure the system computes — every 执行率, the project form's 年度资金总额
    (its sums, 分值 and 得分), and the 合计 / 总分 row — that the workbook prints
    otherwise. None of them is imported: they follow from the amounts and scores
    that are. A difference is said, with both figures, so that nobody takes the
    file's figure for the form's; a blank cell prints nothing and is not compared."""
    printed = data.get("printed") or {}
    if not printed:
        return []
    table, _ = imported_tree(Evaluation.objects.with_table().get(pk=evaluation.pk), data)
    layout = table.layout
    by_amounts = "按金额计算"
    # (key, where, what, computed, its format, how it is computed)
    expected = [
        (
            f"rate:{row.line.kind}",
            f"{layout.budget_fault_label}·{row.label}",
            "执行率",
            row.execution_rate,
            two_places,
            by_amounts,
        )
        for row in table.budget_rows
    ]
    total = table.budget_total
    if total is not None:
        where = f"{layout.budget_fault_label}·{total.label}"
        for name, heading in layout.budget_columns:
            computed = getattr(total, name)
            expected.append((f"total:{name}", where, heading, computed, amount, "按其中各行合计"))
        expected += [
            ("total:points", where, "分值", total.points, whole_or_two_places, "本表（指标库）"),
            ("total:rate", where, "执行率", total.execution_rate, two_places, by_amounts),
            ("total:score", where, "得分", total.score, two_places, "按执行率计算"),
        ]
    row_label = SHEET_LAYOUTS[layout.kind].total_row_label
    score_basis = f"按各指标得分与{total.label}得分合计" if total else "按各指标得分合计"
    expected += [
        (
            "sum:points",
            row_label,
            "总分值",
            table.total_points,
            whole_or_two_places,
            "按各项分值合计",
        ),
        (
            "sum:score",
            row_label,
            layout.total_label,
            table.total_score if table.has_scores else None,
            whole_or_two_places,
            score_basis,
        ),
    ]
    findings = []
    for key, where, what, computed, shown, basis in expected:
        if key not in printed:
            continue
        row, text = printed[key]
        if _same_figure(text, computed):
            continue
        findings.append(
            Finding(
                row,
                f"{where}：文件中{what}为 {text}，{basis}为 {shown(computed) or '—'}"
                "（该数字不导入，以计算结果为准）。",
            )
        )
    return findings


def _same_figure(text: str, computed: Decimal | None) -> bool:
    if computed is None:
        return False
    try:
        return Decimal(text) == computed
    except ArithmeticError:  # 86.19%, a word: not the figure
        return False


# ---------------------------------------------------------------- what the phase keeps closed


def locked_changes(evaluation: Evaluation, table: Table, removed: list) -> list[str]:
    """Every change of the imported `table` that the stored `evaluation`'s phase and
    status keep closed (`Evaluation.editable_fields`), one line per workbook row: what
    confirming would refuse, said before anyone confirms."""
    lines = []
    layout = evaluation.layout
    # The fields of a 年度指标值 or 全年完成值 are one cell of the workbook.
    field_labels = {"target_": "年度指标值", "actual_": layout.actual_label}

    def check(obj, where: str, row: int | None = None) -> None:
        place = f"第 {row} 行 {where}" if row else where
        if obj.pk is None:
            if not evaluation.rows_can_be_added:
                lines.append(f"{place}：新增行")
            return
        allowed = evaluation.editable_fields(obj._meta.model_name)
        refused = []
        for name in changed_fields(obj):
            if name in allowed:
                continue
            label = next(
                (text for prefix, text in field_labels.items() if name.startswith(prefix)),
                str(obj._meta.get_field(name).verbose_name),
            )
            if label not in refused:
                refused.append(label)
        if refused:
            lines.append(f"{place}：" + "、".join(f"“{label}”" for label in refused))

    check(table.evaluation, "表头和年度总体目标")
    for line in table.budget_rows:
        where = f"{layout.budget_fault_label} {line.label}"
        check(line.line, where, getattr(line.line, "workbook_row", None))
    for group in table.groups:
        check(group.group, f"一级指标 {group.name}", getattr(group.group, "workbook_row", None))
        for category in group.every_category:
            check(category.category, f"二级指标 {group.name} / {category.name}")
            for row in category.rows:
                check(
                    row.indicator,
                    _row_label(group, category, row),
                    getattr(row.indicator, "workbook_row", None),
                )
    if not evaluation.rows_can_be_added:
        for obj in removed:
            lines.append(f"{obj._meta.verbose_name} {obj}：删除行")
    return lines


def import_refusal(evaluation: Evaluation, locked: list[str]) -> str:
    return (
        f"该自评表当前为“{evaluation.state_display}”，工作簿修改了以下 {len(locked)} 处"
        "不能修改的内容，无法导入。请改回原值（或重新下载 Excel 后只填写可以修改的栏目）再上传："
    )


def check_locked(evaluation: Evaluation, data: dict) -> list[str]:
    """`locked_changes` of applying `data` to `evaluation` (from `with_table()`)."""
    table, removed = imported_tree(Evaluation.objects.with_table().get(pk=evaluation.pk), data)
    return locked_changes(evaluation, table, removed)


# ---------------------------------------------------------------- pending uploads


def store_upload(evaluation: Evaluation, user, file_name: str, data: dict) -> WorkbookUpload:
    WorkbookUpload.objects.filter(created_at__lt=timezone.now() - UPLOAD_LIFETIME).delete()
    return WorkbookUpload.objects.create(
        evaluation=evaluation,
        uploaded_by=user,
        file_name=file_name[:200],
        data=data,
        base_fingerprint=fingerprint(evaluation),
    )


def pending_uploads(user) -> QuerySet:
    return WorkbookUpload.objects.filter(
        uploaded_by=user, created_at__gte=timezone.now() - UPLOAD_LIFETIME
    )


# ---------------------------------------------------------------- applying


def apply_upload(upload: WorkbookUpload, *, by) -> Evaluation:
    """Apply a previewed upload, all or nothing, if the evaluation is as previewed.

    It writes inside `workflow.changing` like any other edit: the row lock, the
    version, the field history, and the phase rules of the models, which refuse a
    workbook that changes what the current phase keeps closed. Who may import is
    checked by the caller (`access.can_fill`)."""
    current = Evaluation.objects.get(pk=upload.evaluation_id)
    closed: list[str] = []
    try:
        with workflow.changing(current, by=by, expected_version=current.version) as locked:
            check_open_to_import(locked)
            evaluation = Evaluation.objects.with_table().get(pk=locked.pk)
            if fingerprint(evaluation) != upload.base_fingerprint:
                raise ImportRefused("预览之后该自评表已被修改，请重新上传工作簿并核对变更。")
            table, removed = imported_tree(evaluation, upload.data)
            closed = locked_changes(locked, table, removed)
            save_tree(table, removed, add_rows=True)
            upload.delete()
    except EvaluationError as error:
        # The preview refuses such a workbook before offering to confirm; this is a
        # confirmation sent anyway (an old tab): name every closed field, not the first.
        every = (
            f"工作簿中不能修改的内容共 {len(closed)} 处：{'；'.join(closed)}。" if closed else ""
        )
        raise ImportRefused(f"无法导入：{error.message}{every}") from error
    return locked
