"""The sample's 2023 table filled in a real browser, as a street office does it.

Debian's Chromium driven by Playwright against the live server: a 填报人 starts the
year from the 指标库, fills the targets, a reviewer approves them, the 填报人 fills
the results and watches the total reach 96, submits; the reviewer returns it with
a row comment; the 填报人 fixes and resubmits; the reviewer approves; the PDF holds
96. Screenshots of the key screens go to artefacts/screenshots/ (not committed).
"""

import io
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from pypdf import PdfReader

from evaluations import workflow
from evaluations.demo import sample_data, sample_template
from evaluations.models import District, Evaluation, Unit
from evaluations.roles import ROLE_REVIEWER, ROLE_STAFF
from evaluations.workbook import render_xlsx
from indicators.models import Indicator, IndicatorTemplate

from .conftest import (
    PASSWORD,
    make_evaluation,
    make_project_form,
    make_user,
    open_results,
    targets_only_data,
)
from .workbooks import find_row, load, save

User = get_user_model()

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artefacts" / "screenshots"
# The 投入管理 二级 as base shares of the 一级 (docs/domain.md §2): 7.50 of 30 is 25 %.

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]


class Counter:
    """Counts what a person does: fields filled and clicks made."""

    def __init__(self):
        self.fields = 0
        self.clicks = 0

    def fill(self, locator, value: str) -> None:
        locator.fill(value)
        self.fields += 1

    def click(self, locator) -> None:
        locator.click()
        self.clicks += 1


@pytest.fixture
def browser(monkeypatch):
    # One per test, started after the test's database: while Playwright's loop runs,
    # the ORM sees another connection object, one without the contents a transactional
    # test restores (the role groups), so a browser shared across tests would find
    # them missing from the second test on. The tests are few and each does a lot.
    # Playwright's sync API runs an event loop in this thread; the test's own ORM
    # calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


def make_template_2023() -> None:
    """The 2023 指标库 as 管理员 would keep it (the demo's, for the sample's year)."""
    IndicatorTemplate.objects.bulk_create(sample_template(2023))


# What Chromium refused under the Content-Security-Policy (an inline script or style
# without the nonce, a style="" attribute …): the pages must need none of it.
POLICY_VIOLATIONS: list[str] = []


def note_policy_violation(message) -> None:
    if "Content Security Policy" in message.text:
        POLICY_VIOLATIONS.append(f"{message.location.get('url')}: {message.text}")


