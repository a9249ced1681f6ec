"""The fixed cast and the sample, shared by every test module.

The cast: `staff` fills in for the sample's unit (unit A), `other_staff` for a unit
of the same district (unit B), `parent_staff` for the 主管部门 over unit A,
`reviewer` reviews the district, `other_reviewer` another district, `admin_user`
is a superuser and `manager` a 管理员 who is not one. Outside `cast`, for the
two-level review: `parent_reviewer` is the 主管部门审核人 of the street over unit A
(with them the district's review starts at the 主管部门), `other_parent_reviewer`
that of another street.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from evaluations.demo import fill_evaluation, project_data, sample_data
from evaluations.kinds import DEFAULT_BUDGET_POINTS, FormKind
from evaluations.models import District, Evaluation, Project, Unit
from evaluations.roles import ROLE_ADMIN, ROLE_PARENT_REVIEWER, ROLE_REVIEWER, ROLE_STAFF

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    # The cast is built for nearly every test (and once per class by
    # `shared_sample_and_cast`): a real hasher costs ~0.3 s a user, over 1 s under load.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: a page drawn in one test (of data that a
    rollback may bring back alike) is never served in another."""
    cache.clear()


def make_user(username: str, role: str | None = None, **fields):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_unit(code: str, name: str, district: District, parent: Unit | None = None) -> Unit:
    return Unit.objects.create(code=code, name=name, district=district, parent=parent)


def make_evaluation(unit: Unit, year: int = 2023, data: dict | None = None) -> Evaluation:
    data = data or sample_data()
    evaluation = Evaluation.objects.create(
        unit=unit, year=year, target_text=data["target_text"], result_text=data["result_text"]
    )
    fill_evaluation(evaluation, data)
    return evaluation


def make_project_form(unit: Unit, which: int = 0, year: int = 2023) -> Evaluation:
    """A draft of the targets of one of the demo's projects (`projects_2023.json`),
    filled with every figure of the file, results included."""
    data = project_data()["projects"][which]
    project = Project.objects.create(
        unit=unit,
        code=data["code"],
        name=data["name"],
        first_year=data["first_year"],
        last_year=data["last_year"],
    )
    evaluation = Evaluation.objects.create(
        kind=FormKind.PROJECT,
        project=project,
        unit=unit,
        year=year,
        budget_points=DEFAULT_BUDGET_POINTS,
        target_text=data["target_text"],
        result_text=data["result_text"],
    )
    fill_evaluation(evaluation, data)
    return evaluation


def open_results(evaluation: Evaluation) -> Evaluation:
    """As if the district had approved the targets: the results phase, a draft.
    (The workflow's own path is tested in test_workflow.)"""
    Evaluation.objects.filter(pk=evaluation.pk).update(
        phase=Evaluation.Phase.RESULTS, status=Evaluation.Status.DRAFT
    )
    evaluation.refresh_from_db()
    return evaluation


def targets_only_data() -> dict:
    """The sample as its unit fills it at the start of the year: no 全年完成值, no 得分."""
    data = sample_data()
    for group in data["groups"]:
        for category in group["categories"]:
            for row in category["indicators"]:
                row.update(actual="", score=None, deviation_reason="")
    for kind, (budget, _executed) in data["budget"].items():
        data["budget"][kind] = (budget, "0.00")
    return data


