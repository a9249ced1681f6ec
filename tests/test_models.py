"""Rules the database holds by itself, and what saving does."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from evaluations.models import BudgetLine, Evaluation
from evaluations.text import parse_two_places
from indicators.models import Indicator, IndicatorGroup


def refused(action) -> bool:
    try:
        with transaction.atomic():
            action()
    except IntegrityError:
        return True
    return False


def test_one_evaluation_per_unit_and_year(sample):
    assert refused(lambda: Evaluation.objects.create(unit=sample.unit, year=2023))
    assert not refused(lambda: Evaluation.objects.create(unit=sample.unit, year=2024))


def test_score_cannot_exceed_points(sample):
    assert refused(
        lambda: Indicator.objects.filter(category__group__evaluation=sample).update(
            score=Decimal("99.00")
        )
    )


def test_amounts_cannot_be_negative(sample):
    assert refused(
        lambda: BudgetLine.objects.filter(evaluation=sample).update(budget_amount=Decimal("-0.01"))
    )


@pytest.mark.parametrize("weight", ["0", "100.01", "-5"])
def test_weight_between_0_and_100(sample, weight):
    assert refused(
        lambda: IndicatorGroup.objects.create(
            evaluation=sample, name="新指标", weight=Decimal(weight)
        )
    )


def test_rich_text_is_cleaned_on_save(unit):
    evaluation = Evaluation.objects.create(
        unit=unit,
        year=2024,
        target_text='<p onclick="x()">目标<script>alert(1)</script><strong>加粗</strong>'
        '<img src="file:///etc/passwd"><a href="http://evil">链接</a></p><ul><li>一</li></ul>',
    )
    evaluation.refresh_from_db()
    assert evaluation.target_text == "<p>目标<strong>加粗</strong>链接</p><ul><li>一</li></ul>"


def test_subordinate_unit_count_defaults_to_the_units_children(street_office, unit):
    evaluation = Evaluation.objects.create(unit=street_office, year=2023)
    assert evaluation.subordinate_unit_count == 1
    explicit = Evaluation.objects.create(unit=unit, year=2023, subordinate_unit_count=3)
    assert explicit.subordinate_unit_count == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1e30",
            "分值“1e30”不是有效的数字：含有无法识别的字符“e”（U+0065 LATIN SMALL LETTER E），只能用数字 0–9、小数点和千位分隔符。",
        ),
        (1e30, "分值不能超过 100。"),
        (-1e30, "分值不能为负数。"),
        ("NaN", "分值须为数字，如 2.00（填写的“NaN”不是数字）。"),
        (float("nan"), "分值须为数字，如 2.00。"),
        ("Infinity", "分值须为数字，如 2.00（填写的“Infinity”不是数字）。"),
        ("-1", "分值不能为负数。"),
        ("1.234", "分值最多保留两位小数。"),
        ("两分", "分值须为数字，如 2.00（填写的“两分”不是数字）。"),
    ],
)
def test_parse_two_places_refuses_in_chinese(text, message):
    with pytest.raises(ValueError) as refusal:
        parse_two_places(text, "分值", maximum=Decimal("100"), example="2.00")
    assert str(refusal.value) == message


def test_parse_two_places_reads_numbers_as_typed_or_read():
    assert parse_two_places("8,278,261.03", "预算数", maximum=Decimal("1e12")) == Decimal(
        "8278261.03"
    )
    assert parse_two_places(7.5, "分值", maximum=Decimal("100")) == Decimal("7.50")
    # A spreadsheet's float noise, within the tolerance, rounds to the cent.
    assert parse_two_places(
        0.1 + 0.2, "分值", maximum=Decimal("100"), tolerance=Decimal("0.000001")
    ) == Decimal("0.30")
