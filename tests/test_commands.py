"""load_demo and export_evaluation, as run from a shell."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from evaluations import workflow
from evaluations.access import can_fill, can_reopen, can_review, can_review_first
from evaluations.demo import DEMO_USERS
from evaluations.models import Evaluation, Unit
from indicators.models import Indicator


def test_load_demo_is_idempotent_and_prints_logins(db, capsys, settings):
    call_command("load_demo")
    first = capsys.readouterr().out
    call_command("load_demo")
    second = capsys.readouterr().out

    assert "已载入" in first and "已存在，未改动" in second
    assert Evaluation.objects.filter(kind="overall").count() == 1
    assert Evaluation.objects.filter(kind="project").count() == 2
    evaluation = Evaluation.objects.get(kind="overall")
    assert Indicator.objects.filter(category__group__evaluation=evaluation).count() == 24
    assert evaluation.unit.name == "上海市闵行区浦锦街道城市运行管理中心"
    assert evaluation.unit.parent.name == "浦锦街道"
    assert evaluation.unit.district.name == "闵行区"
    assert Unit.objects.count() == 2
    # The demo went through the real review verbs, both levels, and now waits for
    # the street's first check.
    assert (evaluation.phase, evaluation.status, evaluation.held_by) == (
        "results",
        "submitted",
        "parent",
    )
    assert list(evaluation.review_events.values_list("action", "phase", "level")) == [
        ("submit", "targets", "unit"),
        ("approve", "targets", "parent"),
        ("approve", "targets", "district"),
        ("submit", "results", "unit"),
    ]
    for user in DEMO_USERS:
        assert f"{user.username} / {user.password}" in second
        request = RequestFactory().post("/accounts/login/")
        account = authenticate(request, username=user.username, password=user.password)
        assert list(account.groups.values_list("name", flat=True)) == [user.role]
    # Each demo user reaches the sample in the role they were given.
    staff, street, reviewer, admin = (
        get_user_model().objects.get(username=user.username) for user in DEMO_USERS
    )
    assert can_fill(staff, evaluation) and not can_review(staff, evaluation)
    assert can_review_first(street, evaluation) and not can_fill(street, evaluation)
    assert not workflow.first_review_refusal(street, evaluation)
    assert can_review(reviewer, evaluation) and not can_fill(reviewer, evaluation)
    assert can_reopen(admin, evaluation)


def test_load_demo_refuses_production_without_force(db, settings):
    settings.DEMO_DATA_ALLOWED = False
    with pytest.raises(CommandError, match="生产环境"):
        call_command("load_demo")
    assert Evaluation.objects.count() == 0


@pytest.mark.parametrize(
    "unit_argument", ["310112-PJ-CSYX", "上海市闵行区浦锦街道城市运行管理中心"]
)
def test_export_html_by_code_or_name(sample, tmp_path, unit_argument):
    output = tmp_path / "table.html"
    call_command(
        "export_evaluation", unit=unit_argument, year=2023, format="html", output=str(output)
    )
    html = output.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in html
    for figure in ["8,278,261.03", "99.92", "巡管员使用率", ">96<"]:
        assert figure in html
    assert "退出登录" not in html  # no site chrome in a file


def test_export_of_a_missing_year_says_so(sample, tmp_path):
    with pytest.raises(CommandError, match="未找到单位“310112-PJ-CSYX”的2022年度自评表"):
        call_command(
            "export_evaluation",
            unit="310112-PJ-CSYX",
            year=2022,
            format="html",
            output=str(tmp_path / "x.html"),
        )
    assert not (tmp_path / "x.html").exists()


def test_the_demo_keeps_next_years_indicator_library(db):
    from decimal import Decimal

    from evaluations import years
    from evaluations.demo import DEMO_STAFF
    from indicators.models import IndicatorTemplate

    call_command("load_demo")
    call_command("load_demo")
    assert IndicatorTemplate.objects.filter(form_kind="overall", year=2024).count() == 12  # 二级
    assert IndicatorTemplate.objects.filter(form_kind="project", year=2024).count() == 9
    staff = get_user_model().objects.get(username=DEMO_STAFF.username)
    unit = Unit.objects.get(code="310112-PJ-CSYX")
    started = years.start_from_template(unit, 2024, by=staff)
    groups = list(started.indicator_groups.order_by("position"))
    assert [(group.name, group.weight) for group in groups] == [
        ("投入管理指标", Decimal("30.00")),
        ("产出指标", Decimal("25.00")),
        ("效益指标", Decimal("35.00")),
        ("满意度指标", Decimal("10.00")),
    ]
    points = Indicator.objects.filter(category__group=groups[0]).order_by("category__position")
    assert [row.points for row in points] == [
        Decimal(value) for value in ["7.50", "10.20", "4.50", "0.90", "3.00", "2.40", "1.50"]
    ]


START_UP = """
import sys
import django

django.setup()
from django.contrib import admin
from django.core import checks

from evaluations.bulk_export import drawing_version

drawing_version()  # what serving a PDF drawn before needs
modules = ("evaluations.admin", "evaluations.entry", "openpyxl", "weasyprint")
loaded = [name for name in modules if name in sys.modules]
registered = len(admin.site._registry)
checks.run_checks(tags=[checks.Tags.admin])
print(loaded, registered, len(admin.site._registry) > 10)
"""


def test_a_command_starts_without_the_admin_and_the_checks_still_see_it(settings):
    # The admin's modules (import-export, openpyxl, every view) load with the URLconf,
    # the entry page's with the template engine: a command that serves a PDF drawn
    # before starts without them. The admin checks load the admin's.
    result = subprocess.run(
        [sys.executable, "-c", START_UP],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split("\n")[0] == "[] 0 True"
