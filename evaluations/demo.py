"""The demo: the real 2023 sample of 浦锦街道城市运行管理中心 (domain.md §2) and
three users to look at it with. Used by `load_demo` and by the tests."""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

from . import workflow
from .models import ROLE_ADMIN, ROLE_REVIEWER, ROLE_STAFF, BudgetLine, District, Evaluation, Unit

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
    return evaluation, created
