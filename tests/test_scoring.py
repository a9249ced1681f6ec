"""Suggested scores and grades: pure functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indicators.scoring import grade, round_score, suggest_score
from indicators.values import COMPARATORS, IndicatorValue, parse_value


def suggest(target: str, actual: str, points: str):
    return suggest_score(parse_value(target), parse_value(actual), Decimal(points))


@pytest.mark.parametrize(
    ("target", "actual", "points", "score"),
    [
        ("=100.00(%)", "100.00(%)", "2.00", "2.00"),
        ("=100.00(%)", "97.00(%)", "2.00", "1.94"),  # 2 × 97 / 100
        ("=100.00(%)", "95.00(%)", "10.00", "9.50"),
        ("≥90.00(%)", "90.00(%)", "2.00", "2.00"),
        ("≥95.00(%)", "80.00(%)", "3.00", "2.53"),  # 3 × 80 / 95 = 2.526… half up
        ("≥0.00(%)", "0.00(%)", "2.00", "2.00"),
        ("=33.00(个)", "35.00(个)", "2.00", "2.00"),  # the sample's unit deducted by its own choice
        ("≤5.00(天)", "5.00(天)", "4.00", "4.00"),
        ("≤5.00(天)", "7.50(天)", "4.00", "2.00"),  # halfway to twice the limit
        ("≤5.00(天)", "12.00(天)", "4.00", "0.00"),
        ("<5.00(天)", "5.00(天)", "4.00", "4.00"),  # at the limit: linear formula gives full
        ("提升", "达成指标", "10.00", "10.00"),
        ("健全", "部分达成指标", "10.00", "6.00"),
        ("健全", "未达成指标", "5.00", "0.00"),
    ],
)
def test_suggestions_follow_common_practice(target, actual, points, score):
    suggestion = suggest(target, actual, points)
    assert suggestion.score == Decimal(score)
    assert suggestion.reason.endswith("。")


def test_far_above_target_is_flagged():
    suggestion = suggest("≥50.00(%)", "60.00(%)", "2.00")
    assert suggestion.far_above_target
    assert suggestion.score == Decimal("2.00")
    assert "偏低" in suggestion.reason
    assert not suggest("≥50.00(%)", "59.00(%)", "2.00").far_above_target


@pytest.mark.parametrize(
    ("target", "actual", "why"),
    [
        ("=100.00(%)", "", "尚未填写"),
        ("=100.00(%)", "达成指标", "数值"),
        ("=100.00(%)", "100.00(人)", "单位"),
        ("提升", "很好", "之一"),
    ],
)
def test_no_suggestion_without_a_comparable_actual(target, actual, why):
    suggestion = suggest(target, actual, "2.00")
    assert suggestion.score is None
    assert why in suggestion.reason


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        ("96", "优"),
        ("90", "优"),
        ("89.99", "良"),
        ("80", "良"),
        ("79.99", "中"),
        ("60", "中"),
        ("59.99", "差"),
    ],
)
def test_grade(total, expected):
    assert grade(Decimal(total)) == expected


def test_round_score_is_half_up():
    assert round_score(Decimal("2.525")) == Decimal("2.53")
    assert round_score(Decimal("2.524")) == Decimal("2.52")


amounts = st.decimals(min_value=0, max_value=Decimal("100000"), places=2)
points = st.decimals(min_value=0, max_value=Decimal("100"), places=2)


@given(st.sampled_from(COMPARATORS), amounts, amounts, points)
def test_a_suggestion_stays_between_zero_and_the_points(comparator, target, actual, maximum):
    suggestion = suggest_score(
        IndicatorValue(comparator, target, "%"), IndicatorValue("", actual, "%"), maximum
    )
    assert suggestion.score is not None
    assert Decimal("0") <= suggestion.score <= maximum
    assert suggestion.score == suggestion.score.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    ("target", "actual", "direction"),
    [("<5.00(件)", "5.00(件)", "低于"), (">90.00(%)", "90.00(%)", "超过")],
)
def test_at_a_strict_limit_the_sentence_agrees_with_full_points(target, actual, direction):
    suggestion = suggest(target, actual, "2.00")
    assert suggestion.score == Decimal("2.00")
    assert "建议得满分" in suggestion.reason
    assert f"未严格{direction}" in suggestion.reason
    assert "超出目标" not in suggestion.reason and "未达到" not in suggestion.reason
    assert "按完成比例" not in suggestion.reason and "递减计分（" not in suggestion.reason


def test_just_past_a_strict_limit_the_formulas_apply():
    assert suggest("<5.00(件)", "5.50(件)", "2.00").score == Decimal("1.80")
    assert "超出目标" in suggest("<5.00(件)", "5.50(件)", "2.00").reason
    assert suggest(">90.00(%)", "81.00(%)", "2.00").score == Decimal("1.80")
    assert "未达到" in suggest(">90.00(%)", "81.00(%)", "2.00").reason
