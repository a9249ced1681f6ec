"""The official table page: what it shows, to whom, and at what cost."""

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from evaluations import workflow
from evaluations.models import BudgetLine, Evaluation
from evaluations.roles import ROLE_STAFF
from indicators.models import Indicator, IndicatorGroup

from .conftest import (
    make_evaluation,
    make_unit,
    make_user,
    open_results,
    synthetic_data,
    targets_only_data,
)


def table_url(evaluation) -> str:
    return reverse("evaluation_table", args=[evaluation.pk])


def test_wrong_method(staff_client, sample):
    assert staff_client.post(table_url(sample)).status_code == 405


def test_unknown_evaluation_is_404(staff_client, sample):
    assert staff_client.get(reverse("evaluation_table", args=[sample.pk + 999])).status_code == 404


def test_shows_the_sample_to_the_cent(staff_client, sample):
    response = staff_client.get(table_url(sample))
    assert response.status_code == 200
    page = response.content.decode()
    for figure in [
        "8,278,261.03",
        "8,275,824.74",
        "99.97",
        "3,444,197.01",
        "3,441,760.72",
        "99.92",
        "4,834,064.02",
        "100.00",
        "=100.00(%)",
        "≥90.00(%)",
        "=12.00(人)",
        "=33.00(个)",
        "35.00(个)",
        "97.00(%)",
        "提升",
        "达成指标",
        "根据沪财预【2022】13号文的规定要求设置三级指标和指标值",
        "2023年，街道新增一个居委工作站-新浦江城三居委",
        "部门（单位）整体支出绩效自评表",
        "(2023年度)",
        "上海市闵行区浦锦街道城市运行管理中心",
    ]:
        assert figure in page, figure
    assert '<td class="num">0.00</td>' in page  # 其他资金: 0.00 / 0.00 / 0.00
    assert '<td class="num">100</td>' in page and '<td class="num">96</td>' in page
    assert '评价等级 <strong class="grade">优</strong>' in page
    assert "一致性检查通过" in page
    # merged cells of the form
    assert '<th rowspan="7" scope="rowgroup" class="group-name">投入管理指标</th>' in page
    assert '<td rowspan="7" class="group-note">' in page
    assert '<td rowspan="12" class="num">25</td>' in page
    assert '<td rowspan="5">数量指标</td>' in page


def test_shows_each_fault_at_its_row(staff_client, sample):
    output = IndicatorGroup.objects.get(evaluation=sample, name="产出指标")
    output.weight = Decimal("24")
    output.save()
    # More budget than spent (spending above budget is a fault of its own).
    BudgetLine.objects.filter(evaluation=sample, kind="project").update(
        budget_amount=Decimal("4834065.02")
    )
    open_results(sample)
    lowered = Indicator.objects.get(category__group=output, name="设备使用率")
    lowered.score = Decimal("1.50")
    lowered.save()

    page = staff_client.get(table_url(sample)).content.decode()

    assert "一致性检查：发现 4 处问题" in page
    weight_fault = "一级指标“产出指标”：各指标分值合计 25，与权重 24 不一致。"
    assert f'href="#group-{output.pk}">{weight_fault}' in page
    group_cell = page[page.index(f'id="group-{output.pk}"') :]
    assert weight_fault in group_cell[: group_cell.index("</th>")]
    row_fault = "“设备使用率”：得分 1.50 低于分值 2.00，请填写偏差及原因分析。"
    row = page[page.index(f'<tr id="indicator-{lowered.pk}" class="faulty">') :]
    assert row_fault in row[: row.index("</tr>")]
    budget_block = page[page.index('id="budget"') : page.index('class="goal-block"')]
    assert "整体支出规模·全年预算数：资金来源合计（财政拨款+其他资金）8,278,261.03" in budget_block
    total_row = page[page.index('id="indicator-total"') :]
    assert "各一级指标权重合计 99，应为 100。" in total_row


