"""Importing an official-table workbook into an evaluation open for editing: what would change,
row by row, and then applying it in one transaction.

Rows are matched by their names — 一级, then 二级 inside it, then 三级 inside that,
the n-th of equal names with the n-th — so an edited value is a change of that row,
a new name is a row added and a missing name a row removed. Matched rows keep
their ids. Unchanged goal texts keep their stored rich text; a changed one becomes
a paragraph per line.

Between preview and confirmation the parsed data waits in a `WorkbookUpload` row,
with a fingerprint of the evaluation as it was previewed: confirming after the
evaluation changed is refused, so what is applied is what was shown.
"""

import difflib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from . import workflow
from .models import Evaluation, EvaluationError, WorkbookUpload
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
from .workbook import plain_text_to_rich, rich_text_to_plain

UPLOAD_LIFETIME = timedelta(days=1)
INDICATOR_FIELDS = (
    ("target", "年度指标值"),
    ("actual", "全年完成值"),
    ("points", "分值"),
    ("score", "得分"),
    ("deviation_reason", "偏差及原因分析"),
)


class ImportRefused(Exception):
    """The import cannot go ahead; the message says why, in Chinese."""


def check_open_to_import(evaluation: Evaluation) -> None:
    if evaluation.status not in Evaluation.EDITABLE_STATUSES:
        raise ImportRefused(
            f"该自评表当前为“{evaluation.state_display}”，只有草稿或已退回的自评表可以导入。"
        )


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
    evaluation.subordinate_unit_count = data["subordinate_unit_count"]
    for key in ("target_text", "result_text"):
        # Unchanged goal texts keep their stored rich text.
        if data[key] != rich_text_to_plain(getattr(evaluation, key)):
            setattr(evaluation, key, plain_text_to_rich(data[key]))
    for line in budget_lines:
        line.budget_amount, line.executed_amount = (
            Decimal(value) for value in data["budget"][line.kind]
        )
        line.workbook_row = data.get("budget_rows", {}).get(line.kind)

    removed = []
    stored_groups = _keyed(structure, lambda pair: pair[0].name)
    imported: Structure = []
    for position, (key, group_data) in enumerate(_by_name(data["groups"]).items(), start=1):
        group, stored_categories = stored_groups.pop(key, (None, []))
        group = remember(group) if group else IndicatorGroup(evaluation=evaluation)
        group.position, group.name, group.note = position, group_data["name"], group_data["note"]
        group.weight = Decimal(group_data["weight"])
        group.workbook_row = group_data.get("row")
        categories, gone = _imported_categories(group, stored_categories, group_data["categories"])
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
            for name, label in (("budget_amount", "全年预算数"), ("executed_amount", "全年执行数"))
            if getattr(old_line, name) != getattr(new_line, name)
        ]
        if fields:
            changes.append(Change("修改", "整体支出规模", new_line.label, fields=fields))
    for key, label in (("target_text", "年初设定目标"), ("result_text", "全年完成情况")):
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
                    "分解目标自评",
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
            changes.append(Change("修改", "分解目标自评", label, row, fields))
    removed_groups = {obj.pk for obj in removed if isinstance(obj, IndicatorGroup)}
    for group in old.groups:
        if group.group.pk in removed_groups:
            changes.append(Change("删除", "分解目标自评", f"一级指标 {group.name}"))

    old_rows = {row.indicator.pk: (group, row) for group in old.groups for row in group.rows}
    kept = set()
    for group in new.groups:
        for category in group.categories:
            for row in category.rows:
                label = _row_label(group, category, row)
                workbook_row = getattr(row.indicator, "workbook_row", None)
                stored = old_rows.get(row.indicator.pk)
                if stored is None:
                    fields = [(title, "", _shown(row, name)) for name, title in INDICATOR_FIELDS]
                    changes.append(
                        Change(
                            "新增", "分解目标自评", label, workbook_row, [f for f in fields if f[2]]
                        )
                    )
                    continue
                kept.add(row.indicator.pk)
                fields = [
                    (title, _shown(stored[1], name), _shown(row, name))
                    for name, title in INDICATOR_FIELDS
                    if _shown(stored[1], name) != _shown(row, name)
                ]
                if fields:
                    changes.append(Change("修改", "分解目标自评", label, workbook_row, fields))
    for group in old.groups:
        for category in group.categories:
            for row in category.rows:
                if row.indicator.pk not in kept:
                    fields = [(title, _shown(row, name), "") for name, title in INDICATOR_FIELDS]
                    changes.append(
                        Change(
                            "删除",
                            "分解目标自评",
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


# ---------------------------------------------------------------- what the phase keeps closed

# The fields of a 年度指标值 or 全年完成值 are one cell of the workbook.
FIELD_LABELS = {"target_": "年度指标值", "actual_": "全年完成值"}


def locked_changes(evaluation: Evaluation, table: Table, removed: list) -> list[str]:
    """Every change of the imported `table` that the stored `evaluation`'s phase and
    status keep closed (`Evaluation.editable_fields`), one line per workbook row: what
    confirming would refuse, said before anyone confirms."""
    lines = []

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
                (text for prefix, text in FIELD_LABELS.items() if name.startswith(prefix)),
                str(obj._meta.get_field(name).verbose_name),
            )
            if label not in refused:
                refused.append(label)
        if refused:
            lines.append(f"{place}：" + "、".join(f"“{label}”" for label in refused))

    check(table.evaluation, "表头和年度总体目标")
    for line in table.budget_rows:
        check(line.line, f"整体支出规模 {line.label}", getattr(line.line, "workbook_row", None))
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
