"""What an attacker (or a careless paste) types, through every door: the entry
page, the admin, the workbook import, the bulk imports and the review verbs.
Each refusal is in Chinese, never a 500, and changes nothing."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evaluations.models import BudgetLine, Evaluation, ReviewComment, TextRefused, Unit
from evaluations.table import build_table
from evaluations.workbook import render_xlsx
from indicators.models import Indicator, IndicatorTemplate

from .conftest import open_results
from .test_entry import entry_url, fields_of, preview_url
from .workbooks import load, save

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MALFORMED = [
    ("8278261,03", "千位分隔符须每三位一组"),
    ("1234,56", "千位分隔符须每三位一组"),
    ("1,2,3", "千位分隔符须每三位一组"),
    ("1_000", "无法识别的字符“_”"),
    ("١٢٣", "无法识别的字符“١”"),
]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state(evaluation) -> str:
    """Everything the doors could change, ids and review records included."""
    evaluation = Evaluation.objects.with_table().get(pk=evaluation.pk)
    everything = build_table(evaluation).state()
    everything["evaluation"] = [
        evaluation.target_text,
        evaluation.result_text,
        evaluation.phase,
        evaluation.status,
        evaluation.version,
    ]
    everything["events"] = list(evaluation.review_events.values_list("action", "reason"))
    return json.dumps(everything, sort_keys=True, ensure_ascii=False, default=str)


def budget(evaluation, kind: str = "fiscal") -> Decimal:
    return BudgetLine.objects.get(evaluation=evaluation, kind=kind).budget_amount


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(("typed", "reason"), MALFORMED)
def test_the_entry_page_refuses_a_malformed_amount(staff_client, sample, typed, reason):
    fields = fields_of(staff_client, sample)
    before = state(sample)
    fields["budget-fiscal-budget_amount"] = [typed]
    preview = staff_client.post(preview_url(sample), fields).json()
    message = preview["errors"]["budget-fiscal-budget_amount"]
    assert message.startswith(f"全年预算数“{typed}”不是有效的数字：") and reason in message
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert state(sample) == before


@pytest.mark.parametrize("typed", ["8,278,261.03", "８，２７８，２６１．０３", " 8278261.03 "])
def test_the_entry_page_reads_grouped_and_full_width_amounts(staff_client, sample, typed):
    fields = fields_of(staff_client, sample)
    fields["budget-fiscal-budget_amount"] = [typed]
    response = staff_client.post(entry_url(sample), fields)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert budget(sample) == Decimal("8278261.03")


def test_the_entry_page_refuses_malformed_points_and_targets(staff_client, sample):
    fields = fields_of(staff_client, sample)
    before = state(sample)
    point_names = [name for name in fields if name.endswith("-points")]
    target_names = [name for name in fields if name.endswith("-target")]
    fields[point_names[0]] = ["1,5"]
    fields[target_names[0]] = ["=1234,56(元)"]
    fields[target_names[1]] = ["=١٠٠(%)"]
    data = staff_client.post(preview_url(sample), fields).json()["errors"]
    assert "千位分隔符须每三位一组" in data[point_names[0]]
    assert "千位分隔符须每三位一组" in data[target_names[0]]
    assert "无法识别的指标值“=١٠٠(%)”" in data[target_names[1]]
    assert staff_client.post(entry_url(sample), fields).status_code == 400
    assert state(sample) == before


def template_form(**values) -> dict:
    return {
        "form_kind": "overall",
        "year": "2024",
        "position": "1",
        "group_name": "产出指标",
        "group_weight": "25",
        "group_note": "",
        "category_name": "数量指标",
        "name": "巡管员使用率",
        "base_share": "",
        "points": "2",
        "default_target": "=100.00(%)",
    } | values


@pytest.mark.parametrize(("typed", "reason"), MALFORMED)
def test_the_admin_refuses_a_malformed_number(admin_user, typed, reason):
    client = logged_in(admin_user)
    url = reverse("admin:indicators_indicatortemplate_add")
    response = client.post(url, template_form(group_weight=typed))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"权重“{typed}”不是有效的数字" in page and reason in page
    assert not IndicatorTemplate.objects.exists()


def test_the_admin_reads_full_width_numbers(admin_user):
    client = logged_in(admin_user)
    url = reverse("admin:indicators_indicatortemplate_add")
    response = client.post(url, template_form(group_weight="２５．００", points="２"))
    assert response.status_code == 302, response.content.decode()[:3000]
    line = IndicatorTemplate.objects.get()
    assert (line.group_weight, line.points) == (Decimal("25.00"), Decimal("2.00"))


def test_an_admin_inline_refuses_a_malformed_amount(manager, sample):
    client = logged_in(manager)
    url = reverse("admin:evaluations_evaluation_change", args=[sample.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    data["expected_version"] = sample.version
    lines = list(BudgetLine.objects.filter(evaluation=sample).order_by("pk"))
    prefix = "budget_lines"
    data |= {
        f"{prefix}-TOTAL_FORMS": len(lines),
        f"{prefix}-INITIAL_FORMS": len(lines),
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }
    for index, line in enumerate(lines):
        data |= {
            f"{prefix}-{index}-id": line.pk,
            f"{prefix}-{index}-evaluation": sample.pk,
            f"{prefix}-{index}-kind": line.kind,
            f"{prefix}-{index}-budget_amount": "8278261,03" if index == 0 else line.budget_amount,
        }
    data |= {
        "indicator_groups-TOTAL_FORMS": 0,
        "indicator_groups-INITIAL_FORMS": 0,
        "indicator_groups-MIN_NUM_FORMS": 0,
        "indicator_groups-MAX_NUM_FORMS": 1000,
    }
    before = state(sample)
    response = client.post(url, data)
    assert response.status_code == 200, response.status_code
    assert "全年预算数“8278261,03”不是有效的数字" in response.content.decode()
    assert state(sample) == before


def upload(client, evaluation, content: bytes):
    return client.post(
        reverse("workbook_import", args=[evaluation.pk]),
        {"workbook": SimpleUploadedFile("自评表.xlsx", content, XLSX)},
    )


def test_the_workbook_import_refuses_a_malformed_amount_typed_as_text(staff_client, sample):
    workbook = load(render_xlsx(Evaluation.objects.with_table().get(pk=sample.pk)))
    workbook.active["E5"] = "8278261,03"
    workbook.active["G20"] = "1_000"
    before = state(sample)
    page = upload(staff_client, sample, save(workbook)).content.decode()
    assert "全年预算数“8278261,03”不是有效的数字：千位分隔符须每三位一组" in page
    assert "分值“1_000”不是有效的数字：含有无法识别的字符“_”" in page
    assert state(sample) == before


def test_the_workbook_import_reads_grouped_text_amounts(staff_client, sample):
    workbook = load(render_xlsx(Evaluation.objects.with_table().get(pk=sample.pk)))
    workbook.active["E5"] = "８，２７８，２６１．０３"
    response = upload(staff_client, sample, save(workbook))
    assert response.status_code == 302, response.content.decode()[-3000:]


def admin_import(client, url_name: str, content: bytes):
    return client.post(
        reverse(url_name),
        {
            "import_file": SimpleUploadedFile("数据.xlsx", content, XLSX),
            "format": "0",
            "resource": "0",
        },
    )


def template_workbook(weight) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    heads = ["年度", "一级指标", "权重", "三级指标说明", "二级指标", "三级指标"]
    heads += ["基础分占比（%）", "分值", "默认年度指标值"]
    book.active.append(heads)
    book.active.append([2024, "产出指标", weight, None, "数量指标", "巡管员使用率", None, 25, None])
    return save(book)


@pytest.mark.parametrize(("typed", "reason"), MALFORMED)
def test_the_bulk_import_refuses_a_malformed_number(admin_user, typed, reason):
    client = logged_in(admin_user)
    response = admin_import(
        client, "admin:indicators_indicatortemplate_import", template_workbook(typed)
    )
    page = response.content.decode()
    assert f"权重：“{typed}”不是有效的数字" in page and reason in page
    assert not IndicatorTemplate.objects.exists()


# ---------------------------------------------------------------- text on the entry page


def first_row(evaluation):
    return (
        Indicator.objects.filter(category__group__evaluation=evaluation, name="设备使用准确率")
        .select_related("category__group")
        .get()
    )


ENTRY_INPUTS = {
    # input: (its name on the page, label in the message, phase)
    "三级指标": (lambda row: f"indicator-{row.pk}-name", "三级指标", "targets"),
    "二级指标": (lambda row: f"category-{row.category_id}-name", "二级指标", "targets"),
    "一级指标": (lambda row: f"group-{row.category.group_id}-name", "一级指标", "targets"),
    "年度指标值": (lambda row: f"indicator-{row.pk}-target", "指标值", "targets"),
    "全年完成值": (lambda row: f"indicator-{row.pk}-actual", "指标值", "results"),
    "偏差及原因分析": (
        lambda row: f"indicator-{row.pk}-deviation_reason",
        "偏差及原因分析",
        "results",
    ),
}


def post_entry(client, evaluation, name: str, value: str):
    fields = fields_of(client, evaluation)
    assert name in fields, name
    fields[name] = [value]
    preview = client.post(preview_url(evaluation), fields).json()
    response = client.post(entry_url(evaluation), fields)
    assert response.status_code == 400, response.status_code
    return preview["errors"].get(name, ""), response.content.decode()


@pytest.mark.parametrize("which", list(ENTRY_INPUTS))
@pytest.mark.parametrize(
    ("typed", "shown"),
    [("\x00", "U+0000"), ("\x01\x1f", "U+0001")],
    ids=["NUL", "controls"],
)
def test_the_entry_page_refuses_control_characters(staff_client, sample, which, typed, shown):
    name_of, label, phase = ENTRY_INPUTS[which]
    if phase == "results":
        open_results(sample)
    row = first_row(sample)
    before = state(sample)
    error, page = post_entry(staff_client, sample, name_of(row), f"巡查{typed}率")
    assert error.startswith(label) and f"不允许的控制字符 {shown}" in error
    assert f"不允许的控制字符 {shown}" in page
    assert state(sample) == before


@pytest.mark.parametrize("which", ["三级指标", "二级指标", "一级指标"])
@pytest.mark.parametrize("typed", ["\u202e", "\u200b"], ids=["RLO", "ZWSP"])
def test_the_entry_page_refuses_invisible_characters_in_names(staff_client, sample, which, typed):
    name_of, label, _ = ENTRY_INPUTS[which]
    row = first_row(sample)
    before = state(sample)
    error, _ = post_entry(staff_client, sample, name_of(row), f"巡查{typed}率")
    assert error.startswith(label) and f"不可见的格式字符 U+{ord(typed):04X}" in error
    assert state(sample) == before


def test_goal_text_has_a_limit_of_visible_characters(staff_client, sample):
    """300,000 characters were saved, and that form's PDF then took 66 s."""
    before = state(sample)
    error, page = post_entry(staff_client, sample, "target_text", "<p>" + "目" * 300_000 + "</p>")
    assert error == "年初设定目标最多 5,000 个字（现有 300,000 个）。"
    assert state(sample) == before
    fields = fields_of(staff_client, sample)
    fields["target_text"] = [
        "<p>" + "目" * 2500 + "</p><p><strong>" + "标" * 2500 + "</strong></p>"
    ]
    assert staff_client.post(entry_url(sample), fields).status_code == 302
    assert len(Evaluation.objects.get(pk=sample.pk).target_text) > 5000