def test_a_budget_line_fault_is_shown_by_its_line(staff_client, sample):
    BudgetLine.objects.filter(evaluation=sample, kind="other").update(
        budget_amount=Decimal("2000.00"), executed_amount=Decimal("3000.00")
    )
    BudgetLine.objects.filter(evaluation=sample, kind="basic").update(
        budget_amount=Decimal("3446197.01"), executed_amount=Decimal("3444760.72")
    )
    page = staff_client.get(table_url(sample)).content.decode()
    assert '<tr id="budget-other" class="faulty">' in page
    budget_block = page[page.index('id="budget"') : page.index('class="goal-block"')]
    assert "整体支出规模·其他资金：全年执行数 3,000.00 超过全年预算数 2,000.00" in budget_block
    assert 'href="#budget-other">整体支出规模·其他资金' in page


def test_rich_text_is_escaped_or_cleaned(staff_client, sample):
    open_results(sample)
    sample.result_text = "<p>完成<script>alert(1)</script></p>"
    sample.save()
    Indicator.objects.filter(category__group__evaluation=sample, name="设备使用准确率").update(
        deviation_reason="<b>原因</b><script>x</script>"
    )
    page = staff_client.get(table_url(sample)).content.decode()
    assert "<script>alert(1)</script>" not in page and "<p>完成</p>" in page
    assert "&lt;b&gt;原因&lt;/b&gt;&lt;script&gt;x&lt;/script&gt;" in page


@pytest.mark.parametrize("row_count", [10, 80])
def test_runs_a_fixed_number_of_queries(staff, district, django_assert_num_queries, row_count):
    unit = make_unit(f"U{row_count}", f"测试单位{row_count}", district)
    unit.staff.add(staff)
    evaluation = make_evaluation(unit, data=synthetic_data(row_count))
    client = Client()
    client.force_login(staff)
    # Drawn: session, user, the user's scope (roles, units, districts), the evaluation
    # with its unit, its filing window (a draft: the submit guard and the countdown),
    # the people who hold the form now, the state of the unit's project forms; then the
    # tree through the same access check (the evaluation again, budget lines, 一级, 二级,
    # 三级), the history, the events with their actors, the project forms' sums beside
    # 项目支出 and the 佐证材料; and the top bar's to-do count.
    with django_assert_num_queries(17):
        drawn = client.get(table_url(evaluation))
    # Unchanged: the first seven and the to-do count (nobody to check for renames on a
    # fresh draft); the session is not written again within a minute.
    with django_assert_num_queries(8):
        cached = client.get(table_url(evaluation))
    for response in (drawn, cached):
        assert response.content.decode().count('<tr id="indicator-') == row_count


def test_home_lists_evaluations(staff_client, sample):
    page = staff_client.get(reverse("home")).content.decode()
    assert table_url(sample) in page
    assert "草稿" in page


def test_home_says_who_acts_next(client, staff, reviewer, sample):
    from evaluations import workflow

    def next_steps() -> dict[str, str]:
        steps = {}
        for user in (staff, reviewer):
            client.force_login(user)
            page = client.get(reverse("home")).content.decode()
            steps[user.username] = page.split('<span class="next-step')[1].split("</span>")[0]
        return steps

    assert next_steps() == {
        "staff": ' yours">待您填报年初目标',
        "reviewer": '">下一步：单位填报人填报年初目标',
    }
    workflow.submit(sample, by=staff)
    assert next_steps() == {
        "staff": '">下一步：区财政局审核人审核年初目标',
        "reviewer": ' yours">待您审核年初目标',
    }
    workflow.return_for_revision(sample, by=reviewer, reason="请补充。")
    assert next_steps()["staff"] == ' yours">待您修改年初目标'
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)
    assert next_steps()["staff"] == ' yours">待您填报年末自评'
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)
    assert next_steps() == {
        "staff": '">已审核定稿，无需再办理',
        "reviewer": '">已审核定稿，无需再办理',
    }


