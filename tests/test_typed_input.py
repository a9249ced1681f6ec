"""The one grammar of typed numbers and the rules of free text, without the database."""

import re
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evaluations.text import (
    RICH_TEXT_MAX_LENGTH,
    TextError,
    check_rich_text,
    check_text,
    read_number,
)

FULL_WIDTH = str.maketrans("0123456789,.", "０１２３４５６７８９，．")
amounts = st.decimals(
    min_value=Decimal("-999999999999.99"),
    max_value=Decimal("999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


def refusal(typed: str) -> str:
    with pytest.raises(ValueError) as error:
        read_number(typed, "全年预算数")
    return str(error.value)


# ---------------------------------------------------------------- numbers


@given(amounts)
def test_every_spelling_of_an_amount_reads_back(number):
    for spelling in (f"{number:.2f}", f"{number:,.2f}", f"{number:f}", f"  {number:,.2f}\t"):
        assert read_number(spelling, "金额") == number
        assert read_number(spelling.translate(FULL_WIDTH), "金额") == number


@given(st.integers(min_value=1000, max_value=10**12), st.data())
def test_a_separator_out_of_its_group_of_three_is_refused(number, data):
    digits = str(number)
    position = data.draw(st.integers(min_value=1, max_value=len(digits) - 1))
    if (len(digits) - position) % 3 == 0:
        position -= 1  # a place that is not a thousands boundary
    if position < 1:
        return
    typed = digits[:position] + "," + digits[position:]
    assert "千位分隔符须每三位一组" in refusal(typed)


@given(
    st.text(alphabet="0123456789,.+-", min_size=1, max_size=12),
)
def test_what_is_read_is_what_the_digits_say(typed):
    """Whatever is accepted means exactly its digits: commas only ever group
    thousands, so dropping them gives the number."""
    try:
        number = read_number(typed, "金额")
    except ValueError as error:
        assert str(error).startswith("金额")
        return
    assert number == Decimal(typed.replace(",", ""))
    whole = typed.lstrip("+-").split(".")[0]
    if "," in whole:
        assert re.fullmatch(r"[1-9]\d{0,2}(,\d{3})+", whole)


@given(st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789０１２３４５６７８９"))
def test_digits_of_other_scripts_are_refused(digit):
    message = refusal(f"1{digit}3")
    assert f"无法识别的字符“{digit}”" in message and f"U+{ord(digit):04X}" in message


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("8278261,03", "千位分隔符须每三位一组"),
        ("1234,56", "千位分隔符须每三位一组"),
        ("1,2,3", "千位分隔符须每三位一组"),
        ("0,123", "千位分隔符须每三位一组"),
        ("1_000", "无法识别的字符“_”"),
        ("١٢٣", "无法识别的字符“١”（U+0661 ARABIC-INDIC DIGIT ONE）"),
        ("1e3", "无法识别的字符“e”"),
        ("1.2.3", "只能有一个小数点"),
        ("1.234,56", "小数点后不能有千位分隔符"),
        ("8 278 261.03", "数字中间不能有空格"),
        ("1-2", "正负号只能写在最前面"),
        ("12。5", "无法识别的字符“。”"),
    ],
)
def test_malformed_numbers_are_refused_naming_what_was_typed(typed, reason):
    message = refusal(typed)
    assert message.startswith(f"全年预算数“{typed}”不是有效的数字：")
    assert reason in message


def test_words_are_no_numbers():
    assert refusal("两分") == "全年预算数须为数字（填写的“两分”不是数字）。"
    assert refusal("NaN") == "全年预算数须为数字（填写的“NaN”不是数字）。"
    assert refusal("") == "全年预算数须为数字（填写的“”不是数字）。"


def test_the_issues_numbers():
    assert read_number("8,278,261.03", "金额") == Decimal("8278261.03")
    assert read_number("８，２７８，２６１．０３", "金额") == Decimal("8278261.03")
    assert read_number("-5", "金额") == Decimal("-5")
    assert read_number("+.5", "金额") == Decimal("0.5")


def test_a_long_typed_text_is_shortened_in_the_message():
    message = refusal("1," * 5000)
    assert len(message) < 200 and "…" in message


# ---------------------------------------------------------------- text


@pytest.mark.parametrize("code", [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
def test_control_characters_are_refused_naming_the_character(code):
    character = chr(code)
    for multiline in (False, True):
        if multiline and character in "\t\n\r":
            check_text(f"一{character}二", "偏差及原因分析", max_length=10, multiline=True)
            continue
        with pytest.raises(TextError) as error:
            check_text(f"一{character}二", "三级指标", max_length=10, multiline=multiline)
        message = str(error.value)
        assert message.startswith("三级指标") and "第 2 个字" in message
        assert f"U+{code:04X}" in message or "不能换行" in message


@pytest.mark.parametrize(
    "character", ["\u202e", "\u202a", "\u2066", "\u2069"], ids=["RLO", "LRE", "LRI", "PDI"]
)
def test_bidi_overrides_are_refused_everywhere(character):
    for multiline in (False, True):
        with pytest.raises(TextError, match=f"U\\+{ord(character):04X}"):
            check_text(f"考核{character}率", "三级指标", max_length=200, multiline=multiline)


@pytest.mark.parametrize("character", ["\u200b", "\u200d", "\u200f", "\ufeff", "\u00ad", "\u2060"])
def test_invisible_format_characters_are_refused_in_names_only(character):
    with pytest.raises(TextError, match="不可见的格式字符"):
        check_text(f"巡管员{character}使用率", "三级指标", max_length=200)
    check_text(f"说明{character}文字", "偏差及原因分析", max_length=200, multiline=True)


def test_line_breaks_are_refused_in_names():
    for line_break in ("\n", "\r", "\u2028"):
        with pytest.raises(TextError, match="不能换行"):
            check_text(f"一{line_break}二", "一级指标", max_length=100)


@given(st.text(max_size=50))
def test_accepted_names_hold_nothing_invisible_or_controlling(text):
    try:
        check_text(text, "名称", max_length=50)
    except TextError as error:
        assert str(error).startswith("名称")
        return
    assert not any(unicodedata.category(character) in ("Cc", "Cf", "Cs") for character in text)


def test_lengths_are_counted_and_named():
    check_text("字" * 200, "三级指标", max_length=200)
    with pytest.raises(TextError) as error:
        check_text("字" * 201, "三级指标", max_length=200)
    assert str(error.value) == "三级指标最多 200 个字（现有 201 个）。"


def test_rich_text_counts_what_is_visible():
    paragraph = "<p>" + "目" * 1000 + "</p>"
    check_rich_text(paragraph * 5, "年初设定目标")
    with pytest.raises(TextError) as error:
        check_rich_text(paragraph * 5 + "<p>多</p>", "年初设定目标")
    assert str(error.value) == (
        f"年初设定目标最多 {RICH_TEXT_MAX_LENGTH:,} 个字（现有 {RICH_TEXT_MAX_LENGTH + 1:,} 个）。"
    )
    with pytest.raises(TextError, match="格式标记过多"):
        check_rich_text("<p></p>" * 10_000, "年初设定目标")
    with pytest.raises(TextError, match="U\\+0000"):
        check_rich_text("<p>目标\x00</p>", "年初设定目标")
    check_rich_text("<p>第一段\n</p>\n<ul><li>一</li></ul>", "年初设定目标")
