"""Across the two forms: a unit's project forms of a year against its overall form's
项目支出 line. The project forms should account for that line, but not every project
is necessarily evaluated the same year, so the comparison is information shown beside
the line — never a consistency fault, and not part of the official table."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from .kinds import BudgetLineKind, FormKind
from .models import Evaluation
from .numbers import ZERO


@dataclass
class ProjectAccount:
    year: int
    line_label: str
    count: int
    # Forms whose 年末自评 was submitted (approved ones included), and approved ones.
    filed: int
    approved: int
    line_budget: Decimal
    line_executed: Decimal
    projects_budget: Decimal
    projects_executed: Decimal

    @property
    def budget_difference(self) -> Decimal:
        """The line less the project forms' 全年预算数: what they leave unaccounted."""
        return self.line_budget - self.projects_budget

    @property
    def executed_difference(self) -> Decimal:
        return self.line_executed - self.projects_executed

    @property
    def accounted(self) -> bool:
        return not self.budget_difference and not self.executed_difference


def project_account(evaluation: Evaluation) -> ProjectAccount | None:
    """For a form whose layout names a line its unit's project forms account for (one
    query; the line comes from `with_table()`'s budget lines); None otherwise."""
    kind = evaluation.layout.accounted_by_projects
    if not kind:
        return None
    line = next((line for line in evaluation.budget_lines.all() if line.kind == kind), None)
    results = Q(phase=Evaluation.Phase.RESULTS)
    figures = Evaluation.objects.filter(
        kind=FormKind.PROJECT, unit=evaluation.unit_id, year=evaluation.year
    ).aggregate(
        count=Count("pk", distinct=True),
        filed=Count(
            "pk",
            filter=results
            & Q(status__in=[Evaluation.Status.SUBMITTED, Evaluation.Status.APPROVED]),
            distinct=True,
        ),
        approved=Count("pk", filter=results & Q(status=Evaluation.Status.APPROVED), distinct=True),
        budget=Sum("budget_lines__budget_amount"),
        executed=Sum("budget_lines__executed_amount"),
    )
    return ProjectAccount(
        year=evaluation.year,
        line_label=BudgetLineKind(kind).label,
        count=figures["count"],
        filed=figures["filed"],
        approved=figures["approved"],
        line_budget=line.budget_amount if line else ZERO,
        line_executed=line.executed_amount if line else ZERO,
        projects_budget=figures["budget"] or ZERO,
        projects_executed=figures["executed"] or ZERO,
    )
