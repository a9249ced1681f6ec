"""Starting a year: from the 指标库, or by copying last year's approved evaluation."""

from decimal import Decimal

from django.urls import reverse

from evaluations.models import Evaluation
from indicators.models import Indicator, IndicatorTemplate

START = reverse("start_evaluation")


def make_template(year: int = 2024) -> None:
    lines = [
        ("投入管理指标", "30", "根据沪财预【2022】13号文的规定要求设置三级指标和指标值", "预算编审管理", "", "25", None, ""),
        ("投入管理指标", "30", "根据沪财预【2022】13号文的规定要求设置三级指标和指标值", "预算执行管理", "", "75", None, ""),
        ("产出指标", "60", "", "数量指标", "", None, "0", ""),
        ("满意度指标", "10", "", "服务对象满意度指标", "群众满意度", None, "10", "≥90.00(%)"),
    ]  # fmt: skip
    IndicatorTemplate.objects.bulk_create(
        IndicatorTemplate(
            year=year,
            position=position,
            group_name=group,
            group_weight=Decimal(weight),
            group_note=note,
            category_name=category,
            name=name,
            base_share=Decimal(share) if share else None,
            points=Decimal(points) if points else None,
            default_target=target,
        )
        for position, (group, weight, note, category, name, share, points, target) in enumerate(
            lines, start=1
        )
    )


def rows_of(evaluation) -> list[tuple]:
    return list(
        Indicator.objects.filter(category__group__evaluation=evaluation)
        .order_by("category__group__position", "category__position", "position")
        .values_list("category__group__name", "category__name", "name", "points")
    )


def test_staff_start_a_year_from_the_template(staff_client, unit):
    make_template()
    response = staff_client.post(START, {"unit": unit.pk, "year": "2024", "source": "template"})
    evaluation = Evaluation.objects.get(unit=unit, year=2024)
    assert response["Location"] == reverse("evaluation_entry", args=[evaluation.pk])
    assert (evaluation.phase, evaluation.status) == ("targets", "draft")
    assert rows_of(evaluation) == [
        ("投入管理指标", "预算编审管理", "", Decimal("7.50")),
        ("投入管理指标", "预算执行管理", "", Decimal("22.50")),
        ("产出指标", "数量指标", "", Decimal("0.00")),
        ("满意度指标", "服务对象满意度指标", "群众满意度", Decimal("10.00")),
    ]
    assert evaluation.indicator_groups.get(name="投入管理指标").note.startswith("根据沪财预")
    row = Indicator.objects.get(name="群众满意度")
    assert row.target_display == "≥90.00(%)"
    assert evaluation.budget_lines.count() == 4
    assert evaluation.history.first().history_user.username == "staff"


def test_a_year_without_template_is_refused(staff_client, unit):
    response = staff_client.post(
        START, {"unit": unit.pk, "year": "2024", "source": "template"}, follow=True
    )
    assert "2024年度的指标库尚未建立，请联系管理员。" in response.content.decode()
    assert not Evaluation.objects.exists()


def test_a_template_value_that_cannot_be_read_refuses_the_start_by_name(staff_client, unit):
    # Written around the form's validation (an older row, a script): the start names the row.
    make_template()
    IndicatorTemplate.objects.filter(name="群众满意度").update(default_target="≥九十")
    response = staff_client.post(
        START, {"unit": unit.pk, "year": "2024", "source": "template"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "2024年度指标库“2024 / 满意度指标 / 服务对象满意度指标 / 群众满意度”" in page
    assert "的默认年度指标值无法识别（无法识别的指标值“≥九十”" in page
    assert not Evaluation.objects.exists()


def test_the_admin_form_refuses_a_template_value_that_cannot_be_read(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:indicators_indicatortemplate_add"),
        {
            "form_kind": "overall",
            "year": "2024",
            "position": "1",
            "group_name": "满意度指标",
            "group_weight": "10",
            "group_note": "",
            "category_name": "服务对象满意度指标",
            "name": "群众满意度",
            "base_share": "",
            "points": "10",
            "default_target": "≥九十",
        },
    )
    assert response.status_code == 200
    assert "无法识别的指标值“≥九十”" in response.content.decode()
    assert not IndicatorTemplate.objects.exists()


def test_a_second_start_is_refused(staff_client, sample, unit):
    make_template(2023)
    response = staff_client.post(
        START, {"unit": unit.pk, "year": "2023", "source": "template"}, follow=True
    )
    assert "2023年度自评表已经存在" in response.content.decode()
    assert Evaluation.objects.count() == 1


def test_copying_last_years_approved_evaluation(staff_client, sample, unit):
    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="approved")
    response = staff_client.post(START, {"unit": unit.pk, "year": "2024", "source": "last_year"})
    evaluation = Evaluation.objects.get(unit=unit, year=2024)
    assert response.status_code == 302
    assert rows_of(evaluation) == rows_of(sample)
    copied = Indicator.objects.get(
        category__group__evaluation=evaluation, name="居村工作站考核工作覆盖数量"
    )
    assert copied.target_display == "=33.00(个)"
    assert (copied.actual_display, copied.score, copied.deviation_reason) == ("", None, "")
    assert evaluation.target_text == sample.target_text and evaluation.result_text == ""
    # The entry page shows last year's actual beside this year's target.
    page = staff_client.get(response["Location"]).content.decode()
    assert "上年完成值" in page and "35.00(个)" in page


def test_only_an_approved_last_year_is_copied(staff_client, sample, unit):
    response = staff_client.post(
        START, {"unit": unit.pk, "year": "2024", "source": "last_year"}, follow=True
    )
    assert "该单位没有已审核的2023年度自评表，无法复制。" in response.content.decode()
    assert Evaluation.objects.count() == 1


def test_a_manager_may_start_any_unit(client, manager, other_unit):
    make_template()
    client.force_login(manager)
    client.post(START, {"unit": other_unit.pk, "year": "2024", "source": "template"})
    assert Evaluation.objects.filter(unit=other_unit, year=2024).exists()


def test_start_is_post_only(staff_client):
    assert staff_client.get(START).status_code == 405


def test_the_home_page_offers_the_start(staff_client, unit, other_unit):
    make_template()
    page = staff_client.get(reverse("home")).content.decode()
    assert "按指标库新建" in page and "复制上年度已审核的自评表" in page
    assert f'<option value="{unit.pk}">' in page
    assert f'<option value="{other_unit.pk}">' not in page
    assert 'name="year" value="2024"' in page