def test_a_returned_evaluation_with_its_history_costs_the_same_for_any_row_count(
    staff, reviewer, district
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluations import workflow

    counts = []
    for row_count in (10, 80):
        unit = make_unit(f"R{row_count}", f"退回单位{row_count}", district)
        unit.staff.add(staff)
        evaluation = make_evaluation(unit, data=synthetic_data(row_count))
        workflow.submit(evaluation, by=staff)
        first = Indicator.objects.filter(category__group__evaluation=evaluation).first()
        workflow.return_for_revision(
            evaluation, by=reviewer, reason="请修改", comments={first.anchor: "目标值偏低"}
        )

        def change(locked, first=first):
            first.name = "改过名的指标"
            first.save()

        with workflow.changing(evaluation, by=staff, expected_version=3) as locked:
            change(locked)
        client = Client()
        client.force_login(staff)
        for _drawn_then_cached in range(2):
            with CaptureQueriesContext(connection) as queries:
                page = client.get(table_url(evaluation)).content.decode()
            assert "审核意见：目标值偏低" in page and "以来的修改" in page
            counts.append(len(queries))
    # Drawn: the 17 of a draft, the notes of the return and the five field histories.
    # Unchanged: the 8 of a draft, and the names of who made the changes and took the
    # steps (a rename shows).
    assert counts == [23, 9, 23, 9]


def test_an_extension_b_character_is_on_the_page(staff_client, sample):
    name = "上海市\U00021484城街道城市运行管理中心"  # 𡒄, CJK Extension B
    sample.unit.name = name
    sample.unit.save()
    page = staff_client.get(table_url(sample)).content.decode()
    assert f'<td colspan="5" class="unit-name">{name}</td>' in page


def drew_the_table(response) -> bool:
    return "evaluations/_official_table.html" in [template.name for template in response.templates]


def test_an_unchanged_table_is_drawn_once_for_everyone(staff_client, reviewer, sample):
    cache.clear()
    assert drew_the_table(staff_client.get(table_url(sample)))
    workflow.submit(sample, by=sample.unit.staff.get())

    # Submitting changed the status: drawn again, then served from the cache, also to
    # the reviewer, who gets the reviewer's buttons with it.
    assert drew_the_table(staff_client.get(table_url(sample)))
    staff_page = staff_client.get(table_url(sample))
    reviewer_client = Client()
    reviewer_client.force_login(reviewer)
    reviewer_page = reviewer_client.get(table_url(sample))
    assert not drew_the_table(staff_page) and not drew_the_table(reviewer_page)
    assert "8,278,261.03" in reviewer_page.content.decode()
    assert "审核通过年初目标" in reviewer_page.content.decode()
    assert "审核通过年初目标" not in staff_page.content.decode()


def test_a_change_anywhere_in_the_table_draws_it_again(staff_client, reviewer, sample):
    cache.clear()
    staff_client.get(table_url(sample))
    # Written as any code writes a row (a shell, a command): through save(), outside
    # `workflow.changing`, so the version stays; the evaluation's row moves all the same.
    indicator = Indicator.objects.get(category__group__evaluation=sample, name="设备使用率")
    indicator.name = "设备完好率"
    indicator.save()
    response = staff_client.get(table_url(sample))
    assert drew_the_table(response) and "设备完好率" in response.content.decode()

    # A return's note on a row is drawn into the table too.
    workflow.submit(sample, by=sample.unit.staff.get())
    staff_client.get(table_url(sample))
    first = Indicator.objects.filter(category__group__evaluation=sample).first()
    workflow.return_for_revision(
        sample, by=reviewer, reason="请修改", comments={first.anchor: "目标值偏低"}
    )
    response = staff_client.get(table_url(sample))
    assert drew_the_table(response) and "审核意见：目标值偏低" in response.content.decode()


def test_a_form_of_targets_only_has_no_score_and_no_grade(staff_client, unit):
    evaluation = make_evaluation(unit, data=targets_only_data())

    page = staff_client.get(table_url(evaluation)).content.decode()

    assert '总得分 <strong>—</strong>，评价等级 <strong class="grade">—</strong>' in page
    assert 'grade">差' not in page
    assert re.search(
        r'<th colspan="6" scope="row">合计</th>\s*<td class="num">100</td>\s*'
        r'<td class="num">—</td>',
        page,
    )


def test_an_approved_form_leads_with_its_approval_not_the_old_return(staff, reviewer, sample):
    from evaluations import workflow

    workflow.submit(sample, by=staff)
    workflow.return_for_revision(sample, by=reviewer, reason="请补充目标依据。")
    workflow.submit(sample, by=staff)
    client = Client()
    client.force_login(reviewer)
    page = client.get(table_url(sample)).content.decode()
    # Approving takes a confirmation: the button that acts is inside a closed disclosure.
    disclosure = page[page.index('<details class="action confirm">') :]
    disclosure = disclosure[: disclosure.index("</details>")]
    assert "<summary>审核通过年初目标…</summary>" in disclosure
    assert '<button type="submit">确认审核通过年初目标</button>' in disclosure
    assert "审核通过后年初目标锁定" in disclosure

    workflow.approve(sample, by=reviewer)
    workflow.submit(sample, by=staff)
    workflow.approve(sample, by=reviewer)

    page = client.get(table_url(sample)).content.decode()
    assert 'class="last-return"' not in page
    assert "本表已审核定稿：审核人 <strong>闵行审核人</strong>，审核时间 <strong>" in page
    assert page.index('id="final"') < page.index('id="history"')
    past = page[page.index('<details class="past-return">') :]
    assert "上次退回理由" in past and "请补充目标依据。" in past[: past.index("</details>")]
    assert "（年初目标已审核，只读：闵行审核人 " in page


def test_submitting_takes_a_confirmation(staff_client, sample):
    page = staff_client.get(table_url(sample)).content.decode()
    disclosure = page[page.index('<details class="action confirm">') :]
    disclosure = disclosure[: disclosure.index("</details>")]
    assert "<summary>提交年初目标…</summary>" in disclosure
    assert '<button type="submit">确认提交年初目标</button>' in disclosure


def form_token(page: str, action: str) -> str:
    form = page[page.index(f'action="{action}"') :]
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)