def many_project_forms(district, count: int, actor, unit_count: int = 50) -> list:
    """`count` project forms of 2023 over `unit_count` units under ten 主管部门, a fifth
    in each of five states, every one past its first draft submitted once by `actor`
    (the submit events are returned). Written in bulk: 7,000 forms take seconds."""
    from evaluations.models import ReviewEvent

    parents = Unit.objects.bulk_create(
        Unit(code=f"P{index:02}", name=f"主管部门{index}", district=district) for index in range(10)
    )
    units = Unit.objects.bulk_create(
        Unit(
            code=f"U{index:04}", name=f"单位{index}", district=district, parent=parents[index % 10]
        )
        for index in range(unit_count)
    )
    projects = Project.objects.bulk_create(
        (
            Project(
                unit=units[index % unit_count], code=f"X{index:05}", name=f"项目{index}",
                first_year=2023,
            )
            for index in range(count)
        ),
        batch_size=2000,
    )  # fmt: skip
    states = [("targets", "draft"), ("targets", "submitted"), ("targets", "returned"),
              ("results", "draft"), ("results", "approved")]  # fmt: skip
    forms = Evaluation.objects.bulk_create(
        (
            Evaluation(
                kind=FormKind.PROJECT,
                project=project,
                unit_id=project.unit_id,
                year=2023,
                phase=states[index % 5][0],
                status=states[index % 5][1],
                budget_points=DEFAULT_BUDGET_POINTS,
                subordinate_unit_count=0,
            )
            for index, project in enumerate(projects)
        ),
        batch_size=2000,
    )
    return ReviewEvent.objects.bulk_create(
        (
            ReviewEvent(
                evaluation=form,
                action="submit",
                phase="targets",
                from_status="draft",
                to_status="submitted",
                actor=actor,
            )
            for form in forms
            if (form.phase, form.status) != ("targets", "draft")
        ),
        batch_size=2000,
    )


