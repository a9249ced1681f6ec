"""The sample through a whole year, over HTTP, and the history the page then tells."""

import re
from decimal import Decimal

from django.test import Client
from django.urls import reverse

from evaluations import workflow
from evaluations.history import changes_since
from evaluations.models import Evaluation
from indicators.models import Indicator


def row(evaluation, name: str) -> Indicator:
    return Indicator.objects.get(category__group__evaluation=evaluation, name=name)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, name: str, evaluation: Evaluation, data=None) -> list[str]:
    """Posts a review form as the page would: with the version the page was read at."""
    evaluation.refresh_from_db()
    data = {"version": evaluation.version, **(data or {})}
    response = client.post(reverse(name, args=[evaluation.pk]), data, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_whole_year_reads_correctly_on_the_page(sample, staff, reviewer):
    unit, district = logged_in(staff), logged_in(reviewer)
    accuracy, coverage = row(sample, "设备使用准确率"), row(sample, "巡查责任网格覆盖率")

    assert post(unit, "submit_evaluation", sample) == ["年初目标已提交，等待审核。"]
    assert post(district, "approve_evaluation", sample) == ["年初目标已审核通过。"]

    def fill(locked):
        locked.result_text = "<p>全年完成情况良好。</p>"
        locked.save()
        coverage.score = Decimal("7.00")
        coverage.save()

    sample.refresh_from_db()
    with workflow.changing(sample, by=staff, expected_version=sample.version) as locked:
        fill(locked)
    assert post(unit, "submit_evaluation", sample) == ["年末自评已提交，等待审核。"]
    assert post(
        district,
        "return_evaluation",
        sample,
        {
            "reason": "两处得分需要说明",
            f"comment-{accuracy.anchor}": "97% 对应得分偏低，请复核",
            f"comment-{coverage.anchor}": "扣分依据请写明",
            "comment-budget-other": "",
        },
    ) == ["年末自评已退回填报单位修改。"]

    def fix(locked):
        accuracy.refresh_from_db()
        accuracy.score = Decimal("1.50")
        accuracy.save()
        coverage.refresh_from_db()
        coverage.deviation_reason = "按区级督查结果换算，详见附件。"
        coverage.save()

    # The fix is made in the browser, so the history knows who made it.
    sample.refresh_from_db()
    with workflow.changing(sample, by=staff, expected_version=sample.version) as locked:
        fix(locked)
    assert post(unit, "submit_evaluation", sample) == ["年末自评已提交，等待审核。"]
    assert post(district, "approve_evaluation", sample) == ["年末自评已审核通过。"]

    page = district.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "阶段：<strong>年末自评</strong> 状态：<strong>已审核</strong>" in page

    history = text_of(page[page.index('id="history"') :])
    events = [
        [text_of(cell).strip() for cell in re.findall(r"<td>(.*?)</td>", cells, re.S)][1:]
        for cells in re.findall(r'<tr class="event-\w+">(.*?)</tr>', page, re.S)
    ]
    assert events == [
        ["浦锦填报人", "提交", "年初目标", "单位填报 → 区财政审核", "草稿 → 已提交", ""],
        ["闵行审核人", "审核通过", "年初目标", "区财政审核 → 单位填报", "已提交 → 已审核", ""],
        ["浦锦填报人", "提交", "年末自评", "单位填报 → 区财政审核", "草稿 → 已提交", ""],
        [
            "闵行审核人",
            "退回",
            "年末自评",
            "区财政审核 → 单位填报",
            "已提交 → 已退回",
            "两处得分需要说明",
        ],
        ["浦锦填报人", "提交", "年末自评", "单位填报 → 区财政审核", "已退回 → 已提交", ""],
        ["闵行审核人", "审核通过", "年末自评", "区财政审核", "已提交 → 已审核", ""],
    ]

    # What changed since the return: exactly the two fixes, by the unit's staff.
    changes = history[history.index("以来的修改") :]
    assert "三级指标“设备使用准确率” 得分 1.00 1.50 浦锦填报人" in changes
    assert "三级指标“巡查责任网格覆盖率” 偏差及原因分析" in changes
    assert "按区级督查结果换算，详见附件。" in changes
    assert "全年完成情况" not in changes  # filled before the return

    # The reviewer's notes sit at their rows.
    accuracy_row = page[page.index(f'<tr id="{accuracy.anchor}"') :]
    assert "审核意见：97% 对应得分偏低，请复核" in accuracy_row[: accuracy_row.index("</tr>")]
    coverage_row = page[page.index(f'<tr id="{coverage.anchor}"') :]
    assert "审核意见：扣分依据请写明" in coverage_row[: coverage_row.index("</tr>")]


def test_the_recheck_shows_beside_the_units_score_and_in_the_history(sample, reviewer):
    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="submitted")
    accuracy = row(sample, "设备使用准确率")
    client = logged_in(reviewer)
    response = client.post(
        reverse("recheck_indicator", args=[sample.pk, accuracy.pk]),
        {"review_score": "1.5", "review_opinion": "扣分偏多", "version": "1"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["复核得分和意见已保存。"]
    page = response.content.decode()
    accuracy_row = page[page.index(f'<tr id="{accuracy.anchor}"') :]
    assert (
        "再复核：复核得分 <strong>1.50</strong>（单位自评 1.00）；复核意见：扣分偏多"
        in accuracy_row[: accuracy_row.index("</tr>")]
    )
    history = text_of(page[page.index('id="history"') :])
    assert (
        "再复核 年末自评 区财政审核 已提交 “设备使用准确率”：复核得分 1.50（单位自评 1.00）；意见：扣分偏多"
        in (history)
    )


def test_the_official_export_leaves_the_review_notes_out(sample, reviewer):
    from evaluations.management.commands.export_evaluation import render_html

    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="submitted")
    workflow.recheck(
        sample,
        row(sample, "设备使用准确率").pk,
        by=reviewer,
        review_score="1.5",
        review_opinion="扣分偏多",
        expected_version=1,
    )
    html = render_html(Evaluation.objects.with_table().get(pk=sample.pk)).decode()
    assert "扣分偏多" not in html and "再复核" not in html


def test_changes_since_lists_rows_added_and_deleted(sample, staff):
    from django.utils import timezone

    from indicators.models import IndicatorGroup

    moment = timezone.now()
    group = IndicatorGroup.objects.create(evaluation=sample, name="新一级", weight=Decimal("1"))
    row(sample, "设备使用率").delete()
    group.name = "新一级指标"
    group.save()
    found = {(c.row, c.field, c.old, c.new) for c in changes_since(sample, moment)}
    assert found == {
        ("一级指标“新一级指标”", "整行", "", "新增"),
        ("三级指标“设备使用率”", "整行", "", "已删除"),
    }
