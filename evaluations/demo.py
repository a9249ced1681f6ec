"""The demo: the real 2023 sample of 浦锦街道城市运行管理中心 (docs/domain.md §2) and
three users to look at it with. Used by `load_demo` and by the tests."""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup, IndicatorTemplate

from . import workflow
from .models import BudgetLine, District, Evaluation, Unit
from .roles import ROLE_ADMIN, ROLE_REVIEWER, ROLE_STAFF

SAMPLE_PATH = Path(__file__).parent / "demo_data" / "sample_2023.json"


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
DEMO_ADMIN = DemoUser("admin", "Admin-Demo-2023", "系统管理员", ROLE_ADMIN)
DEMO_USERS = (DEMO_STAFF, DEMO_REVIEWER, DEMO_ADMIN)


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


def fill_evaluation(evaluation: Evaluation, data: dict) -> None:
    """Write budget lines and the indicator hierarchy of `data` into an empty evaluation."""
    # Rows are new and the evaluation a draft of its targets: bulk writes are safe
    # here, and the field history still gets its first record. The budget lines
    # exist from the evaluation's creation: they get their amounts.
    lines = {line.kind: line for line in evaluation.budget_lines.all()}
    for kind, (budget, executed) in data["budget"].items():
        lines[kind].budget_amount = Decimal(budget)
        lines[kind].executed_amount = Decimal(executed)
    bulk_update_with_history(list(lines.values()), BudgetLine, ["budget_amount", "executed_amount"])
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
    district.reviewers.add(users[DEMO_REVIEWER])

    evaluation = Evaluation.objects.filter(unit=unit, year=data["year"]).first()
    created = evaluation is None
    if created:
        evaluation = Evaluation.objects.create(
            unit=unit,
            year=data["year"],
            target_text=data["target_text"],
            result_text=data["result_text"],
        )
        fill_evaluation(evaluation, data)
        # The sample as it really went, through the real verbs: targets submitted and
        # approved, the self-evaluation submitted and waiting for the district's review.
        workflow.submit(evaluation, by=users[DEMO_STAFF])
        workflow.approve(evaluation, by=users[DEMO_REVIEWER])
        workflow.submit(evaluation, by=users[DEMO_STAFF])
    # Next year's 指标库, so "按指标库新建" works in the demo at once.
    if not IndicatorTemplate.objects.filter(year=data["year"] + 1).exists():
        IndicatorTemplate.objects.bulk_create(sample_template(data["year"] + 1))
    return evaluation, created