def synthetic_data(row_count: int) -> dict:
    """A consistent evaluation with `row_count` scored rows in four 一级 groups."""
    data = sample_data()
    weights = [Decimal("30"), Decimal("25"), Decimal("35"), Decimal("10")]
    per_group = [row_count // 4 + (1 if index < row_count % 4 else 0) for index in range(4)]
    groups = []
    for group_index, (weight, rows) in enumerate(zip(weights, per_group, strict=True)):
        points = [(weight / rows).quantize(Decimal("0.01"))] * rows
        points[-1] = weight - sum(points[:-1])
        categories = []
        for start in range(0, rows, 5):
            categories.append(
                {
                    "name": f"二级指标{group_index + 1}-{start // 5 + 1}",
                    "indicators": [
                        {
                            "name": f"三级指标{group_index + 1}-{row + 1}",
                            "target": "≥90.00(%)",
                            "actual": "95.00(%)",
                            "points": str(points[row]),
                            "score": str(points[row]),
                        }
                        for row in range(start, min(start + 5, rows))
                    ],
                }
            )
        groups.append(
            {"name": f"一级指标{group_index + 1}", "weight": str(weight), "categories": categories}
        )
    data["groups"] = groups
    return data


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """On SQLite the test database is a file, not memory: the background-work tests
    run a real worker process against it."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(
            Path(settings.BASE_DIR) / ".pytest-db.sqlite3"
        )


@pytest.fixture
def district(db) -> District:
    return District.objects.create(code="310112", name="闵行区")


@pytest.fixture
def street_office(district) -> Unit:
    return make_unit("310112-PJ", "浦锦街道", district)


@pytest.fixture
def unit(district, street_office) -> Unit:
    return make_unit(
        "310112-PJ-CSYX", "上海市闵行区浦锦街道城市运行管理中心", district, street_office
    )


@pytest.fixture
def sample(unit) -> Evaluation:
    return make_evaluation(unit)


@pytest.fixture
def project_form(unit) -> Evaluation:
    """消防通道乱停车预警智能分析项目, 2023: a targets draft holding all its figures."""
    return make_project_form(unit)


@pytest.fixture
def other_district(db) -> District:
    return District.objects.create(code="310104", name="徐汇区")


@pytest.fixture
def other_unit(district) -> Unit:
    return make_unit("310112-XH", "闵行区新虹街道", district)


@pytest.fixture
def staff(unit):
    user = make_user("staff", ROLE_STAFF, first_name="浦锦填报人", email="staff@example.org")
    unit.staff.add(user)
    return user


@pytest.fixture
def other_staff(other_unit):
    user = make_user("other_staff", ROLE_STAFF, email="other_staff@example.org")
    other_unit.staff.add(user)
    return user


@pytest.fixture
def parent_staff(street_office):
    user = make_user("parent_staff", ROLE_STAFF, email="parent@example.org")
    street_office.staff.add(user)
    return user


@pytest.fixture
def parent_reviewer(street_office):
    user = make_user(
        "parent_reviewer", ROLE_PARENT_REVIEWER, first_name="浦锦街道初审人", email="pj@example.org"
    )
    street_office.staff.add(user)
    return user


@pytest.fixture
def other_street(district) -> Unit:
    return make_unit("310112-MH", "闵行区梅陇镇", district)


@pytest.fixture
def other_parent_reviewer(other_street):
    user = make_user("other_parent_reviewer", ROLE_PARENT_REVIEWER, email="ml@example.org")
    other_street.staff.add(user)
    return user


@pytest.fixture
def reviewer(district):
    user = make_user("reviewer", ROLE_REVIEWER, first_name="闵行审核人", email="rev@example.org")
    district.reviewers.add(user)
    return user


@pytest.fixture
def other_reviewer(other_district):
    user = make_user("other_reviewer", ROLE_REVIEWER, email="other_rev@example.org")
    other_district.reviewers.add(user)
    return user


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.org", PASSWORD)


@pytest.fixture
def manager(db):
    return make_user("manager", ROLE_ADMIN, is_staff=True, first_name="系统管理员")


@pytest.fixture
def cast(staff, other_staff, parent_staff, reviewer, other_reviewer, admin_user, manager):
    """The whole cast by name, for tests that go through it user by user."""
    return {
        "staff": staff,
        "other_staff": other_staff,
        "parent_staff": parent_staff,
        "reviewer": reviewer,
        "other_reviewer": other_reviewer,
        "admin": admin_user,
        "manager": manager,
    }


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(scope="class")
def shared_sample_and_cast(django_db_setup, django_db_blocker):
    """`sample` and `cast` as above (the cast with both 主管部门审核人), written once for a whole test class: for classes
    of many cases where writing the sample would be most of each case's cost. Each
    test (it must also ask for `db`) has its writes undone after it by its own
    savepoint; this transaction is undone after the class's last test."""
    with django_db_blocker.unblock(), transaction.atomic():
        district = District.objects.create(code="310112", name="闵行区")
        street_office = make_unit("310112-PJ", "浦锦街道", district)
        unit = make_unit(
            "310112-PJ-CSYX", "上海市闵行区浦锦街道城市运行管理中心", district, street_office
        )
        other_unit = make_unit("310112-XH", "闵行区新虹街道", district)
        other_street = make_unit("310112-MH", "闵行区梅陇镇", district)
        other_district = District.objects.create(code="310104", name="徐汇区")
        cast = {
            "staff": make_user(
                "staff", ROLE_STAFF, first_name="浦锦填报人", email="staff@example.org"
            ),
            "other_staff": make_user("other_staff", ROLE_STAFF, email="other_staff@example.org"),
            "parent_staff": make_user("parent_staff", ROLE_STAFF, email="parent@example.org"),
            "reviewer": make_user(
                "reviewer", ROLE_REVIEWER, first_name="闵行审核人", email="rev@example.org"
            ),
            "other_reviewer": make_user(
                "other_reviewer", ROLE_REVIEWER, email="other_rev@example.org"
            ),
            "admin": get_user_model().objects.create_superuser(
                "admin", "admin@example.org", PASSWORD
            ),
            "manager": make_user("manager", ROLE_ADMIN, is_staff=True, first_name="系统管理员"),
            "parent_reviewer": make_user(
                "parent_reviewer", ROLE_PARENT_REVIEWER, first_name="浦锦街道初审人"
            ),
            "other_parent_reviewer": make_user("other_parent_reviewer", ROLE_PARENT_REVIEWER),
        }
        street_office.staff.add(cast["parent_reviewer"])
        other_street.staff.add(cast["other_parent_reviewer"])
        unit.staff.add(cast["staff"])
        other_unit.staff.add(cast["other_staff"])
        street_office.staff.add(cast["parent_staff"])
        district.reviewers.add(cast["reviewer"])
        other_district.reviewers.add(cast["other_reviewer"])
        yield make_evaluation(unit), cast
        transaction.set_rollback(True)
