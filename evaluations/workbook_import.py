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
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from . import workflow
from .models import BudgetLine, Evaluation, EvaluationError, WorkbookUpload
from .table import SOURCE_LABELS
from .templatetags.official import amount
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


# ---------------------------------------------------------------- the evaluation as data


def _text(value: str) -> str:
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def snapshot(evaluation: Evaluation) -> dict:
    """The evaluation in the shape `read_workbook` returns. Expects `with_table()`."""
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    budget = {}
    for kind in BudgetLine.ORDER:
        line = lines.get(kind) or BudgetLine(kind=kind)
        budget[kind] = [str(line.budget_amount), str(line.executed_amount)]
    groups = []
    for group in evaluation.indicator_groups.all():
        categories = []
        for category in group.categories.all():
            indicators = [
                {
                    "name": "" if group.note else indicator.name,
                    "target": indicator.target_display,
                    "actual": indicator.actual_display,
                    "points": str(indicator.points),
                    "score": str(indicator.score) if indicator.score is not None else None,
                    "deviation_reason": _text(indicator.deviation_reason),
                    "id": indicator.pk,
                }
                for indicator in category.indicators.all()
            ]
            categories.append({"name": category.name, "indicators": indicators, "id": category.pk})
        groups.append(
            {
                "name": group.name,
                "weight": str(group.weight),
                "note": group.note,
                "categories": categories,
                "id": group.pk,
            }
        )
    return {
        "year": evaluation.year,
        "unit_name": evaluation.unit.name,
        "subordinate_unit_count": evaluation.subordinate_unit_count,
        "budget": budget,
        "target_text": rich_text_to_plain(evaluation.target_text),
        "result_text": rich_text_to_plain(evaluation.result_text),
        "groups": groups,
    }


