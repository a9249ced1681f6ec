"""What an attacker (or a careless paste) types, through every door: the entry
page, the admin, the workbook import, the bulk imports and the review verbs.
Each refusal is in Chinese, never a 500, and changes nothing."""

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from evaluations.models import BudgetLine, Evaluation
from evaluations.workbook import render_xlsx
from evaluations.workbook_import import snapshot
from indicators.models import IndicatorTemplate

from .test_entry import Fields, entry_url, preview_url
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


def fields_of(client, evaluation) -> dict[str, list[str]]:
    parser = Fields()
    parser.feed(client.get(entry_url(evaluation)).content.decode())
    fields: dict[str, list[str]] = {}
    for name, value in parser.data:
        fields.setdefault(name, []).append(value)
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def state(evaluation) -> str:
    """Everything the doors could change, ids and review records included."""
    evaluation = Evaluation.objects.with_table().get(pk=evaluation.pk)
    everything = snapshot(evaluation)
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