def test_a_cached_page_carries_each_response_its_own_token(staff, unit, sample):
    colleague = make_user("colleague", ROLE_STAFF)
    unit.staff.add(colleague)
    clients = {}
    for user in (staff, colleague):
        clients[user] = Client(enforce_csrf_checks=True)
        clients[user].force_login(user)
    first = clients[staff].get(table_url(sample))
    second = clients[colleague].get(table_url(sample))
    assert drew_the_table(first) and not drew_the_table(second)  # the same buttons: one drawing
    submit = reverse("submit_evaluation", args=[sample.pk])
    tokens = [form_token(response.content.decode(), submit) for response in (first, second)]
    assert tokens[0] != tokens[1]

    # The token in the cached page is one its reader's session accepts, and only theirs.
    refused = clients[colleague].post(submit, {"csrfmiddlewaretoken": tokens[0]})
    assert refused.status_code == 403
    answer = clients[colleague].post(submit, {"csrfmiddlewaretoken": tokens[1]})
    assert answer.status_code == 302
    sample.refresh_from_db()
    assert sample.status == "submitted"


def test_a_cached_page_is_still_only_for_those_who_may_see_it(sample, cast, client):
    url = table_url(sample)
    for name in ("staff", "parent_staff", "reviewer", "manager"):
        client.force_login(cast[name])
        assert client.get(url).status_code == 200
    for name in ("other_staff", "other_reviewer"):
        client.force_login(cast[name])
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_each_role_gets_its_own_buttons_from_the_cache(sample, cast, client):
    """Who may do what differs on one unchanged form; each sees their own buttons,
    however often and in whichever order they ask."""
    url = table_url(sample)
    workflow.submit(sample, by=cast["staff"])
    approve, submit = reverse("approve_evaluation", args=[sample.pk]), "确认提交"
    entry = reverse("evaluation_entry", args=[sample.pk])
    for _ in range(2):
        for name in ("reviewer", "staff", "parent_staff", "manager"):
            client.force_login(cast[name])
            page = client.get(url).content.decode()
            assert (approve in page) is (name == "reviewer"), name
            assert submit not in page  # submitted: nobody submits again
            assert (entry in page) is (name in ("staff", "manager")), name
            assert "8,278,261.03" in page