def fingerprint(evaluation: Evaluation) -> str:
    state = snapshot(evaluation)
    state["phase"], state["status"] = evaluation.phase, evaluation.status
    state["html"] = [evaluation.target_text, evaluation.result_text]
    encoded = json.dumps(state, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


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


def _flat_rows(groups: list) -> dict:
    rows = {}
    for group_key, group in _by_name(groups).items():
        for category_key, category in _by_name(group["categories"]).items():
            for row_key, row in _by_name(category["indicators"]).items():
                rows[(group_key, category_key, row_key)] = (group, category, row)
    return rows


def _row_label(group: dict, category: dict, row: dict) -> str:
    parts = [group["name"], category["name"]] + ([row["name"]] if row["name"] else [])
    return " / ".join(parts)


def preview(evaluation: Evaluation, data: dict) -> list[Change]:
    """What applying `data` would change, in the table's order."""
    old = snapshot(evaluation)
    changes = []
    if data["subordinate_unit_count"] != old["subordinate_unit_count"]:
        changes.append(
            Change(
                "修改",
                "表头",
                "下属单位个数",
                fields=[
                    (
                        "下属单位个数",
                        str(old["subordinate_unit_count"]),
                        str(data["subordinate_unit_count"]),
                    )
                ],
            )
        )
    for kind in BudgetLine.ORDER:
        before, after = old["budget"][kind], data["budget"][kind]
        fields = [
            (label, amount(before[index]), amount(after[index]))
            for index, label in enumerate(("全年预算数", "全年执行数"))
            if Decimal(before[index]) != Decimal(after[index])
        ]
        if fields:
            changes.append(Change("修改", "整体支出规模", SOURCE_LABELS[kind], fields=fields))
    for key, label in (("target_text", "年初设定目标"), ("result_text", "全年完成情况")):
        if data[key] != old[key]:
            fields = _paragraph_changes(label, old[key], data[key])
            changes.append(Change("修改", "年度总体目标", label, fields=fields))

    old_groups, new_groups = _by_name(old["groups"]), _by_name(data["groups"])
    for key, group in new_groups.items():
        before = old_groups.get(key)
        if before is None:
            changes.append(
                Change(
                    "新增",
                    "分解目标自评",
                    f"一级指标 {group['name']}",
                    group["row"],
                    [("权重", "", group["weight"])],
                )
            )
            continue
        fields = []
        if Decimal(before["weight"]) != Decimal(group["weight"]):
            fields.append(("权重", before["weight"], group["weight"]))
        if before["note"] != group["note"]:
            fields.append(("三级指标说明", before["note"], group["note"]))
        if fields:
            changes.append(
                Change("修改", "分解目标自评", f"一级指标 {group['name']}", group["row"], fields)
            )
    for key, group in old_groups.items():
        if key not in new_groups and any(c["indicators"] for c in group["categories"]):
            changes.append(Change("删除", "分解目标自评", f"一级指标 {group['name']}"))

    old_rows, new_rows = _flat_rows(old["groups"]), _flat_rows(data["groups"])
    for key, (group, category, row) in new_rows.items():
        label = _row_label(group, category, row)
        before = old_rows.get(key)
        if before is None:
            fields = [(title, "", _shown(row[name], name)) for name, title in INDICATOR_FIELDS]
            changes.append(
                Change("新增", "分解目标自评", label, row["row"], [f for f in fields if f[2]])
            )
            continue
        fields = [
            (title, _shown(before[2][name], name), _shown(row[name], name))
            for name, title in INDICATOR_FIELDS
            if _shown(before[2][name], name) != _shown(row[name], name)
        ]
        if fields:
            changes.append(Change("修改", "分解目标自评", label, row["row"], fields))
    for key, (group, category, row) in old_rows.items():
        if key not in new_rows:
            fields = [(title, _shown(row[name], name), "") for name, title in INDICATOR_FIELDS]
            changes.append(
                Change(
                    "删除",
                    "分解目标自评",
                    _row_label(group, category, row),
                    fields=[f for f in fields if f[1]],
                )
            )
    return changes


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


def _shown(value, field: str) -> str:
    """分值 and 得分 compare and show as the form prints them (2 and 2.00 are the
    same); every other field as written, so a reason reading "2023" stays "2023"."""
    if value is None:
        return ""
    if field in ("points", "score") and str(value).replace(".", "", 1).isdigit():
        return f"{Decimal(str(value)):.2f}"
    return str(value)


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

    It writes through `workflow.save_changes` like any other edit: the row lock, the
    version, the field history, and the phase rules of the models, which refuse a
    workbook that changes what the current phase keeps closed."""

    def apply(locked: Evaluation) -> None:
        check_open_to_import(locked)
        evaluation = Evaluation.objects.with_table().get(pk=locked.pk)
        if fingerprint(evaluation) != upload.base_fingerprint:
            raise ImportRefused("预览之后该自评表已被修改，请重新上传工作簿并核对变更。")
        _apply(evaluation, upload.data)
        upload.delete()

    current = Evaluation.objects.get(pk=upload.evaluation_id)
    try:
        return workflow.save_changes(current, by=by, expected_version=current.version, apply=apply)
    except EvaluationError as error:
        raise ImportRefused(f"无法导入：{error.message}") from error


def _apply(evaluation: Evaluation, data: dict) -> None:
    old = snapshot(evaluation)
    changed = data["subordinate_unit_count"] != old["subordinate_unit_count"]
    evaluation.subordinate_unit_count = data["subordinate_unit_count"]
    for key in ("target_text", "result_text"):
        if data[key] != old[key]:
            setattr(evaluation, key, plain_text_to_rich(data[key]))
            changed = True
    if changed:
        evaluation.save()

    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    for kind in BudgetLine.ORDER:
        budget, executed = (Decimal(value) for value in data["budget"][kind])
        line = lines.get(kind) or BudgetLine(evaluation=evaluation, kind=kind)
        if line.pk is None or (line.budget_amount, line.executed_amount) != (budget, executed):
            line.budget_amount, line.executed_amount = budget, executed
            line.save()

    groups = _keyed(list(evaluation.indicator_groups.all()), lambda group: group.name)
    kept_groups = set()
    for position, (key, group_data) in enumerate(_by_name(data["groups"]).items(), start=1):
        group = groups.get(key) or IndicatorGroup(evaluation=evaluation)
        group.position = position
        group.name, group.note = group_data["name"], group_data["note"]
        group.weight = Decimal(group_data["weight"])
        group.save()
        kept_groups.add(group.pk)
        _apply_categories(group, group_data["categories"], key in groups)
    for group in groups.values():
        if group.pk not in kept_groups and _has_rows(group):
            group.delete()


def _has_rows(group: IndicatorGroup) -> bool:
    return any(category.indicators.all() for category in group.categories.all())


def _apply_categories(group: IndicatorGroup, categories_data: list, existed: bool) -> None:
    categories = (
        _keyed(list(group.categories.all()), lambda category: category.name) if existed else {}
    )
    kept = set()
    for position, (key, category_data) in enumerate(_by_name(categories_data).items(), start=1):
        category = categories.get(key) or IndicatorCategory(group=group)
        if category.pk is None or (category.position, category.name) != (
            position,
            category_data["name"],
        ):
            category.position, category.name = position, category_data["name"]
            category.save()
        kept.add(category.pk)
        _apply_indicators(category, category_data["indicators"], key in categories)
    for category in categories.values():
        if category.pk not in kept and category.indicators.all():
            category.delete()


def _apply_indicators(category: IndicatorCategory, rows: list, existed: bool) -> None:
    indicators = (
        _keyed(list(category.indicators.all()), lambda indicator: indicator.name) if existed else {}
    )
    if existed and category.group.note:
        indicators = _keyed(list(category.indicators.all()), lambda indicator: "")
    kept = set()
    for position, (key, row) in enumerate(_by_name(rows).items(), start=1):
        indicator = indicators.get(key) or Indicator(category=category)
        before = _indicator_state(indicator) if indicator.pk else None
        indicator.position = position
        indicator.name = row["name"]
        indicator.target = row["target"]
        indicator.actual = row["actual"]
        indicator.points = Decimal(row["points"])
        indicator.score = Decimal(row["score"]) if row["score"] is not None else None
        indicator.deviation_reason = row["deviation_reason"]
        # Each through save(): the phase rules and the field history see every row.
        if indicator.pk is None or _indicator_state(indicator) != before:
            indicator.save()
        kept.add(indicator.pk)
    for indicator in indicators.values():
        if indicator.pk not in kept:
            indicator.delete()


def _indicator_state(indicator: Indicator) -> tuple:
    return tuple(
        getattr(indicator, name)
        for name in (
            "position",
            "name",
            "target_comparator",
            "target_number",
            "target_unit",
            "target_label",
            "actual_number",
            "actual_unit",
            "actual_label",
            "points",
            "score",
            "deviation_reason",
        )
    )