def test_goal_text_refuses_control_characters_even_as_entities(staff_client, sample):
    before = state(sample)
    error, _ = post_entry(staff_client, sample, "target_text", "<p>目标&#1;完成</p>")
    assert "U+0001" in error
    open_results(sample)
    error, _ = post_entry(staff_client, sample, "result_text", "<p>完成\x1f情况</p>")
    assert error.startswith("全年完成情况") and "U+001F" in error
    assert json.loads(state(sample))["evaluation"][:2] == json.loads(before)["evaluation"][:2]


def test_a_reason_over_its_limit_is_refused(staff_client, sample):
    open_results(sample)
    row = first_row(sample)
    before = state(sample)
    error, _ = post_entry(staff_client, sample, f"indicator-{row.pk}-deviation_reason", "因" * 2001)
    assert error == "偏差及原因分析最多 2,000 个字（现有 2,001 个）。"
    assert state(sample) == before


# ---------------------------------------------------------------- the review verbs


def submitted_results(evaluation) -> None:
    Evaluation.objects.filter(pk=evaluation.pk).update(phase="results", status="submitted")


VERBS = {
    "退回理由": ("return_evaluation", lambda row: {"reason": "{}"}, "退回理由"),
    "逐行意见": (
        "return_evaluation",
        lambda row: {"reason": "请修改", f"comment-indicator-{row.pk}": "{}"},
        "对“设备使用准确率”的意见",
    ),
    "复核意见": ("recheck_indicator", lambda row: {"review_opinion": "{}"}, "复核意见"),
    "审核意见": ("approve_evaluation", lambda row: {"opinion": "{}"}, "审核意见"),
    "复核意见（全部行一表）": (
        "recheck_indicators",
        lambda row: {f"review_score-{row.pk}": "", f"review_opinion-{row.pk}": "{}"},
        "复核意见",
    ),
    "重新打开的理由": ("reopen_evaluation", lambda row: {"reason": "{}"}, "重新打开的理由"),
}


