"""Starting a year's forms of a unit. The overall form starts from that year's 指标库
(kept by 管理员) or by copying the unit's approved form of the year before — its
targets carried, its results left empty. Every project running that year starts
with it, in the same transaction: a continuing project from its own form of last
year (its last targets), another from the year's 项目支出 指标库. A project form can
also be started on its own later (a project added during the year)."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from indicators.models import (
    BudgetPoints,
    Indicator,
    IndicatorCategory,
    IndicatorGroup,
    IndicatorTemplate,
)
from indicators.values import ValueParseError

from .kinds import FormKind
from .models import Evaluation, EvaluationError, Project, Unit
from .workflow import recorded_as

FROM_TEMPLATE, FROM_LAST_YEAR = "template", "last_year"
SOURCE_LABELS = {FROM_TEMPLATE: "按指标库新建", FROM_LAST_YEAR: "复制上年度"}


class StartRefused(EvaluationError):
    pass


def template_years(kind: str = FormKind.OVERALL) -> list[int]:
    return list(
        IndicatorTemplate.objects.filter(form_kind=kind)
        .order_by("-year")
        .values_list("year", flat=True)
        .distinct()
    )


# ---------------------------------------------------------------- what a start creates


@dataclass
class PlannedProject:
    project: Project
    # The project's form of last year it starts from, or None: the 指标库.
    last: Evaluation | None

    @property
    def source_label(self) -> str:
        if self.last is None:
            return "按项目支出指标库新建"
        return f"延续上年度（{self.last.year}年度）的目标"


@dataclass
class YearPlan:
    """What starting `unit`'s `year` creates, read before anything is written: the
    unit confirms this list, then `start_year` creates all of it at once."""

    unit: Unit
    year: int
    overall_exists: bool
    projects: list[PlannedProject] = field(default_factory=list)
    # Why the start would be refused, in Chinese (empty: it can go ahead).
    problems: list[str] = field(default_factory=list)

    @property
    def project_ids(self) -> list[int]:
        return [planned.project.pk for planned in self.projects]

    @property
    def form_count(self) -> int:
        return len(self.projects) + (0 if self.overall_exists else 1)


def missing_projects(unit: Unit, year: int) -> list[PlannedProject]:
    """The unit's projects running in `year` without a form of that year, each with
    its form of last year if its targets were approved (two queries)."""
    projects = [
        project
        for project in Project.objects.filter(unit=unit, first_year__lte=year)
        .exclude(evaluations__year=year)
        .order_by("code")
        if project.runs_in(year)
    ]
    last_forms = {
        form.project_id: form
        for form in Evaluation.objects.filter(
            project__in=projects, year=year - 1, phase=Evaluation.Phase.RESULTS
        )
    }
    return [PlannedProject(project, last_forms.get(project.pk)) for project in projects]


def plan_year(unit: Unit, year: int, source: str) -> YearPlan:
    overall_exists = Evaluation.objects.filter(unit=unit, kind=FormKind.OVERALL, year=year).exists()
    plan = YearPlan(unit, year, overall_exists, missing_projects(unit, year))
    if not overall_exists:
        if source == FROM_TEMPLATE and not _template_lines(FormKind.OVERALL, year).exists():
            plan.problems.append(f"{year}年度的部门（单位）整体支出指标库尚未建立，请联系管理员。")
        if source == FROM_LAST_YEAR and _approved_last_year(unit, year) is None:
            plan.problems.append(f"该单位没有已审核的{year - 1}年度自评表，无法复制。")
    needs_template = any(planned.last is None for planned in plan.projects)
    if needs_template and not _template_lines(FormKind.PROJECT, year).exists():
        plan.problems.append(f"{year}年度的项目支出指标库尚未建立，请联系管理员。")
    if plan.form_count == 0:
        plan.problems.append(nothing_to_start(unit, year))
    return plan


def nothing_to_start(unit: Unit, year: int) -> str:
    return f"{unit.name}的{year}年度自评表已经存在，也没有尚未建立自评表的项目。"


def start_year(
    unit: Unit, year: int, source: str, *, by, expected_projects: list[int] | None = None
) -> tuple[Evaluation | None, list[Evaluation]]:
    """The unit's overall form of `year` (unless it exists) and the forms of all its
    projects running that year, in one transaction: one refusal creates nothing.
    `expected_projects` are the projects the unit confirmed; a list that changed since
    (a project added or started meanwhile) is refused rather than created unseen."""
    start = {FROM_TEMPLATE: start_from_template, FROM_LAST_YEAR: start_from_last_year}.get(source)
    with transaction.atomic():
        plan = plan_year(unit, year, source)
        if expected_projects is not None and sorted(expected_projects) != sorted(plan.project_ids):
            raise StartRefused("要新建的项目清单已有变化，请核对后重新确认。")
        if plan.form_count == 0:
            raise StartRefused(nothing_to_start(unit, year))
        overall = None
        if not plan.overall_exists:
            if start is None:
                raise StartRefused("请选择按指标库新建，或复制上年度自评表。")
            overall = start(unit, year, by=by)
        projects = [
            start_project_form(planned.project, year, by=by, last=planned.last)
            for planned in plan.projects
        ]
    return overall, projects


# ---------------------------------------------------------------- the overall form


def start_from_template(unit: Unit, year: int, *, by) -> Evaluation:
    """一级 with their 权重 (and the note of a 一级 without 三级), the 二级 in the
    template's order, and a row per template line: its 三级 name, default 年度指标值
    and 分值 — for a 二级 scored by itself, its base share of the 一级's weight. A
    line without a 三级 name gives its 二级 one empty row for the unit to fill."""
    lines = list(_template_lines(FormKind.OVERALL, year))
    if not lines:
        raise StartRefused(f"{year}年度的指标库尚未建立，请联系管理员。")
    exists = StartRefused(f"{unit.name}的{year}年度自评表已经存在。")
    lookup = {"unit": unit, "kind": FormKind.OVERALL, "year": year}
    with _new_form(by, exists, lookup, {"unit": unit, "year": year}) as evaluation:
        _fill_from_template(evaluation, lines)
    return evaluation


def start_from_last_year(unit: Unit, year: int, *, by) -> Evaluation:
    last = _approved_last_year(unit, year)
    if last is None:
        raise StartRefused(f"该单位没有已审核的{year - 1}年度自评表，无法复制。")
    exists = StartRefused(f"{unit.name}的{year}年度自评表已经存在。")
    lookup = {"unit": unit, "kind": FormKind.OVERALL, "year": year}
    fields = {"unit": unit, "year": year, "target_text": last.target_text}
    with _new_form(by, exists, lookup, fields) as evaluation:
        _copy_targets(last, evaluation)
    return evaluation


# ---------------------------------------------------------------- a project form


def start_project_form(
    project: Project, year: int, *, by, last: Evaluation | None = None
) -> Evaluation:
    """A project's form of `year`: its 年度资金总额 分值 is the year's (BudgetPoints);
    its indicators are those of its form of last year, if given or if that form's
    targets were approved, targets carried and results empty — else the year's
    项目支出 指标库."""
    if not project.runs_in(year):
        end = f"至{project.last_year}年度" if project.last_year else "起持续实施"
        raise StartRefused(
            f"项目“{project.name}”{project.first_year}年度{end}，{year}年度不在实施期内。"
        )
    if last is None:
        last = Evaluation.objects.filter(
            project=project, year=year - 1, phase=Evaluation.Phase.RESULTS
        ).first()
    lines = []
    if last is None:
        lines = list(_template_lines(FormKind.PROJECT, year))
        if not lines:
            raise StartRefused(f"{year}年度的项目支出指标库尚未建立，请联系管理员。")
    exists = StartRefused(f"项目“{project.name}”的{year}年度自评表已经存在。")
    fields = {
        "kind": FormKind.PROJECT,
        "project": project,
        "unit": project.unit,
        "year": year,
        "budget_points": BudgetPoints.of_year(year),
        "target_text": last.target_text if last else "",
    }
    with _new_form(by, exists, {"project": project, "year": year}, fields) as evaluation:
        if last is None:
            _fill_from_template(evaluation, lines)
        else:
            _copy_targets(Evaluation.objects.with_table().get(pk=last.pk), evaluation)
    return evaluation


# ---------------------------------------------------------------- shared steps


def _template_lines(kind: str, year: int):
    return IndicatorTemplate.objects.filter(form_kind=kind, year=year)


def _approved_last_year(unit: Unit, year: int) -> Evaluation | None:
    return (
        Evaluation.objects.with_table()
        .filter(unit=unit, kind=FormKind.OVERALL, year=year - 1)
        .filter(phase=Evaluation.Phase.RESULTS)
        .filter(status=Evaluation.Status.APPROVED)
        .first()
    )


def _fill_from_template(evaluation: Evaluation, lines: list[IndicatorTemplate]) -> None:
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
                f"{evaluation.year}年度指标库“{line}”的默认年度指标值无法识别（{error}），"
                "请联系管理员修改指标库。"
            ) from None
        indicator.save()


def _copy_targets(last: Evaluation, evaluation: Evaluation) -> None:
    """Last year's groups, categories and indicators with their targets; results empty."""
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


@contextmanager
def _new_form(by, exists: StartRefused, lookup: dict, fields: dict) -> Iterator[Evaluation]:
    """An empty targets draft (with its budget lines), created as `by` in one
    transaction with what the caller adds; refused with `exists` if a form matching
    `lookup` is there already."""
    with transaction.atomic(), recorded_as(by):
        if Evaluation.objects.filter(**lookup).exists():
            raise exists
        try:
            with transaction.atomic():
                evaluation = Evaluation.objects.create(**fields)
        except IntegrityError:  # started at the same moment elsewhere
            raise exists from None
        yield evaluation
