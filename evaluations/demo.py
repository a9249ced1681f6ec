"""The demo: the real 2023 sample of 浦锦街道城市运行管理中心 (docs/domain.md §2),
two of its projects with their 项目支出绩效自评表 (made up in the spirit of the
sample's goals, within its 项目支出 line) and three users to look at them with.
Used by `load_demo` and by the tests."""

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from indicators.models import (
    BudgetPoints,
    Indicator,
    IndicatorCategory,
    IndicatorGroup,
    IndicatorTemplate,
)

from . import workflow
from .kinds import DEFAULT_BUDGET_POINTS, FormKind
from .models import BudgetLine, District, Evaluation, FilingWindow, Project, Unit
from .roles import ROLE_ADMIN, ROLE_PARENT_REVIEWER, ROLE_REVIEWER, ROLE_STAFF

SAMPLE_PATH = Path(__file__).parent / "demo_data" / "sample_2023.json"
PROJECTS_PATH = Path(__file__).parent / "demo_data" / "projects_2023.json"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    full_name: str
    role: str


DEMO_STAFF = DemoUser("pujin_staff", "Pujin-Demo-2023", "浦锦城运中心填报人", ROLE_STAFF)
DEMO_REVIEWER = DemoUser(
    "minhang_reviewer", "Minhang-Review-2023", "闵行区财政局审核人", ROLE_REVIEWER
)
DEMO_STREET_REVIEWER = DemoUser(
    "pujin_street_reviewer", "Pujin-Street-2023", "浦锦街道主管部门审核人", ROLE_PARENT_REVIEWER
)
DEMO_ADMIN = DemoUser("admin", "Admin-Demo-2023", "系统管理员", ROLE_ADMIN)
DEMO_USERS = (DEMO_STAFF, DEMO_STREET_REVIEWER, DEMO_REVIEWER, DEMO_ADMIN)


# 投入管理指标: each 二级's base share of the 一级, in percent. The sample's points
# (7.50 of 30 …) are these shares of a city-wide scheme scaled into its 30 points.
BASE_SHARES = {
    "预算编审管理": Decimal("25"),
    "预算执行管理": Decimal("34"),
    "预算绩效管理": Decimal("15"),
    "资产管理": Decimal("3"),
    "预算透明度": Decimal("10"),
    "内部控制管理": Decimal("8"),
    "预算信息化": Decimal("5"),
}


def sample_data() -> dict:
    return json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))


def project_data() -> dict:
    return json.loads(PROJECTS_PATH.read_text(encoding="utf-8"))


def fill_evaluation(evaluation: Evaluation, data: dict) -> None:
    """Write budget lines and the indicator hierarchy of `data` into an empty evaluation.
    A budget line's amounts are given in the order of its form's columns."""
    # Rows are new and the evaluation a draft of its targets: bulk writes are safe
    # here, and the field history still gets its first record. The budget lines
    # exist from the evaluation's creation: they get their amounts.
    columns = [name for name, _ in evaluation.layout.budget_columns]
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    for kind, amounts in data["budget"].items():
        for name, value in zip(columns, amounts, strict=True):
            setattr(lines[kind], name, Decimal(value))
    bulk_update_with_history(list(lines.values()), BudgetLine, columns)
    for group_position, group_data in enumerate(data["groups"], start=1):
        group = IndicatorGroup.objects.create(
            evaluation=evaluation,
            position=group_position,
            name=group_data["name"],
            weight=Decimal(group_data["weight"]),
            note=group_data.get("note", ""),
        )
        for category_position, category_data in enumerate(group_data["categories"], start=1):
            category = IndicatorCategory.objects.create(
                group=group, position=category_position, name=category_data["name"]
            )
            indicators = []
            for position, row in enumerate(category_data["indicators"], start=1):
                indicator = Indicator(
                    category=category,
                    position=position,
                    name=row["name"],
                    points=Decimal(row["points"]),
                    score=Decimal(row["score"]) if row.get("score") not in (None, "") else None,
                    deviation_reason=row.get("deviation_reason", ""),
                )
                indicator.target = row.get("target", "")
                indicator.actual = row.get("actual", "")
                indicators.append(indicator)
            bulk_create_with_history(indicators, Indicator)


def sample_template(year: int) -> list[IndicatorTemplate]:
    """A year's 指标库 as 管理员 would keep it, from the sample's structure: the 一级
    and their weights, the 投入管理 base shares, the standard 二级, and the one
    standard 三级 (群众满意度); units add their own 三级 when they start the year."""
    lines = []
    for group in sample_data()["groups"]:
        for category in group["categories"]:
            line = {
                "group_name": group["name"],
                "group_weight": Decimal(group["weight"]),
                "group_note": group.get("note", ""),
                "category_name": category["name"],
            }
            if category["name"] in BASE_SHARES:
                line["base_share"] = BASE_SHARES[category["name"]]
            elif category["name"] == "服务对象满意度指标":
                line.update(name="群众满意度", points=Decimal("10"), default_target="≥90.00(%)")
            else:
                line["points"] = Decimal("0")
            lines.append(IndicatorTemplate(year=year, position=len(lines) + 1, **line))
    return lines