@pytest.mark.parametrize("which", list(VERBS))
@pytest.mark.parametrize(
    ("typed", "shown"),
    [("\x00", "U+0000"), ("\x01\x1f", "U+0001")],
    ids=["NUL", "controls"],
)
def test_the_review_verbs_refuse_control_characters(
    client, sample, reviewer, admin_user, which, typed, shown
):
    url_name, form, label = VERBS[which]
    if url_name == "reopen_evaluation":
        Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="approved")
        client.force_login(admin_user)
    else:
        submitted_results(sample)
        client.force_login(reviewer)
    row = first_row(sample)
    args = [sample.pk, row.pk] if url_name == "recheck_indicator" else [sample.pk]
    data = {key: value.format(f"理由{typed}一") for key, value in form(row).items()}
    data["version"] = Evaluation.objects.get(pk=sample.pk).version
    before = state(sample)
    response = client.post(reverse(url_name, args=args), data, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{label}含有不允许的控制字符 {shown}" in page
    assert state(sample) == before
    assert not ReviewComment.objects.exists()


def test_the_review_verbs_refuse_overlong_text(client, sample, reviewer):
    submitted_results(sample)
    client.force_login(reviewer)
    row = first_row(sample)
    before = state(sample)
    version = Evaluation.objects.get(pk=sample.pk).version
    page = client.post(
        reverse("return_evaluation", args=[sample.pk]),
        {"reason": "改" * 2001, "version": version},
        follow=True,
    ).content.decode()
    assert "退回理由最多 2,000 个字（现有 2,001 个）。" in page
    page = client.post(
        reverse("recheck_indicator", args=[sample.pk, row.pk]),
        {"review_opinion": "意" * 1001, "version": version},
        follow=True,
    ).content.decode()
    assert "复核意见最多 1,000 个字（现有 1,001 个）。" in page
    assert state(sample) == before


# ---------------------------------------------------------------- names elsewhere


def test_the_admin_refuses_control_and_invisible_characters_in_names(admin_user, district):
    client = logged_in(admin_user)
    url = reverse("admin:evaluations_unit_add")
    for typed, shown in (("\x01\x1f", "U+0001"), ("\u202e", "U+202E"), ("\x00", "U+0000")):
        response = client.post(
            url, {"code": "310112-X", "name": f"某{typed}单位", "district": district.pk}
        )
        assert response.status_code == 200
        assert shown in response.content.decode() or "空字符" in response.content.decode()
    response = client.post(
        reverse("admin:indicators_indicatortemplate_add"), template_form(name="巡管员\u200b使用率")
    )
    assert "三级指标含有不可见的格式字符 U+200B" in response.content.decode()
    assert not Unit.objects.filter(code="310112-X").exists()
    assert not IndicatorTemplate.objects.exists()


def test_the_bulk_import_refuses_control_characters_in_names(admin_user, district):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["单位编码", "部门（单位）名称", "所属区编码", "主管部门编码"])
    book.active.append(["310112-X", "某\u202e单位", "310112", None])
    client = logged_in(admin_user)
    page = admin_import(client, "admin:evaluations_unit_import", save(book)).content.decode()
    assert "部门（单位）名称：含有不可见的格式字符 U+202E" in page
    assert not Unit.objects.filter(code="310112-X").exists()


