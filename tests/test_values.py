"""Parsing and formatting of 年度指标值 / 全年完成值: pure functions, no database."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indicators.values import (
    COMPARATORS,
    IndicatorValue,
    ValueParseError,
    format_value,
    parse_value,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=100.00(%)", IndicatorValue("=", Decimal("100.00"), "%")),
        ("≥90.00(%)", IndicatorValue("≥", Decimal("90.00"), "%")),
        ("=12.00(人)", IndicatorValue("=", Decimal("12.00"), "人")),
        ("97.00(%)", IndicatorValue("", Decimal("97.00"), "%")),
        ("提升", IndicatorValue(label="提升")),
        ("达成指标", IndicatorValue(label="达成指标")),
        # What people type: ASCII comparators, full-width brackets, no decimals, spaces.
        (">= 90 （%）", IndicatorValue("≥", Decimal("90.00"), "%")),
        ("<=5(天)", IndicatorValue("≤", Decimal("5.00"), "天")),
        ("＝33(个)", IndicatorValue("=", Decimal("33.00"), "个")),
        ("12", IndicatorValue("", Decimal("12.00"), "")),
        ("", IndicatorValue()),
    ],
)
def test_parse_reads_the_forms_spellings(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (IndicatorValue("=", Decimal("100"), "%"), "=100.00(%)"),
        (IndicatorValue("≥", Decimal("90.5"), "%"), "≥90.50(%)"),
        (IndicatorValue("", Decimal("97"), "%"), "97.00(%)"),
        (IndicatorValue("=", Decimal("12"), "人"), "=12.00(人)"),
        (IndicatorValue(label="提升"), "提升"),
        (IndicatorValue(), ""),
    ],
)
def test_format_writes_the_official_form(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(
    "garbage",
    ["=abc(%)", "≥≥90", "90(%", "=-5(%)", "1.234(%)", "(%)", "=", "100(%)(%)", "5e3", "1" * 20],
)
def test_garbage_raises_a_clear_chinese_error(garbage):
    with pytest.raises(ValueParseError) as error:
        parse_value(garbage)
    assert garbage[:10] in str(error.value)


def test_actual_values_take_no_comparator():
    with pytest.raises(ValueParseError, match="不带比较符号"):
        parse_value("≥90.00(%)", allow_comparator=False)


units = st.text(
    alphabet=st.characters(categories=["Lo", "Ll", "Lu"], exclude_characters="()（）"),
    min_size=0,
    max_size=4,
) | st.sampled_from(["%", "人", "个", "万元", "天"])
numbers = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2)
quantitative = st.builds(IndicatorValue, st.sampled_from(("",) + COMPARATORS), numbers, units)
labels = st.text(
    alphabet=st.characters(categories=["Lo"], exclude_characters="()（）"), min_size=1, max_size=20
)
qualitative = st.builds(IndicatorValue, label=labels)


@given(quantitative | qualitative)
def test_parse_of_format_gives_the_value_back(value):
    assert parse_value(format_value(value)) == value


@given(st.text(max_size=40))
def test_any_string_parses_or_raises_value_parse_error(text):
    try:
        value = parse_value(text)
    except ValueParseError as error:
        assert str(error)
    else:
        assert parse_value(format_value(value)) == value
