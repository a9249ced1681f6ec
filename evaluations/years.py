"""Starting a year's evaluation of a unit: from that year's 指标库 (kept by 管理员),
or by copying the unit's approved evaluation of the year before — its targets
carried, its results left empty."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup, IndicatorTemplate
from indicators.values import ValueParseError

from .models import Evaluation, EvaluationError, Unit
from .workflow import recorded_as


class StartRefused(EvaluationError):
    pass


def template_years() -> list[int]:
    return list(
        IndicatorTemplate.objects.filter(form_kind=Evaluation.Kind.OVERALL)
        .order_by("-year")
        .values_list("year", flat=True)
        .distinct()
    )


def start_from_template(unit: Unit, year: int, *, by) -> Evaluation:
    """一级 with their 权重 (and the note of a 一级 without 三级), the 二级 in the
    template's order, and a row per template line: its 三级 name, default 年度指标值
    and 分值 — for a 二级 scored by itself, its base share of the 一级's weight. A
    line without a 三级 name gives its 二级 one empty row for the unit to fill."""
    lines = list(IndicatorTemplate.objects.filter(form_kind=Evaluation.Kind.OVERALL, year=year))
    if not lines:
        raise StartRefused(f"{year}年度的指标库尚未建立，请联系管理员。")
    with _new_evaluation(unit, year, by) as evaluation:
        groups, categories = {}, {}
        for line in lines:
            group = groups.get(line.group_name)
            if group is None:
                group = groups[line.group_name] = IndicatorGroup.objects.create(
                    evaluation=evaluation,
                    position=len(groups) + 1,
                    name=line.group_name,
                    weight=line.group_weight,
                    note=line.group_note,
                )
            category = categories.get((group.pk, line.category_name))
            if category is None:
                category = categories[(group.pk, line.category_name)] = (
                    IndicatorCategory.objects.create(
                        group=group,
                        position=sum(1 for key in categories if key[0] == group.pk) + 1,
                        name=line.category_name,
                    )
                )
            indicator = Indicator(
                category=category,
                position=category.indicators.count() + 1,
                name=line.name,
                points=line.scaled_points,
                evidence_required=line.evidence_required,
            )
            try:
                indicator.target = line.default_target
            except ValueParseError as error:
                raise StartRefused(
                    f"{year}年度指标库“{line}”的默认年度指标值无法识别（{error}），"
                    "请联系管理员修改指标库。"
                ) from None
            indicator.save()
    return evaluation


def start_from_last_year(unit: Unit, year: int, *, by) -> Evaluation:
    last = (
        Evaluation.objects.with_table()
        .filter(unit=unit, kind=Evaluation.Kind.OVERALL, year=year - 1)
        .filter(phase=Evaluation.Phase.RESULTS)
        .filter(status=Evaluation.Status.APPROVED)
        .first()
    )
    if last is None:
        raise StartRefused(f"该单位没有已审核的{year - 1}年度自评表，无法复制。")
    with _new_evaluation(unit, year, by, target_text=last.target_text) as evaluation:
        for old_group in last.indicator_groups.all():
            group = IndicatorGroup.objects.create(
                evaluation=evaluation,
                position=old_group.position,
                name=old_group.name,
                weight=old_group.weight,
                note=old_group.note,
            )
            for old_category in old_group.categories.all():
                category = IndicatorCategory.objects.create(
                    group=group, position=old_category.position, name=old_category.name
                )
                for old in old_category.indicators.all():
                    Indicator(
                        category=category,
                        position=old.position,
                        name=old.name,
                        points=old.points,
                        target_comparator=old.target_comparator,
                        target_number=old.target_number,
                        target_unit=old.target_unit,
                        target_label=old.target_label,
                        evidence_required=old.evidence_required,
                    ).save()
    return evaluation


@contextmanager
def _new_evaluation(unit: Unit, year: int, by, **fields) -> Iterator[Evaluation]:
    """An empty targets draft (with its four budget lines), created as `by` in one
    transaction with what the caller adds; refused if the unit has that year's."""
    exists = StartRefused(f"{unit.name}的{year}年度自评表已经存在。")
    with transaction.atomic(), recorded_as(by):
        if Evaluation.objects.filter(unit=unit, kind=Evaluation.Kind.OVERALL, year=year).exists():
            raise exists
        try:
            with transaction.atomic():
                evaluation = Evaluation.objects.create(unit=unit, year=year, **fields)
        except IntegrityError:  # started at the same moment elsewhere
            raise exists from None
        yield evaluation