def log_in(browser, username: str, counter: Counter, base_url: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("console", note_policy_violation)
    page.goto(base_url + "/accounts/login/")
    counter.fill(page.get_by_label("用户名"), username)
    counter.fill(page.get_by_label("密码"), PASSWORD)
    counter.click(page.get_by_role("button", name="登录"))
    page.wait_for_url(base_url + "/")
    return page


def shoot(page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def wait_for_figures(page) -> None:
    """The live figures have caught up with what was typed."""
    # Not page.wait_for_function: it evals its predicate in the page, which the
    # Content-Security-Policy (no 'unsafe-eval') refuses, as it should.
    from playwright.sync_api import expect

    expect(page.locator("#live-state")).to_have_attribute("data-state", "idle", timeout=10_000)


def category_rows(page, name: str):
    head = page.locator(f"tr.category-head[data-name='{name}']")
    key = head.get_attribute("data-category-head")
    return head, page.locator(f"tr.indicator-row[data-category='{key}']")


def test_a_street_office_fills_the_sample_and_the_district_approves_it(browser, live_server):
    POLICY_VIOLATIONS.clear()
    try:
        fill_the_sample_year(browser, live_server.url)
        assert POLICY_VIOLATIONS == []
    finally:
        # This test's own ORM calls hold a connection of their own once Playwright has
        # run; closed here, the test database can be dropped at the end of the run.
        connections.close_all()


def fill_the_sample_year(browser, base: str) -> None:
    from playwright.sync_api import expect

    data = sample_data()
    district = District.objects.create(code="310112", name="闵行区")
    parent = Unit.objects.create(code="310112-PJ", name="浦锦街道", district=district)
    unit = Unit.objects.create(
        code="310112-PJ-CSYX", name=data["unit"]["name"], district=district, parent=parent
    )
    unit.staff.add(make_user("pujin", ROLE_STAFF, first_name="浦锦填报人"))
    district.reviewers.add(make_user("minhang", ROLE_REVIEWER, first_name="闵行审核人"))
    make_template_2023()
    staff_counter, reviewer_counter = Counter(), Counter()

    # 1. The 填报人 starts 2023 from the 指标库 and fills the targets.
    staff = log_in(browser, "pujin", staff_counter, base)
    counter = Counter()  # what filling the table itself takes
    counter.click(staff.get_by_role("button", name="按指标库新建"))
    # What will be created is listed first (the unit has no projects: its overall form).
    expect(staff.locator("h1")).to_have_text(f"新建{data['unit']['name']}2023年度自评表")
    counter.click(staff.get_by_role("button", name="确认新建（共 1 张自评表）"))
    expect(staff.locator("#live-total-points")).to_have_text("40")  # 投入管理 30 + 满意度 10
    evaluation = Evaluation.objects.get(unit=unit, year=2023)
    shoot(staff, "01-targets-from-template")

    for kind, (budget, _) in data["budget"].items():
        counter.fill(staff.locator(f"input[name='budget-{kind}-budget_amount']"), budget)
    # The tab order follows the table: from one budget line to the next.
    staff.locator("input[name='budget-fiscal-budget_amount']").focus()
    staff.keyboard.press("Tab")
    expect(staff.locator("input[name='budget-other-budget_amount']")).to_be_focused()
    counter.fill(
        staff.locator("#editor-target_text"), "围绕“高效处置一件事”的工作要求，做实处置网格。"
    )
    for group in data["groups"][1:3]:
        for category in group["categories"]:
            head, rows = category_rows(staff, category["name"])
            for index, row in enumerate(category["indicators"]):
                if index:
                    counter.click(head.get_by_role("button", name="添加三级指标"))
                line = rows.nth(index)
                counter.fill(line.locator("input[name$='-name']"), row["name"])
                counter.fill(line.locator("input[name$='-target']"), row["target"])
                counter.fill(
                    line.locator("input[name$='-points']"), row["points"].removesuffix(".00")
                )
    wait_for_figures(staff)
    expect(staff.locator("#live-total-points")).to_have_text("100")
    expect(staff.locator("#live-fault-count")).to_have_text("通过")
    shoot(staff, "02-targets-filled")
    counter.click(staff.locator("summary", has_text="保存并提交年初目标"))  # then confirm
    counter.click(staff.get_by_role("button", name="确认保存并提交年初目标"))
    expect(staff.locator(".messages")).to_contain_text("年初目标已提交")

    # 2. The reviewer finds it in the queue and approves the targets.
    reviewer = log_in(browser, "minhang", reviewer_counter, base)
    reviewer_counter.click(reviewer.get_by_role("link", name="待审核的自评表"))
    expect(reviewer.locator("table.queue")).to_contain_text(data["unit"]["name"])
    shoot(reviewer, "03-review-queue", full_page=False)
    reviewer_counter.click(reviewer.get_by_role("link", name=data["unit"]["name"]))
    reviewer_counter.click(reviewer.locator("summary", has_text="审核通过年初目标"))  # then confirm
    reviewer_counter.click(reviewer.get_by_role("button", name="确认审核通过年初目标"))
    expect(reviewer.locator(".messages")).to_contain_text("年初目标已审核通过")

    # 3. At year end the 填报人 fills the results and watches the total reach 96.
    staff.goto(f"{base}/evaluations/{evaluation.pk}/entry/")
    for kind, (_, executed) in data["budget"].items():
        counter.fill(staff.locator(f"input[name='budget-{kind}-executed_amount']"), executed)
    counter.fill(staff.locator("#editor-result_text"), "群众诉求案件较上年同比减少5884件。")
    for group in data["groups"]:
        for category in group["categories"]:
            _, rows = category_rows(staff, category["name"])
            for index, row in enumerate(category["indicators"]):
                line = rows.nth(index)
                if row["actual"]:
                    counter.fill(line.locator("input[name$='-actual']"), row["actual"])
                else:  # 投入管理: scored by the city's scheme, no suggestion
                    counter.fill(line.locator("input[name$='-score']"), row["score"])
    wait_for_figures(staff)
    expect(staff.locator("[data-rate='budget-basic']")).to_have_text("99.92")
    counter.click(staff.get_by_role("button", name="得分为空的行采用建议得分"))
    wait_for_figures(staff)
    expect(staff.locator("#live-total-score")).to_have_text("99.44")
    # Where the unit deducts more than the suggestion, it says why.
    for group in data["groups"]:
        for category in group["categories"]:
            _, rows = category_rows(staff, category["name"])
            for index, row in enumerate(category["indicators"]):
                line = rows.nth(index)
                if row["deviation_reason"]:
                    counter.fill(line.locator("input[name$='-score']"), row["score"])
                    wait_for_figures(staff)
                    expect(line.locator(".reason-prompt")).to_be_visible()
                    counter.fill(line.locator("textarea"), row["deviation_reason"])
    wait_for_figures(staff)
    expect(staff.locator("#live-total-score")).to_have_text("96")
    expect(staff.locator("#live-grade")).to_have_text("优")
    expect(staff.locator("#live-fault-count")).to_have_text("通过")
    shoot(staff, "04-results-filled")
    counter.click(staff.locator("summary", has_text="保存并提交年末自评"))  # then confirm
    counter.click(staff.get_by_role("button", name="确认保存并提交年末自评"))
    expect(staff.locator(".messages")).to_contain_text("年末自评已提交")

    # 4. The reviewer returns it with a comment on one row.
    reviewer.goto(f"{base}/review/")
    reviewer_counter.click(reviewer.get_by_role("link", name=data["unit"]["name"]))
    row = (
        evaluation.indicator_groups.get(name="效益指标")
        .categories.get(name="社会效益指标")
        .indicators.get(name="巡查责任网格覆盖率")
    )
    reviewer_counter.fill(reviewer.get_by_label("退回理由（必填）"), "请补充覆盖率的计算依据。")
    reviewer_counter.click(reviewer.get_by_text("逐行意见（可选）"))
    reviewer_counter.fill(
        reviewer.locator(f"input[name='comment-indicator-{row.pk}']"), "请注明区级督查结果的出处。"
    )
    reviewer_counter.click(reviewer.get_by_role("button", name="退回修改"))
    expect(reviewer.locator(".messages")).to_contain_text("已退回")

    # 5. The 填报人 sees the comment on the row, fixes it and submits again.
    staff.goto(f"{base}/evaluations/{evaluation.pk}/entry/")
    line = staff.locator(f"#indicator-{row.pk}")
    expect(line.locator(".review-comment")).to_contain_text("请注明区级督查结果的出处")
    shoot(staff, "05-returned-with-comment")
    staff.set_viewport_size({"width": 768, "height": 1024})
    line.scroll_into_view_if_needed()
    shoot(staff, "05b-returned-tablet", full_page=False)
    staff.set_viewport_size({"width": 1366, "height": 768})
    reason = line.locator("textarea")
    counter.fill(reason, reason.input_value() + "（依据：2023年区级督查通报）")
    counter.click(staff.locator("summary", has_text="保存并提交年末自评"))  # then confirm
    counter.click(staff.get_by_role("button", name="确认保存并提交年末自评"))
    expect(staff.locator(".messages")).to_contain_text("年末自评已提交")

    # 6. The reviewer sees what changed since the return and approves.
    reviewer.goto(f"{base}/review/")
    reviewer_counter.click(reviewer.get_by_role("link", name=data["unit"]["name"]))
    expect(reviewer.locator(f"tr#indicator-{row.pk}.changed")).to_be_visible()
    shoot(reviewer, "06-resubmitted-changes")
    reviewer_counter.click(reviewer.locator("summary", has_text="审核通过年末自评"))  # then confirm
    reviewer_counter.click(reviewer.get_by_role("button", name="确认审核通过年末自评"))
    expect(reviewer.locator(".messages")).to_contain_text("年末自评已审核通过")
    shoot(reviewer, "07-approved")

    # 7. The PDF holds 96.
    with reviewer.expect_download() as download:
        reviewer.get_by_role("link", name="下载 PDF（正式表格）").click()
    text = "".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages
    )
    assert "合计 100 96" in " ".join(text.split())
    evaluation.refresh_from_db()
    assert evaluation.is_final

    # What filling takes, for the note: written beside the screenshots.
    (SCREENSHOTS / "counts.txt").write_text(
        f"fields={counter.fields} clicks={counter.clicks} "
        f"reviewer_fields={reviewer_counter.fields} reviewer_clicks={reviewer_counter.clicks}\n",
        encoding="utf-8",
    )
    print(
        f"\nfilling the sample: {counter.fields} fields, {counter.clicks} clicks",
        file=os.sys.stderr,
    )


def test_one_form_through_both_levels_with_returns_at_each(browser, live_server):
    """填报 → 主管部门初审 → 区财政审核 in the browser: the district returns the
    results to the 主管部门, the 主管部门 returns them to the unit, and the second
    time round both levels pass them. The step bar and the to-do counts follow."""
    POLICY_VIOLATIONS.clear()
    try:
        walk_the_chain(browser, live_server.url)
        assert POLICY_VIOLATIONS == []
    finally:
        connections.close_all()


def walk_the_chain(browser, base: str) -> None:
    from playwright.sync_api import expect

    from evaluations.roles import ROLE_PARENT_REVIEWER

    from .conftest import make_evaluation, open_results

    data = sample_data()
    district = District.objects.create(code="310112", name="闵行区")
    parent = Unit.objects.create(code="310112-PJ", name="浦锦街道", district=district)
    unit = Unit.objects.create(
        code="310112-PJ-CSYX", name=data["unit"]["name"], district=district, parent=parent
    )
    unit.staff.add(make_user("pujin", ROLE_STAFF, first_name="浦锦填报人"))
    parent.staff.add(
        make_user(
            "street", ROLE_PARENT_REVIEWER, first_name="浦锦街道初审人", email="pj@example.org"
        )
    )
    district.reviewers.add(make_user("minhang", ROLE_REVIEWER, first_name="闵行审核人"))
    evaluation = open_results(make_evaluation(unit))
    table = f"{base}/evaluations/{evaluation.pk}/"
    counter = Counter()

    def current_step(page):
        return page.locator(".step-bar .step-current")

    def badge(page):
        page.goto(base + "/")
        return page.locator("#todo-count")

    # 1. The unit's 年末自评 is to fill: one to-do; it submits from the table page.
    staff = log_in(browser, "pujin", counter, base)
    expect(staff.locator(".todo-pending")).to_have_text("1")
    expect(staff.locator("#todo-count")).to_have_text("1")
    staff.goto(table)
    expect(current_step(staff)).to_contain_text("年末自评 单位填报")
    counter.click(staff.locator("summary", has_text="提交年末自评"))
    counter.click(staff.get_by_role("button", name="确认提交年末自评"))
    expect(staff.locator(".messages")).to_contain_text("年末自评已提交")
    expect(current_step(staff)).to_contain_text("主管部门初审")
    expect(staff.locator("#holder")).to_contain_text("浦锦街道初审人（pj@example.org）")
    expect(badge(staff)).to_have_count(0)
    shoot(staff, "chain-01-at-the-street")

    # 2. The street finds it in its to-do list and passes it on.
    street = log_in(browser, "street", counter, base)
    expect(street.locator("#todo-count")).to_have_text("1")
    counter.click(street.locator("#todo-count"))
    counter.click(street.locator(f"#todo-{evaluation.pk}").get_by_role("link", name="审核"))
    counter.click(street.locator("summary", has_text="初审通过年末自评"))
    counter.fill(street.get_by_label("初审意见（可选）"), "已核对，同意送审。")
    counter.click(street.get_by_role("button", name="确认初审通过，送区财政审核"))
    expect(street.locator(".messages")).to_contain_text("年末自评已通过主管部门初审")
    expect(current_step(street)).to_contain_text("区财政审核")
    expect(badge(street)).to_have_count(0)

    # 3. The district sends it back to the street, not to the unit.
    reviewer = log_in(browser, "minhang", counter, base)
    expect(reviewer.locator("#todo-count")).to_have_text("1")
    reviewer.goto(table)
    expect(reviewer.locator(".opinions")).to_contain_text("已核对，同意送审。")
    counter.fill(reviewer.get_by_label("退回理由（必填）"), "请主管部门核对执行率。")
    counter.click(reviewer.get_by_label("主管部门（浦锦街道），重新初审"))
    counter.click(reviewer.get_by_role("button", name="退回修改"))
    expect(reviewer.locator(".messages")).to_contain_text("年末自评已退回主管部门重新初审")
    expect(current_step(reviewer)).to_contain_text("主管部门初审")
    shoot(reviewer, "chain-02-returned-to-the-street")
    expect(badge(reviewer)).to_have_count(0)

    # 4. The street returns it to the unit, with the district's point.
    expect(badge(street)).to_have_text("1")
    street.goto(table)
    expect(street.locator("#holder")).to_contain_text("区财政已退回")
    counter.fill(street.get_by_label("退回理由（必填）"), "请补充执行率的说明。")
    counter.click(street.get_by_role("button", name="退回填报单位修改"))
    expect(street.locator(".messages")).to_contain_text("年末自评已退回填报单位修改")
    expect(current_step(street)).to_contain_text("单位填报")

    # 5. The unit sees the reason in its to-do list and submits again.
    expect(badge(staff)).to_have_text("1")
    staff.goto(base + "/todo/")
    expect(staff.locator(f"#todo-{evaluation.pk}")).to_contain_text(
        "退回理由：请补充执行率的说明。"
    )
    shoot(staff, "chain-03-to-do-with-the-reason")
    staff.goto(table)
    counter.click(staff.locator("summary", has_text="提交年末自评"))
    counter.click(staff.get_by_role("button", name="确认提交年末自评"))
    expect(staff.locator(".messages")).to_contain_text("年末自评已提交")

    # 6. Both levels pass it; the form is final and nobody has a to-do left.
    street.goto(table)
    counter.click(street.locator("summary", has_text="初审通过年末自评"))
    counter.click(street.get_by_role("button", name="确认初审通过，送区财政审核"))
    expect(badge(reviewer)).to_have_text("1")
    reviewer.goto(table)
    counter.click(reviewer.locator("summary", has_text="审核通过年末自评"))
    counter.click(reviewer.get_by_role("button", name="确认审核通过年末自评"))
    expect(reviewer.locator(".messages")).to_contain_text("年末自评已审核通过")
    expect(reviewer.locator(".step-bar .step-done")).to_have_count(6)
    expect(reviewer.locator("#holder")).to_have_text("本表已审核定稿，无待办环节。")
    shoot(reviewer, "chain-04-final")
    for page in (staff, street, reviewer):
        expect(badge(page)).to_have_count(0)
    evaluation.refresh_from_db()
    assert evaluation.is_final
    assert list(evaluation.review_events.values_list("level", "action", "to_level")) == [
        ("unit", "submit", "parent"),
        ("parent", "approve", "district"),
        ("district", "return", "parent"),
        ("parent", "return", "unit"),
        ("unit", "submit", "parent"),
        ("parent", "approve", "district"),
        ("district", "approve", ""),
    ]


def sign_in(page, base: str, username: str) -> None:
    """Logs in on the page's login form, wherever it came from."""
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def stored_drafts(page) -> dict:
    return page.evaluate(
        "() => Object.fromEntries(Object.keys(localStorage)"
        ".filter((key) => key.startsWith('jixiao-draft:'))"
        ".map((key) => [key, JSON.parse(localStorage.getItem(key))]))"
    )


def test_nothing_typed_is_lost(live_server, staff, sample, browser):
    """A reload, an expired login and a typo lose nothing; Enter never submits;
    Ctrl+S saves; Alt+N finds the next empty field; 退出登录 clears the computer."""
    from django.contrib.sessions.models import Session
    from playwright.sync_api import expect

    base = live_server.url
    entry = f"{base}/evaluations/{sample.pk}/entry/"
    row = sample.indicator_groups.get(name="产出指标").categories.get(name="数量指标")
    row = row.indicators.get(name="设备使用率")
    name_field = f"input[name='indicator-{row.pk}-name']"
    gone = row.category.indicators.get(name="巡管员使用率")
    POLICY_VIOLATIONS.clear()
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", note_policy_violation)
        page.goto(entry)
        sign_in(page, base, "staff")
        page.wait_for_url(entry)

        # Typed, then the tab reloaded (or closed and opened again): all there.
        page.locator(name_field).fill("设备完好率")
        page.locator("input[name='budget-other-budget_amount']").fill("9O.00")
        page.locator("#editor-target_text").fill("新的年初设定目标：做实处置网格。")
        # A row added, another removed.
        head, _ = category_rows(page, "数量指标")
        head.get_by_role("button", name="添加三级指标").click()
        page.locator("tr.indicator-row[id^='indicator-new'] input[name$='-name']").fill(
            "网格巡查次数"
        )
        page.get_by_role("button", name=f"删除“{gone.name}”").click()
        wait_for_figures(page)
        page.once("dialog", lambda dialog: dialog.accept())  # "leave the page?"
        page.reload()
        expect(
            page.locator("tr.indicator-row[id^='indicator-new'] input[name$='-name']")
        ).to_have_value("网格巡查次数")
        expect(page.locator(f"#indicator-{gone.pk}")).to_have_count(0)
        expect(page.locator("#draft-notice")).to_contain_text("已恢复您在本机未保存的内容")
        expect(page.locator(name_field)).to_have_value("设备完好率")
        expect(page.locator("input[name='budget-other-budget_amount']")).to_have_value("9O.00")
        expect(page.locator("#editor-target_text")).to_contain_text("做实处置网格")

        # The login ends on the server (two idle hours); typing finds out and says so.
        Session.objects.all().delete()
        page.locator("input[name='budget-fiscal-budget_amount']").fill("3444197.01")
        expect(page.locator("#draft-notice")).to_contain_text("登录已过期")
        # 保存草稿 lands on the login page, which says the text is kept; after login
        # the entry page has it all back.
        page.locator("button[name='action'][value='save']").click()
        page.wait_for_url("**/accounts/login/**")
        expect(page.locator("[data-draft-login-notice]")).to_be_visible()
        shoot(page, "16-01a-login-after-expiry", full_page=False)
        sign_in(page, base, "staff")
        page.wait_for_url(entry)
        expect(page.locator("#draft-notice")).to_contain_text("登录已过期，已为您保留未保存的内容")
        expect(page.locator(name_field)).to_have_value("设备完好率")
        expect(page.locator("input[name='budget-fiscal-budget_amount']")).to_have_value(
            "3444197.01"
        )
        expect(page.locator("#editor-target_text")).to_contain_text("做实处置网格")
        shoot(page, "16-01b-restored-after-login", full_page=False)

        # Enter in a field moves on and sends nothing.
        page.locator(name_field).press("Enter")
        expect(page.locator(f"input[name='indicator-{row.pk}-target']")).to_be_focused()
        assert page.url == entry
        # Alt+N goes to an empty field.
        page.locator(f"input[name='indicator-{row.pk}-target']").fill("")
        page.locator("input[name='subordinate_unit_count']").focus()
        page.keyboard.press("Alt+N")
        expect(page.locator(f"input[name='indicator-{row.pk}-target']")).to_be_focused()
        page.locator(f"input[name='indicator-{row.pk}-target']").fill("=100.00(%)")

        # Ctrl+S: the typo stays as typed beside its error, everything else is saved.
        page.keyboard.press("Control+S")
        expect(page.locator(".messages")).to_contain_text("有 1 处填写有误")
        expect(page.locator("input[name='budget-other-budget_amount']")).to_have_value("9O.00")
        expect(page.locator("#error-budget-other-budget_amount")).not_to_be_empty()
        shoot(page, "16-01c-typo-kept", full_page=False)
        row.refresh_from_db()
        sample.refresh_from_db()
        assert row.name == "设备完好率"
        assert "做实处置网格" in sample.target_text
        names = set(row.category.indicators.values_list("name", flat=True))
        assert "网格巡查次数" in names and gone.name not in names
        assert sample.budget_lines.get(kind="fiscal").budget_amount == Decimal("3444197.01")
        # That page's typo is kept in the browser too: a reload brings it back.
        page.reload()
        expect(page.locator("input[name='budget-other-budget_amount']")).to_have_value("9O.00")
        page.locator("input[name='budget-other-budget_amount']").fill("90.00")
        page.keyboard.press("Control+S")
        expect(page.locator(".messages")).to_contain_text("草稿已保存")
        assert sample.budget_lines.get(kind="other").budget_amount == Decimal("90.00")
        assert stored_drafts(page) == {}
        # A save with nothing but a typo in it saves nothing: the page says so, and
        # does not take the answered post for a login that ended.
        page.locator("input[name='budget-other-budget_amount']").fill("9X.00")
        page.keyboard.press("Control+S")
        expect(page.locator(".messages")).to_contain_text("有 1 处填写有误")
        expect(page.locator("input[name='budget-other-budget_amount']")).to_have_value("9X.00")
        expect(page.locator("#draft-notice")).not_to_contain_text("登录已过期")

        # Something typed, then 退出登录: nothing of it stays on this computer.
        page.locator(name_field).fill("设备完好率（未保存）")
        wait_for_figures(page)
        assert len(stored_drafts(page)) == 1
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="退出登录").click()
        page.wait_for_url("**/accounts/login/**")
        assert stored_drafts(page) == {}
        expect(page.locator("[data-draft-login-notice]")).to_be_hidden()
        assert POLICY_VIOLATIONS == []
    finally:
        context.close()
        connections.close_all()