def test_renames_show_at_once(staff, reviewer, sample, staff_client):
    workflow.submit(sample, by=staff)
    first = Indicator.objects.filter(category__group__evaluation=sample).first()
    workflow.return_for_revision(
        sample, by=reviewer, reason="请修改", comments={first.anchor: "目标值偏低"}
    )
    with workflow.changing(sample, by=staff, expected_version=sample.version):
        first.name = "改过名的指标"
        first.save()
    page = staff_client.get(table_url(sample)).content.decode()
    assert "上海市闵行区浦锦街道城市运行管理中心" in page
    assert "<td>闵行审核人</td>" in page  # who returned it, in the 审核记录
    assert "<td>浦锦填报人</td>" in page  # who changed the row since

    sample.unit.name = "浦锦街道城市运行管理中心（更名）"
    sample.unit.save()
    reviewer.first_name = "区财政局审核人"
    reviewer.save()
    staff.first_name = "城运中心填报人"
    staff.save()
    page = staff_client.get(table_url(sample)).content.decode()
    assert "浦锦街道城市运行管理中心（更名）" in page
    assert "<td>区财政局审核人</td>" in page and "闵行审核人" not in page
    assert "<td>城运中心填报人</td>" in page and "浦锦填报人" not in page


def test_writes_outside_the_workflow_show_at_once(sample, staff_client):
    url = table_url(sample)
    staff_client.get(url)
    # A field of the evaluation itself, written around save().
    Evaluation.objects.filter(pk=sample.pk).update(target_text="<p>改写的年初设定目标</p>")
    assert "改写的年初设定目标" in staff_client.get(url).content.decode()
    # A row deleted through delete(), as in a shell.
    row = Indicator.objects.get(category__group__evaluation=sample, name="设备使用率")
    row.delete()
    assert "设备使用率" not in staff_client.get(url).content.decode()
    # A budget line saved, as in a shell.
    line = BudgetLine.objects.get(evaluation=sample, kind="other")
    line.budget_amount = Decimal("1234.56")
    line.save()
    assert "1,234.56" in staff_client.get(url).content.decode()


def test_a_recheck_shows_at_once(sample, staff, reviewer):
    open_results(sample)
    workflow.submit(sample, by=staff)
    client = Client()
    client.force_login(reviewer)
    assert "再复核：" not in client.get(table_url(sample)).content.decode()
    row = Indicator.objects.get(category__group__evaluation=sample, name="设备使用准确率")
    workflow.recheck(
        sample,
        row.pk,
        by=reviewer,
        review_score="1.00",
        review_opinion="依据不足",
        expected_version=sample.version,
    )
    page = client.get(table_url(sample)).content.decode()
    assert "再复核：复核得分 <strong>1.00</strong>" in page and "依据不足" in page


def test_the_cached_page_follows_the_people_of_its_chain(staff, reviewer, district, sample):
    """The page is kept while the form is unchanged, but who holds it and who took its
    steps are people: a reviewer added to the district and a renamed reviewer show at
    once, without the form changing."""
    from evaluations.roles import ROLE_REVIEWER

    workflow.submit(sample, by=staff)
    client = Client()
    client.force_login(staff)
    holder = client.get(table_url(sample)).content.decode().split('id="holder"')[1]
    assert "闵行审核人" in holder and "新来的审核人" not in holder

    newcomer = make_user("newcomer", ROLE_REVIEWER, first_name="新来的审核人")
    district.reviewers.add(newcomer)
    holder = client.get(table_url(sample)).content.decode().split('id="holder"')[1]
    assert "新来的审核人" in holder.split("</div>")[0]

    sample.refresh_from_db()
    workflow.return_for_revision(sample, by=reviewer, reason="请补充佐证")
    assert "闵行审核人" in client.get(table_url(sample)).content.decode().split("opinions")[1]
    reviewer.first_name = "改名后的审核人"
    reviewer.save()
    opinions = client.get(table_url(sample)).content.decode().split("opinions")[1]
    assert "改名后的审核人" in opinions and "闵行审核人" not in opinions