@transaction.atomic
def load_demo() -> tuple[Evaluation, bool]:
    """Idempotent: creates what is missing and never overwrites an existing evaluation,
    so a demo someone has been editing survives a second `make run`."""
    data = sample_data()
    district, _ = District.objects.get_or_create(
        code=data["district"]["code"], defaults={"name": data["district"]["name"]}
    )
    parent, _ = Unit.objects.get_or_create(
        code=data["parent"]["code"], defaults={"name": data["parent"]["name"], "district": district}
    )
    unit, _ = Unit.objects.get_or_create(
        code=data["unit"]["code"],
        defaults={"name": data["unit"]["name"], "district": district, "parent": parent},
    )
    users = {}
    for demo in DEMO_USERS:
        user, _ = get_user_model().objects.get_or_create(username=demo.username)
        user.first_name = demo.full_name
        user.set_password(demo.password)
        user.is_staff = demo is DEMO_ADMIN
        user.is_superuser = demo is DEMO_ADMIN
        user.save()
        users[demo] = user
        # The groups come from a migration; a user keeps any other group given since.
        user.groups.add(Group.objects.get(name=demo.role))
    unit.staff.add(users[DEMO_STAFF])
    # The 主管部门审核人 belongs to the street office, over the sample's unit.
    parent.staff.add(users[DEMO_STREET_REVIEWER])
    district.reviewers.add(users[DEMO_REVIEWER])
    first_level, second_level = users[DEMO_STREET_REVIEWER], users[DEMO_REVIEWER]

    evaluation = Evaluation.objects.filter(
        unit=unit, kind=FormKind.OVERALL, year=data["year"]
    ).first()
    created = evaluation is None
    if created:
        evaluation = Evaluation.objects.create(
            unit=unit,
            year=data["year"],
            target_text=data["target_text"],
            result_text=data["result_text"],
        )
        fill_evaluation(evaluation, data)
        # The sample as it went, through the real verbs and both levels: targets
        # submitted, passed by the street and approved by the district; the
        # self-evaluation submitted and waiting for the street's first check.
        workflow.submit(evaluation, by=users[DEMO_STAFF])
        workflow.approve_first(evaluation, by=first_level)
        workflow.approve(evaluation, by=second_level)
        workflow.submit(evaluation, by=users[DEMO_STAFF])
    load_demo_projects(
        unit, staff=users[DEMO_STAFF], first_level=first_level, reviewer=second_level
    )
    load_demo_windows(district, data["year"])
    # Next year's 指标库 of both kinds, so "按指标库新建" works in the demo at once.
    next_year = data["year"] + 1
    if not IndicatorTemplate.objects.filter(form_kind=FormKind.OVERALL, year=next_year).exists():
        IndicatorTemplate.objects.bulk_create(sample_template(next_year))
    if not IndicatorTemplate.objects.filter(form_kind=FormKind.PROJECT, year=next_year).exists():
        IndicatorTemplate.objects.bulk_create(project_template(next_year))
    BudgetPoints.objects.get_or_create(year=next_year, defaults={"points": DEFAULT_BUDGET_POINTS})
    return evaluation, created


def load_demo_windows(district: District, year: int) -> None:
    """The demo year's 年末自评 windows of both kinds, dated around the day the demo is
    loaded (the real notice's dates would long have passed): opened two weeks ago, due
    in 30 days with 5 days' grace, so the forms still to fill show their countdown.
    An existing window is kept."""
    today = timezone.localdate()
    for kind in FormKind:
        FilingWindow.objects.get_or_create(
            district=district,
            year=year,
            phase=Evaluation.Phase.RESULTS,
            kind=kind,
            defaults={
                "opens_on": today - timedelta(days=14),
                "due_on": today + timedelta(days=30),
                "grace_days": 5,
            },
        )


def load_demo_projects(unit: Unit, *, staff, first_level, reviewer) -> list[Evaluation]:
    """The demo's projects of `unit` and their forms of the year: the first as far as
    the overall form (results submitted, waiting for the 主管部门's first check), the
    second with its targets approved and its results still to fill. Existing forms
    are kept."""
    data = project_data()
    forms = []
    for project_data_ in data["projects"]:
        project, _ = Project.objects.get_or_create(
            code=project_data_["code"],
            defaults={
                "unit": unit,
                "name": project_data_["name"],
                "first_year": project_data_["first_year"],
                "last_year": project_data_["last_year"],
            },
        )
        form = Evaluation.objects.filter(project=project, year=data["year"]).first()
        if form is None:
            form = Evaluation.objects.create(
                kind=FormKind.PROJECT,
                project=project,
                unit=project.unit,
                year=data["year"],
                budget_points=DEFAULT_BUDGET_POINTS,
                target_text=project_data_["target_text"],
                result_text=project_data_["result_text"],
            )
            fill_evaluation(form, project_data_)
            workflow.submit(form, by=staff)
            workflow.approve_first(form, by=first_level)
            workflow.approve(form, by=reviewer)
            if project_data_["stage"] == "results-submitted":
                workflow.submit(form, by=staff)
        forms.append(form)
    return forms


def project_template(year: int) -> list[IndicatorTemplate]:
    """A year's 项目支出 指标库: the national default split (产出 50, 效益 30, 满意度
    10; 年度资金总额 carries the other 10, `BudgetPoints`), its standard 二级 and the
    one standard 三级 (服务对象满意度). Units add their own 三级."""
    groups = (
        ("产出指标", "50", ("数量指标", "质量指标", "时效指标", "成本指标")),
        ("效益指标", "30", ("经济效益指标", "社会效益指标", "生态效益指标", "可持续影响指标")),
        ("满意度指标", "10", ("服务对象满意度指标",)),
    )
    lines = []
    for group_name, weight, categories in groups:
        for category_name in categories:
            line = IndicatorTemplate(
                form_kind=FormKind.PROJECT,
                year=year,
                position=len(lines) + 1,
                group_name=group_name,
                group_weight=Decimal(weight),
                category_name=category_name,
                points=Decimal("0"),
            )
            if category_name == "服务对象满意度指标":
                line.name, line.points, line.default_target = (
                    "服务对象满意度",
                    Decimal("10"),
                    "≥90.00(%)",
                )
            lines.append(line)
    return lines