def test_a_warning_comes_before_the_login_ends(live_server, staff, sample, browser):
    from playwright.sync_api import expect

    base = live_server.url
    entry = f"{base}/evaluations/{sample.pk}/entry/"
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(entry)
        sign_in(page, base, "staff")
        page.wait_for_url(entry)
        page.clock.install()
        page.reload()
        page.locator("input[name='subordinate_unit_count']").fill("3")
        wait_for_figures(page)
        expect(page.locator("#session-warning")).to_be_hidden()
        page.clock.fast_forward("01:56:00")
        expect(page.locator("#session-warning")).to_contain_text("登录将在约 4 分钟后")
        shoot(page, "16-01d-session-warning", full_page=False)
        page.get_by_role("button", name="保持登录").click()
        expect(page.locator("#session-warning")).to_be_hidden()
        wait_for_figures(page)
    finally:
        context.close()
        connections.close_all()


AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"  # axe-core 4.14.1 (npm)

# What overflows a phone's screen: the page wider than the window, an input too narrow
# to read, a table cell whose content spills out of it (a wide table may scroll inside
# its own box; its cells still hold their content).
LAYOUT_FAULTS = """() => {
  const faults = [];
  const root = document.documentElement;
  if (root.scrollWidth > innerWidth) {
    // Name what sticks out (not what scrolls inside a box of its own).
    const boxed = (element) => {
      for (let up = element.parentElement; up; up = up.parentElement)
        if (getComputedStyle(up).overflowX !== "visible") return true;
      return false;
    };
    const out = [...document.body.querySelectorAll("*")]
      .filter((element) => element.getBoundingClientRect().right > innerWidth && !boxed(element))
      .slice(-3).map((element) => `${element.tagName}.${element.className}`);
    faults.push(`page ${root.scrollWidth} > ${innerWidth}: ${out.join(", ")}`);
  }
  const visible = (element) => element.getClientRects().length > 0;
  const named = (element) => element.name || element.id || element.textContent.trim().slice(0, 20);
  document.querySelectorAll(
    "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea, select"
  ).forEach((field) => {
    const width = field.getBoundingClientRect().width;
    if (visible(field) && width < 48) faults.push(`input ${named(field)} ${Math.round(width)}px`);
  });
  document.querySelectorAll("td, th").forEach((cell) => {
    if (visible(cell) && cell.scrollWidth > cell.clientWidth + 1)
      faults.push(`cell "${named(cell)}" ${cell.scrollWidth} > ${cell.clientWidth}`);
  });
  return faults;
}"""


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it stands (every rule axe runs by default)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{violation['id']}: {violation['help']} — "
        + "; ".join(
            node["target"][0] if isinstance(node["target"][0], str) else str(node["target"])
            for node in violation["nodes"][:4]
        )
        for violation in results["violations"]
    ]


