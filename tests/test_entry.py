"""The entry page: reading, live preview, saving a draft and submitting, through HTTP."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations import workflow
from evaluations.kinds import OVERALL
from evaluations.models import BudgetLine, Evaluation
from indicators.models import Indicator, IndicatorCategory

from .conftest import make_evaluation, open_results, synthetic_data


def entry_url(evaluation) -> str:
    return reverse("evaluation_entry", args=[evaluation.pk])


def preview_url(evaluation) -> str:
    return reverse("evaluation_entry_preview", args=[evaluation.pk])


class Fields(HTMLParser):
    """The fields a browser would post from the entry page (not those of <template>s)."""

    def __init__(self):
        super().__init__()
        self.data, self.textarea, self.in_template = [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "template":
            self.in_template = True
        if self.in_template:
            return
        if tag == "input" and attrs.get("name"):
            self.data.append((attrs["name"], attrs.get("value", "")))
        if tag == "textarea":
            self.textarea = attrs["name"]
            self.data.append((self.textarea, ""))

    def handle_endtag(self, tag):
        if tag == "template":
            self.in_template = False
        if tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            name, value = self.data[-1]
            self.data[-1] = (name, value + data)


def fields_of(client, evaluation) -> dict[str, list[str]]:
    """What a browser would post from the entry page, as the page stands."""
    return fields_in(client.get(entry_url(evaluation)).content.decode())


def fields_in(page: str) -> dict[str, list[str]]:
    parser = Fields()
    parser.feed(page)
    fields: dict[str, list[str]] = {}
    for name, value in parser.data:
        fields.setdefault(name, []).append(value)
    fields.pop("csrfmiddlewaretoken", None)
    return fields


@pytest.fixture
def page_fields():
    return fields_of


def row_named(evaluation, name: str) -> Indicator:
    return Indicator.objects.get(category__group__evaluation=evaluation, name=name)


def test_the_page_shows_the_table_with_the_fields_of_the_phase(staff_client, sample):
    page = staff_client.get(entry_url(sample)).content.decode()
    assert "巡管员使用率" in page and "整体支出规模（元）" in page
    row = row_named(sample, "设备使用准确率")
    assert f'name="indicator-{row.pk}-points"' in page
    assert f'name="indicator-{row.pk}-target"' in page
    assert f'name="indicator-{row.pk}-score"' not in page
    assert 'name="budget-fiscal-budget_amount"' in page
    assert 'name="budget-fiscal-executed_amount"' not in page
    assert 'data-action="add-row"' in page


def test_the_page_is_one_of_the_sites_pages(staff_client, sample):
    """The site's top bar (its navigation, the to-do count, 修改密码, 退出登录) and the
    site's styles, none of the admin's."""
    response = staff_client.get(entry_url(sample))
    assert response.templates[0].name == "evaluations/entry/entry.html"
    assert "base.html" in [template.name for template in response.templates]
    page = response.content.decode()
    assert entry_url(sample) == f"/evaluations/{sample.pk}/entry/"
    assert '<header class="site-header">' in page
    assert f'href="{reverse("todo")}#pending"' in page
    assert f'href="{reverse("password_change")}"' in page and "退出登录" in page
    assert "/static/css/app.css" in page and "/static/css/entry.css" in page
    assert 'id="header"' not in page and "/static/admin/" not in page
    assert "管理后台" not in page  # a 填报人 is not staff
    assert "<h1>填写：上海市闵行区浦锦街道城市运行管理中心（2023年度）</h1>" in page


def test_the_old_admin_address_redirects_permanently(staff_client, sample):
    old = f"/admin/evaluations/evaluation/{sample.pk}/entry/"
    response = staff_client.get(old)
    assert response.status_code == 301
    assert response["Location"] == entry_url(sample)
    assert staff_client.get(old, follow=True).redirect_chain == [(entry_url(sample), 301)]
    preview = staff_client.post(old + "preview/", {"version": "1"})
    assert (preview.status_code, preview["Location"]) == (308, preview_url(sample))


def test_results_phase_opens_the_results_only(staff_client, sample):
    open_results(sample)
    page = staff_client.get(entry_url(sample)).content.decode()
    row = row_named(sample, "设备使用准确率")
    assert f'name="indicator-{row.pk}-score"' in page
    assert f'name="indicator-{row.pk}-points"' not in page
    assert 'data-action="add-row"' not in page
    assert "建议得分" in page and "采用" in page


def test_preview_computes_with_the_server(staff_client, sample, page_fields):
    open_results(sample)
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-score"] = ["1.50"]
    fields[f"indicator-{row.pk}-deviation_reason"] = [""]
    fields["budget-basic-executed_amount"] = ["3,441,760.72"]
    data = staff_client.post(preview_url(sample), fields).json()
    assert data["total"] == {"points": "100", "score": "96.50", "grade": "优"}
    assert data["budget"]["budget-basic"] == "99.92"
    assert data["rows"][f"indicator-{row.pk}"]["suggested"] == "1.94"
    assert data["rows"][f"indicator-{row.pk}"]["reason_required"] is True
    assert [fault["anchor"] for fault in data["faults"]] == [f"indicator-{row.pk}"]
    assert "请填写偏差及原因分析" in data["faults"][0]["message"]
    assert data["errors"] == {}
    # Nothing was written.
    row.refresh_from_db()
    assert row.score == Decimal("1.00")


def test_preview_reports_type_errors_beside_their_fields(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-target"] = ["=百分之百"]
    fields[f"indicator-{row.pk}-points"] = ["两分"]
    data = staff_client.post(preview_url(sample), fields).json()
    assert (
        data["errors"][f"indicator-{row.pk}-points"]
        == "分值须为数字，如 2.00（填写的“两分”不是数字）。"
    )
    assert data["errors"][f"indicator-{row.pk}-target"] == (
        "无法识别的指标值“=百分之百”：定量指标请写成“=100.00(%)”“≥90.00(%)”的形式，"
        "定性指标请写文字，如“提升”“达成指标”"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1e30",
            "分值“1e30”不是有效的数字：含有无法识别的字符“e”（U+0065 LATIN SMALL LETTER E），只能用数字 0–9、小数点和千位分隔符。",
        ),
        ("NaN", "分值须为数字，如 2.00（填写的“NaN”不是数字）。"),
        ("Infinity", "分值须为数字，如 2.00（填写的“Infinity”不是数字）。"),
        ("1000", "分值不能超过 100。"),
        ("-1", "分值不能为负数。"),
        ("1.234", "分值最多保留两位小数。"),
    ],
)
def test_preview_and_save_refuse_odd_numbers_in_chinese(
    staff_client, sample, page_fields, text, message
):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-points"] = [text]
    data = staff_client.post(preview_url(sample), fields).json()
    assert data["errors"][f"indicator-{row.pk}-points"] == message
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_points_cannot_go_below_a_score_kept_from_the_results_phase(
    staff_client, sample, page_fields
):
    # Reopened to 年初目标, the rows keep their 得分, which the unit cannot edit now.
    assert (sample.phase, sample.status) == ("targets", "draft")
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用率")
    assert row.score == Decimal("2.00")
    fields[f"indicator-{row.pk}-points"] = ["1.50"]
    message = "分值不能低于已填的得分 2.00。"
    data = staff_client.post(preview_url(sample), fields).json()
    assert data["errors"] == {f"indicator-{row.pk}-points": message}
    version = sample.version
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    row.refresh_from_db()
    sample.refresh_from_db()
    assert (row.points, sample.version) == (Decimal("2.00"), version)


def test_results_save_while_a_budget_line_is_missing(staff_client, sample, page_fields):
    # An evaluation from before every evaluation had its four lines.
    BudgetLine.objects.filter(evaluation=sample, kind="other").delete()
    open_results(sample)
    fields = page_fields(staff_client, sample)
    fields["budget-basic-executed_amount"] = ["3,441,760.00"]
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 302
    assert BudgetLine.objects.get(evaluation=sample, kind="basic").executed_amount == Decimal(
        "3441760.00"
    )
    assert not BudgetLine.objects.filter(evaluation=sample, kind="other").exists()


def test_every_new_evaluation_has_its_four_budget_lines(unit):
    evaluation = Evaluation.objects.create(unit=unit, year=2030)
    assert sorted(evaluation.budget_lines.values_list("kind", flat=True)) == sorted(
        OVERALL.budget_kinds
    )
    assert all(line.history.count() == 1 for line in evaluation.budget_lines.all())


def test_saving_a_draft_writes_what_changed(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-target"] = ["≥ 98 (%)"]
    fields["budget-other-budget_amount"] = ["1,000.5"]
    fields["target_text"] = ["<p>新的<b>目标</b></p><script>alert(1)</script>"]
    fields["action"] = ["save"]
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.target_display == "≥98.00(%)"
    assert BudgetLine.objects.get(evaluation=sample, kind="other").budget_amount == Decimal(
        "1000.50"
    )
    sample.refresh_from_db()
    assert sample.target_text == "<p>新的<b>目标</b></p>"
    assert sample.version == 2
    # Only the changed rows got a history record.
    assert row.history.count() == 2
    assert row_named(sample, "巡管员使用率").history.count() == 1


def test_a_draft_with_a_mistake_saves_every_valid_field(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    other = row_named(sample, "设备使用率")
    fields[f"indicator-{row.pk}-points"] = ["2.005"]
    fields[f"indicator-{row.pk}-name"] = ["设备使用准确率（修订）"]
    fields[f"indicator-{other.pk}-name"] = ["设备完好率"]
    fields["budget-other-budget_amount"] = ["9O.00"]
    fields["budget-fiscal-budget_amount"] = ["100"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "分值最多保留两位小数。" in page
    assert 'value="2.005"' in page and 'value="9O.00"' in page
    assert 'value="设备完好率"' in page
    assert "有 2 处填写有误，这些内容未保存，按您填写的原样保留在下方" in page
    # The valid fields are saved, the wrong ones keep what was stored.
    other.refresh_from_db()
    row.refresh_from_db()
    assert other.name == "设备完好率"
    assert (row.name, row.points) == ("设备使用准确率（修订）", Decimal("2.00"))
    lines = {line.kind: line.budget_amount for line in sample.budget_lines.all()}
    assert lines["fiscal"] == Decimal("100.00")
    assert lines["other"] == Decimal("0.00")
    sample.refresh_from_db()
    assert f'name="version" value="{sample.version}"' in page
    # Corrected from that page, it saves the rest.
    fields = fields_in(page)
    fields[f"indicator-{row.pk}-points"] = ["2.5"]
    fields["budget-other-budget_amount"] = ["90.00"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.points == Decimal("2.50")
    assert sample.budget_lines.get(kind="other").budget_amount == Decimal("90.00")


def test_a_new_row_with_a_mistake_is_kept_and_saved_once(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    category = IndicatorCategory.objects.get(group__evaluation=sample, name="数量指标")
    fields["rows"].append("indicator-new1")
    fields["indicator-new1-category"] = [f"category-{category.pk}"]
    fields["indicator-new1-name"] = ["网格巡查次数"]
    fields["indicator-new1-target"] = ["≥1200(次)"]
    fields["indicator-new1-points"] = ["1,,5"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["submit"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "有 1 处填写有误，未提交；" in page
    new = Indicator.objects.get(category=category, name="网格巡查次数")
    assert new.points == Decimal("0.00")
    # The page draws the saved row under its saved key, with the points as typed.
    assert "indicator-new1" not in page
    assert f'name="indicator-{new.pk}-points"' in page and 'value="1,,5"' in page
    sample.refresh_from_db()
    assert sample.status == "draft"
    fields = fields_in(page)
    fields[f"indicator-{new.pk}-points"] = ["1"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 302
    assert Indicator.objects.filter(category=category, name="网格巡查次数").count() == 1
    new.refresh_from_db()
    assert new.points == Decimal("1.00")


def test_a_stale_version_is_refused_and_nothing_typed_is_lost(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    Evaluation.objects.filter(pk=sample.pk).update(version=5)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-name"] = ["设备使用准确率（修订）"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 409
    page = response.content.decode()
    assert "该自评表已被他人修改" in page
    assert 'value="设备使用准确率（修订）"' in page
    assert 'name="version" value="5"' in page
    row.refresh_from_db()
    assert row.name == "设备使用准确率"


def test_rows_are_added_removed_and_moved(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    category = IndicatorCategory.objects.get(group__evaluation=sample, name="数量指标")
    rows = list(Indicator.objects.filter(category=category).order_by("position"))
    keys = [f"indicator-{row.pk}" for row in rows]
    # Move the last row first, remove the second, add one at the end of the 二级.
    all_rows = fields["rows"]
    start = all_rows.index(keys[0])
    all_rows[start : start + len(keys)] = [keys[-1], keys[0], *keys[2:-1], "indicator-new1"]
    fields["indicator-new1-category"] = [f"category-{category.pk}"]
    fields["indicator-new1-name"] = ["网格巡查次数"]
    fields["indicator-new1-target"] = ["≥1200(次)"]
    fields["indicator-new1-points"] = ["1"]
    # And a new 二级 with one row in 产出指标.
    fields["categories"].append("category-new2")
    fields["category-new2-group"] = [f"group-{category.group_id}"]
    fields["category-new2-name"] = ["时效指标"]
    all_rows.append("indicator-new3")
    fields["indicator-new3-category"] = ["category-new2"]
    fields["indicator-new3-name"] = ["案件按时办结率"]
    fields["indicator-new3-points"] = ["1"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    names = list(
        Indicator.objects.filter(category=category)
        .order_by("position")
        .values_list("name", flat=True)
    )
    assert names == [rows[-1].name, rows[0].name, *[row.name for row in rows[2:-1]], "网格巡查次数"]
    new = IndicatorCategory.objects.get(group=category.group, name="时效指标")
    assert new.position == 3
    assert [row.name for row in new.indicators.all()] == ["案件按时办结率"]


def test_structure_is_fixed_after_the_targets(staff_client, sample, page_fields):
    open_results(sample)
    fields = page_fields(staff_client, sample)
    fields["rows"] = fields["rows"][1:]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 302
    assert Indicator.objects.filter(category__group__evaluation=sample).count() == 24


def test_submit_lists_the_faults_with_links(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-points"] = ["3"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["submit"]})
    assert response.status_code == 302
    assert response["Location"].endswith("#faults")
    page = staff_client.get(response["Location"]).content.decode()
    assert "已保存，但一致性检查发现 1 处问题" in page
    assert f'href="#group-{row.category.group_id}"' in page
    sample.refresh_from_db()
    assert sample.status == "draft"


def test_submit_after_saving(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    response = staff_client.post(entry_url(sample), {**fields, "action": ["submit"]})
    assert response["Location"] == reverse("evaluation_table", args=[sample.pk])
    sample.refresh_from_db()
    assert (sample.status, sample.version) == ("submitted", 2)


@pytest.mark.parametrize("row_count", [10, 80])
def test_the_page_runs_a_fixed_number_of_queries(staff_client, unit, row_count):
    evaluation = make_evaluation(unit, data=synthetic_data(row_count))
    make_evaluation(unit, year=2022, data=synthetic_data(row_count))
    staff_client.get(entry_url(evaluation))  # the session and the user, once
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(entry_url(evaluation))
    assert response.status_code == 200
    # The session is read, not written (its idle expiry is written at most once a minute).
    # The site's top bar counts the user's to-do items (one query); the admin's app list,
    # with its two permission queries, is no longer drawn.
    assert len(queries) == 14, "\n".join(query["sql"] for query in queries.captured_queries)


def test_rich_text_shown_again_after_an_error_is_cleaned(staff_client, sample, page_fields):
    fields = page_fields(staff_client, sample)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-points"] = ["2.005"]  # an error: the page comes back
    fields["target_text"] = ['<p>目标<img src=x onerror="alert(1)"><strong>加粗</strong></p>']
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "onerror" not in page
    assert "<p>目标<strong>加粗</strong></p>" in page


def test_rows_changed_meanwhile_keep_what_was_typed_in_the_others(
    staff_client, sample, page_fields, staff
):
    fields = page_fields(staff_client, sample)
    gone = row_named(sample, "设备使用率")
    kept = row_named(sample, "设备使用准确率")

    def remove_row(locked):
        gone.delete()

    with workflow.changing(sample, by=staff, expected_version=sample.version) as locked:
        remove_row(locked)
    fields[f"indicator-{kept.pk}-name"] = ["设备使用准确率（修订）"]
    fields["target_text"] = ["<p>新的年初设定目标</p>"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 409
    page = response.content.decode()
    assert "未保存；您在仍存在的行中填写的内容已保留" in page
    assert 'value="设备使用准确率（修订）"' in page and "新的年初设定目标" in page
    kept.refresh_from_db()
    assert kept.name == "设备使用准确率"


def test_a_tab_left_open_after_submission_saves_nothing_and_says_so(
    staff_client, sample, page_fields, staff
):
    fields = page_fields(staff_client, sample)
    workflow.submit(sample, by=staff)
    row = row_named(sample, "设备使用准确率")
    fields[f"indicator-{row.pk}-name"] = ["设备使用准确率（修订）"]
    fields["target_text"] = ["<p>提交后才写的目标</p>"]
    response = staff_client.post(entry_url(sample), {**fields, "action": ["save"]})
    assert response.status_code == 409
    page = response.content.decode()
    assert "草稿已保存" not in page
    assert "不能修改，您的修改未保存" in page
    # What was typed is on the page again, to be copied.
    assert 'value="设备使用准确率（修订）"' in page and "提交后才写的目标" in page
    row.refresh_from_db()
    assert row.name == "设备使用准确率"
    assert Evaluation.objects.get(pk=sample.pk).version == sample.version