def test_the_workbook_import_refuses_control_characters(staff_client, sample):
    workbook = load(render_xlsx(Evaluation.objects.with_table().get(pk=sample.pk)))
    sheet = workbook.active
    sheet["D20"] = "巡查\u200b率"
    sheet["I21"] = "原因" * 1001
    before = state(sample)
    page = upload(staff_client, sample, save(workbook)).content.decode()
    assert "三级指标名称含有不可见的格式字符 U+200B" in page
    assert "偏差及原因分析最多 2,000 个字（现有 2,002 个）。" in page
    assert state(sample) == before


def test_every_other_path_is_refused_by_the_save_itself(sample, unit):
    """The shell, a command, a future form: the model refuses what the rules forbid."""
    unit.name = "某\x01单位"
    with pytest.raises(TextRefused, match="部门（单位）名称含有不允许的控制字符 U\\+0001"):
        unit.save()
    row = first_row(sample)
    row.name = "巡查\x00率"
    with pytest.raises(TextRefused, match="U\\+0000"):
        row.save()
    sample.target_text = "<p>" + "目" * 5001 + "</p>"
    with pytest.raises(TextRefused, match="年初设定目标最多 5,000 个字"):
        sample.save()
    assert Unit.objects.get(pk=unit.pk).name != unit.name


