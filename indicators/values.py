"""年度指标值 and 全年完成值 as the official form writes them.

A value is either quantitative — an optional comparator, a number with two
decimals and a unit in brackets (`=100.00(%)`, `≥90.00(%)`, `97.00(%)`) — or
qualitative, a word (`提升`, `健全`, `达成指标`). Values are stored structured
and always shown through `format_value`, so every page, PDF and workbook writes
them the same way.
"""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from evaluations.numbers import MAX_NUMBER, TWO_PLACES
from evaluations.text import TextError, check_text, read_number

COMPARATORS = ("=", "≥", "≤", ">", "<")

# What people type for a comparator, mapped to the form's own sign.
COMPARATOR_SPELLINGS = {
    "=": "=",
    "＝": "=",
    "==": "=",
    "≥": "≥",
    ">=": "≥",
    "＞＝": "≥",
    "≤": "≤",
    "<=": "≤",
    "＜＝": "≤",
    ">": ">",
    "＞": ">",
    "<": "<",
    "＜": "<",
}

MAX_UNIT_LENGTH = 10
MAX_LABEL_LENGTH = 50
# Longer than any value can be; the parts' own limits say more.
MAX_TEXT_LENGTH = 1000

_QUANTITATIVE = re.compile(
    r"""^\s*
    (?P<comparator>==|>=|<=|＞＝|＜＝|[=＝≥≤><＞＜])?\s*
    (?P<number>[+-]?[0-9０-９][0-9０-９,，.．]*)\s*
    (?:[(（]\s*(?P<unit>[^()（）]*?)\s*[)）])?
    \s*$""",
    re.VERBOSE,
)
_LABEL = re.compile(r"^[^\d=＝≥≤<>＜＞()（）\s][^=＝≥≤<>＜＞()（）]*$")


class ValueParseError(ValueError):
    """A value string that is neither a number with a unit nor a word."""


@dataclass(frozen=True)
class IndicatorValue:
    comparator: str = ""
    number: Decimal | None = None
    unit: str = ""
    label: str = ""

    @property
    def is_quantitative(self) -> bool:
        return self.number is not None

    @property
    def is_empty(self) -> bool:
        return self.number is None and not self.label

    def __str__(self) -> str:
        return format_value(self)


EMPTY = IndicatorValue()


def parse_value(text: str | None, *, allow_comparator: bool = True) -> IndicatorValue:
    """Read a value the way people write it; raise ValueParseError in Chinese."""
    if text is None or not str(text).strip():
        return EMPTY
    text = str(text).strip()
    try:
        check_text(text, "指标值", max_length=MAX_TEXT_LENGTH)
    except TextError as error:
        raise ValueParseError(str(error).removesuffix("。")) from None
    match = _QUANTITATIVE.match(text)
    if match:
        comparator = COMPARATOR_SPELLINGS[match["comparator"]] if match["comparator"] else ""
        if comparator and not allow_comparator:
            raise ValueParseError(f"“{text}”：全年完成值只写数值和单位，不带比较符号")
        try:
            number = read_number(match["number"], f"指标值“{text}”中的数值")
        except ValueError as error:
            raise ValueParseError(str(error).removesuffix("。")) from None
        if number < 0:
            raise ValueParseError(f"“{text}”：指标值不能为负数")
        if number > MAX_NUMBER:
            raise ValueParseError(f"“{text}”：数值过大")
        if number != number.quantize(TWO_PLACES, rounding=ROUND_HALF_UP):
            raise ValueParseError(f"“{text}”：数值最多保留两位小数")
        unit = (match["unit"] or "").strip()
        if len(unit) > MAX_UNIT_LENGTH:
            raise ValueParseError(f"“{text}”：计量单位过长（最多{MAX_UNIT_LENGTH}个字）")
        return IndicatorValue(comparator=comparator, number=number.quantize(TWO_PLACES), unit=unit)
    if _LABEL.match(text):
        if len(text) > MAX_LABEL_LENGTH:
            raise ValueParseError(f"“{text[:20]}…”：定性指标值过长（最多{MAX_LABEL_LENGTH}个字）")
        return IndicatorValue(label=text)
    raise ValueParseError(
        f"无法识别的指标值“{text}”：定量指标请写成“=100.00(%)”“≥90.00(%)”的形式，"
        "定性指标请写文字，如“提升”“达成指标”"
    )


def format_value(value: IndicatorValue) -> str:
    """The official form's spelling: `=100.00(%)`, `97.00(%)`, `提升`."""
    if value.number is None:
        return value.label
    text = f"{value.comparator}{value.number.quantize(TWO_PLACES):.2f}"
    if value.unit:
        text += f"({value.unit})"
    return text
