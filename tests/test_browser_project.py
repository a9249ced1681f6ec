"""One 项目支出绩效自评表 from targets to approval in a real browser (Debian's Chromium
through Playwright): the same engine, page and verbs as the overall form, with the
project form's 项目资金 block scoring its execution live."""

import io
import shutil
from pathlib import Path

import pytest
from django.db import connections
from pypdf import PdfReader

from evaluations.models import District, Unit
from evaluations.roles import ROLE_REVIEWER, ROLE_STAFF

from .conftest import make_project_form, make_user
from .test_browser import (
    CHROMIUM,
    POLICY_VIOLATIONS,
    Counter,
    browser,  # noqa: F401  (the fixture)
    log_in,
    shoot,
    wait_for_figures,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


def test_a_project_form_walks_from_targets_to_approval(browser, live_server):  # noqa: F811
    POLICY_VIOLATIONS.clear()
    try:
        walk_the_project_form(browser, live_server.url)
        assert POLICY_VIOLATIONS == []
    finally:
        connections.close_all()


def walk_the_project_form(chromium, base: str) -> None:
    from playwright.sync_api import expect

    district = District.objects.create(code="310112", name="闵行区")
    parent = Unit.objects.create(code="310112-PJ", name="浦锦街道", district=district)
    unit = Unit.objects.create(
        code="310112-PJ-CSYX",
        name="上海市闵行区浦锦街道城市运行管理中心",
        district=district,
        parent=parent,
    )
    unit.staff.add(make_user("pujin", ROLE_STAFF, first_name="浦锦填报人"))
    district.reviewers.add(make_user("minhang", ROLE_REVIEWER, first_name="闵行审核人"))
    form = make_project_form(unit)
    counter = Counter()
    entry_url = f"{base}/evaluations/{form.pk}/entry/"

    # 1. Targets: the unit sets 年初预算数 and submits.
    staff = log_in(chromium, "pujin", counter, base)
    staff.goto(entry_url)
    expect(staff.locator("#header-block")).to_contain_text("消防通道乱停车预警智能分析项目")
    expect(staff.locator("#budget")).to_contain_text("年度资金总额")
    counter.fill(staff.locator("input[name='budget-other-initial_budget_amount']"), "20000")
    wait_for_figures(staff)
    expect(staff.locator("[data-budget-total='initial_budget_amount']")).to_have_text("620,000.00")
    expect(staff.locator("#live-total-points")).to_have_text("100")
    expect(staff.locator("#live-fault-count")).to_have_text("通过")
    shoot(staff, "project-01-targets")
    counter.click(staff.locator("summary", has_text="保存并提交年初目标"))
    counter.click(staff.get_by_role("button", name="确认保存并提交年初目标"))
    expect(staff.locator(".messages")).to_contain_text("年初目标已提交")

    # 2. The district approves the targets from its queue.
    reviewer = log_in(chromium, "minhang", counter, base)
    approve_from_the_queue(reviewer, counter, base, "年初目标")

    # 3. Results: the year's budget and spending; the execution score follows live.
    staff.goto(entry_url)
    counter.fill(staff.locator("input[name='budget-fiscal-budget_amount']"), "580000")
    counter.fill(staff.locator("input[name='budget-fiscal-executed_amount']"), "499844")
    counter.fill(staff.locator("#editor-result_text"), "一期4路已试点完毕。")
    wait_for_figures(staff)
    expect(staff.locator("[data-budget-total='rate']")).to_have_text("86.18")
    expect(staff.locator("[data-budget-total='score']")).to_have_text("8.62")
    expect(staff.locator("#live-total-score")).to_have_text("90.62")
    expect(staff.locator("#live-grade")).to_have_text("优")
    shoot(staff, "project-02-results")
    counter.click(staff.locator("summary", has_text="保存并提交年末自评"))
    counter.click(staff.get_by_role("button", name="确认保存并提交年末自评"))
    expect(staff.locator(".messages")).to_contain_text("年末自评已提交")

    # 4. The district approves: final.
    approve_from_the_queue(reviewer, counter, base, "年末自评")
    shoot(reviewer, "project-03-approved")
    form.refresh_from_db()
    assert form.is_final

    # 5. The PDF: a note while it is drawn (the link carries a mark), gone once the
    # response's cookie brings the mark back. (How long the note shows depends on the
    # drawing, so the test checks the marks, not the note's moment.)
    link = reviewer.get_by_role("link", name="下载 PDF（正式表格）")
    with reviewer.expect_download() as download:
        link.click()
    mark = link.get_attribute("href").rsplit("ready=", 1)[1]
    cookies = {cookie["name"]: cookie["value"] for cookie in reviewer.context.cookies()}
    assert cookies["pdf-ready"] == mark
    expect(reviewer.locator(".pdf-progress")).to_be_hidden()
    text = " ".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages
    )
    assert "项目支出绩效自评表" in text and "90.62" in text


def approve_from_the_queue(reviewer, counter: Counter, base: str, phase: str) -> None:
    from playwright.sync_api import expect

    reviewer.goto(f"{base}/review/")
    counter.click(reviewer.get_by_role("link", name="消防通道乱停车预警智能分析项目"))
    counter.click(reviewer.locator("summary", has_text=f"审核通过{phase}"))
    counter.click(reviewer.get_by_role("button", name=f"确认审核通过{phase}"))
    expect(reviewer.locator(".messages")).to_contain_text(f"{phase}已审核通过")