def test_a_control_character_stored_before_the_rule_does_not_break_the_workbooks(
    staff_client, reviewer, sample
):
    """Rows written before the rule may hold one: the table's workbook, the overview's
    and the bulk imports' exports still come out, showing it as U+FFFD."""
    Unit.objects.filter(pk=sample.unit_id).update(name="某\x01单位")
    Indicator.objects.filter(pk=first_row(sample).pk).update(name="巡查\x1f率")
    response = staff_client.get(reverse("evaluation_workbook", args=[sample.pk]))
    assert response.status_code == 200
    sheet = load(b"".join(response.streaming_content) if response.streaming else response.content)
    values = {cell.value for row in sheet.active.iter_rows() for cell in row}
    assert "巡查\ufffd率" in values
    client = logged_in(reviewer)
    assert client.get(reverse("overview_workbook"), {"year": 2023}).status_code == 200


@pytest.mark.parametrize(
    ("typed", "reason"), [("2_024", "“_”"), ("٢٠٢٤", "“٢”"), ("2,0,2,4", "每三位一组")]
)
def test_the_admin_refuses_malformed_whole_numbers(admin_user, typed, reason):
    client = logged_in(admin_user)
    response = client.post(
        reverse("admin:indicators_indicatortemplate_add"), template_form(year=typed)
    )
    page = response.content.decode()
    assert f"年度“{typed}”不是有效的数字" in page and reason in page
    assert not IndicatorTemplate.objects.exists()