def test_every_page_fits_a_phone_and_passes_axe(
    live_server, staff, reviewer, manager, sample, other_unit, browser
):
    """At 390 px the entry, table, overview and queue pages (and the others the roles
    use) fit the screen; axe-core finds nothing on any page of the site or of the admin
    the roles use."""
    from playwright.sync_api import expect

    base = live_server.url
    open_results(sample)
    waiting = make_evaluation(other_unit, data=targets_only_data())
    rechecked = make_evaluation(sample.unit.parent)
    project = make_project_form(sample.unit)
    Evaluation.objects.filter(pk=rechecked.pk).update(phase="results", status="submitted")
    other = make_user("other", ROLE_STAFF)
    other_unit.staff.add(other)
    workflow.submit(waiting, by=other)
    row = sample.indicator_groups.get(name="产出指标").categories.get(name="数量指标")
    row = row.indicators.first()
    pages = {
        "staff": [
            ("home", "/"),
            ("entry", f"/evaluations/{sample.pk}/entry/"),
            ("table", f"/evaluations/{sample.pk}/"),
            ("project-entry", f"/evaluations/{project.pk}/entry/"),
            ("project-table", f"/evaluations/{project.pk}/"),
            ("import", f"/evaluations/{sample.pk}/import/"),
            ("password", "/accounts/password/"),
            ("not-found", "/evaluations/999999/"),
            ("todo", "/todo/"),
        ],
        "reviewer": [
            ("home", "/"),
            ("queue", "/review/"),
            ("reviewer-todo", "/todo/"),
            ("review", f"/evaluations/{waiting.pk}/"),
            ("recheck", f"/evaluations/{rechecked.pk}/#recheck"),
            ("overview", "/overview/"),
        ],
        "manager": [
            ("exports", "/exports/"),
            ("admin", "/admin/"),
            ("admin-evaluations", "/admin/evaluations/evaluation/"),
            ("admin-evaluation", f"/admin/evaluations/evaluation/{sample.pk}/change/"),
            ("admin-history", f"/admin/evaluations/evaluation/{sample.pk}/history/"),
            ("admin-units", "/admin/evaluations/unit/"),
            ("admin-unit-add", "/admin/evaluations/unit/add/"),
            ("admin-users", "/admin/auth/user/"),
            ("admin-user", f"/admin/auth/user/{staff.pk}/change/"),
            ("admin-districts", "/admin/evaluations/district/"),
            ("admin-templates", "/admin/indicators/indicatortemplate/"),
            ("admin-template-import", "/admin/indicators/indicatortemplate/import/"),
            ("admin-events", "/admin/evaluations/reviewevent/"),
        ],
    }
    phone_pages = {
        "home",
        "entry",
        "table",
        "project-entry",
        "project-table",
        "queue",
        "review",
        "overview",
        "todo",
    }
    accessibility, layout = {}, {}
    POLICY_VIOLATIONS.clear()
    login = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    try:
        page = login.new_page()
        page.goto(base + "/accounts/login/")
        accessibility["login"] = axe_violations(page)
    finally:
        login.close()
    try:
        for username, visits in pages.items():
            page = log_in(browser, username, Counter(), base)
            for name, path in visits:
                page.set_viewport_size({"width": 1366, "height": 768})
                response = page.goto(base + path)
                assert response.status == (404 if name == "not-found" else 200), path
                accessibility[name] = axe_violations(page)
                shoot(page, f"16-{name}", full_page=False)
                if name in phone_pages:
                    page.set_viewport_size({"width": 390, "height": 844})
                    page.wait_for_timeout(50)  # one frame for the layout
                    layout[name] = page.evaluate(LAYOUT_FAULTS)
                    shoot(page, f"16-07-{name}-390")
            if username == "staff":
                # An Excel file changing fields closed since the targets' approval: the
                # preview lists every one of them before anything can be confirmed.
                workbook = load(render_xlsx(Evaluation.objects.with_table().get(pk=sample.pk)))
                sheet = workbook.active
                sheet.cell(5, 5).value = 8278262.03  # 财政拨款·全年预算数
                sheet.cell(find_row(sheet, 4, "设备使用准确率"), 5).value = "≥99.00(%)"
                page.set_viewport_size({"width": 1366, "height": 768})
                page.goto(f"{base}/evaluations/{sample.pk}/import/")
                page.locator("input[type=file]").set_input_files(
                    files=[{"name": "自评表.xlsx", "mimeType": XLSX, "buffer": save(workbook)}]
                )
                page.locator("form.upload button[type=submit]").click()
                expect(page.locator(".refusal")).to_contain_text("以下 2 处不能修改的内容")
                expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
                accessibility["workbook-preview"] = axe_violations(page)
                shoot(page, "16-03-workbook-preview-locked", full_page=False)
                # The row a return comment links to, and the fault list after a failed
                # submit, come out below the sticky summary, above the save bar.
                Indicator.objects.filter(pk=row.pk).update(points=row.points + 1)
                page.set_viewport_size({"width": 1366, "height": 768})
                entry = f"{base}/evaluations/{sample.pk}/entry/"
                for anchor in (f"indicator-{row.pk}", "faults"):
                    page.goto(f"{entry}#{anchor}")
                    expect(page.locator(f"#{anchor}")).to_be_in_viewport()
                    assert uncovered(page, f"#{anchor}"), anchor
                    shoot(page, f"16-04-entry-at-{anchor.split('-')[0]}", full_page=False)
                Indicator.objects.filter(pk=row.pk).update(points=row.points)
            if username == "reviewer":
                # Enter in a 再复核 field moves on; it never sends the form half-typed.
                page.set_viewport_size({"width": 1366, "height": 768})
                page.goto(f"{base}/evaluations/{rechecked.pk}/#recheck")
                score = page.locator("input[name^='review_score-']").first
                score.fill("1")
                score.press("Enter")
                expect(page.locator("input[name^='review_opinion-']").first).to_be_focused()
                assert not Indicator.objects.filter(
                    category__group__evaluation=rechecked, review_score__isnull=False
                ).exists()
            page.context.close()
    finally:
        connections.close_all()
    (SCREENSHOTS / "layout-and-axe.json").write_text(
        json.dumps({"layout": layout, "axe": accessibility}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    assert {name: faults for name, faults in layout.items() if faults} == {}
    assert {name: found for name, found in accessibility.items() if found} == {}
    # django-simple-history's history list draws its paginator with style="border-top: 0";
    # refused, the paginator keeps the admin's top border, nothing else changes.
    refused = [text for text in POLICY_VIOLATIONS if "/history/: Applying inline style" not in text]
    assert refused == []


RECHECK_BOXES = """() => {
  const box = document.querySelector('.recheck-scroll');
  const edges = (element) => {
    const rect = element.getBoundingClientRect();
    return { top: rect.top, bottom: rect.bottom };
  };
  return {
    box: { ...edges(box), inner: box.getBoundingClientRect().top + box.clientTop },
    heads: [...box.querySelectorAll('thead th')].map(edges),
    scrollTop: box.scrollTop,
    scrolls: box.scrollHeight > box.clientHeight,
    focused: document.activeElement.closest('.recheck-scroll') ? edges(document.activeElement) : null,
  };
}"""


def test_the_recheck_column_names_stay_at_the_top_of_their_box(
    live_server, reviewer, sample, browser
):
    """At 390 px the 再复核 rows scroll inside their box, under column names that stay at
    its top: they cover neither the first row nor a field the focus moves to."""
    from playwright.sync_api import expect

    rechecked = make_evaluation(sample.unit.parent)
    Evaluation.objects.filter(pk=rechecked.pk).update(phase="results", status="submitted")
    try:
        page = log_in(browser, "reviewer", Counter(), live_server.url)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/evaluations/{rechecked.pk}/#recheck")
        expect(page.locator(".recheck-scroll")).to_be_visible()
        at_rest = page.evaluate(RECHECK_BOXES)
        assert at_rest["scrolls"]
        head_bottom = max(head["bottom"] for head in at_rest["heads"])
        first_row = page.locator(".recheck-table tbody tr").first.bounding_box()
        assert first_row["y"] >= head_bottom - 0.5  # the first row starts below the names
        for scroll_top in (300, 900, 100_000):
            page.locator(".recheck-scroll").evaluate(
                "(box, top) => { box.scrollTop = top; }", scroll_top
            )
            page.wait_for_timeout(50)  # one frame
            scrolled = page.evaluate(RECHECK_BOXES)
            assert scrolled["scrollTop"] > 0
            for head in scrolled["heads"]:
                assert abs(head["top"] - scrolled["box"]["inner"]) < 1, (scroll_top, head)
                assert head["bottom"] == pytest.approx(head_bottom, abs=1)
        # A field hidden under the names (the box scrolled to put it at its top edge)
        # comes out below them when it takes the focus, as after Shift+Tab.
        field = page.locator("input[name^='review_score-']").nth(8)
        page.locator(".recheck-scroll").evaluate(
            "(box, field) => { box.scrollTop += field.getBoundingClientRect().top"
            " - box.getBoundingClientRect().top - box.clientTop - 4; }",
            field.element_handle(),
        )
        assert page.evaluate(RECHECK_BOXES)["focused"] is None
        field.focus()
        page.wait_for_timeout(50)
        focused = page.evaluate(RECHECK_BOXES)["focused"]
        assert focused["top"] >= head_bottom, focused
        assert focused["bottom"] <= at_rest["box"]["bottom"]
        page.context.close()
    finally:
        connections.close_all()


def uncovered(page, selector: str) -> bool:
    """The element's top is below the sticky summary and above the save bar."""
    return page.evaluate(
        """(selector) => {
          const box = document.querySelector(selector).getBoundingClientRect();
          const bars = [...document.querySelectorAll('.entry-summary, .entry-actions')]
            .map((bar) => bar.getBoundingClientRect());
          return bars.every((bar) => box.top >= bar.bottom || box.top + 10 <= bar.top);
        }""",
        selector,
    )
