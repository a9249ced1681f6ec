"""What people type, read the same way on every path (the entry page, the admin,
the workbook and bulk imports, the review verbs): which characters and how much
free text a field may hold, and the one grammar of typed numbers.

Text. Every field refuses control characters — NUL, which PostgreSQL cannot store,
and the rest of C0/C1, which no spreadsheet can hold (openpyxl refuses the
workbook) — except tab and line breaks in multi-line text; and bidi embeddings,
overrides and isolates, which make a row read differently from what is stored.
Names (one-line fields: indicators, units, codes, units of measure) also refuse
line breaks and every invisible format character: zero-width spaces and joiners,
bidi marks, soft hyphens, byte-order marks. Nothing is stripped silently: the
message names the field, the character and where it is.

Numbers. An optional sign, ASCII digits with thousands separators only in groups
of three (8,278,261.03), one decimal point. Full-width digits and the full-width
comma and point read as their ASCII twins; everything else — a comma where the
point belongs (8278261,03), underscores, exponents, spaces inside, digits of other
scripts — is refused, naming what was typed: a malformed number is never guessed.
"""

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from html import unescape

from .numbers import TWO_PLACES

# Limits of the free text without a column size of its own. 年初设定目标 and 全年完成情况
# run to about 1,500 characters in published tables; 5,000 leaves room for the
# longest while keeping the PDF to a few pages.
RICH_TEXT_MAX_LENGTH = 5000
# The markup of rich text, per visible character allowed: paragraphs and lists
# stay far below it; a page of empty <p></p> does not.
MARKUP_PER_CHARACTER = 4
# 偏差及原因分析, 退回理由, 重新打开理由: a paragraph or two (the sample's longest is
# under 200 characters).
REASON_MAX_LENGTH = 2000
# 复核意见, 逐行审核意见: a note on one row.
NOTE_MAX_LENGTH = 1000

MULTILINE_WHITESPACE = {"\t", "\n", "\r"}
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_BREAKS = {"\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"}


class TextError(ValueError):
    """Text a field cannot hold; the message, in Chinese, names the field."""


def _character(character: str) -> str:
    name = unicodedata.name(character, "")
    code = f"U+{ord(character):04X}"
    return f"{code} {name}" if name else code


def check_text(text: str, label: str, *, max_length: int, multiline: bool = False) -> None:
    """Refuse, with TextError in Chinese, text that `label` cannot hold: longer than
    `max_length` characters, or with a character the rules above forbid."""
    if len(text) > max_length:
        raise TextError(f"{label}最多 {max_length:,} 个字（现有 {len(text):,} 个）。")
    for position, character in enumerate(text, start=1):
        category = unicodedata.category(character)
        where = f"第 {position:,} 个字"
        if multiline and character in MULTILINE_WHITESPACE:
            continue
        if not multiline and character in LINE_BREAKS:
            raise TextError(f"{label}不能换行（{where}是换行符），请写在一行内。")
        if category == "Cc":
            raise TextError(
                f"{label}含有不允许的控制字符 {_character(character)}（{where}），请删除后再保存。"
            )
        if category == "Cs" or character in "\ufffe\uffff":
            raise TextError(
                f"{label}含有无效的字符 U+{ord(character):04X}（{where}），请删除后再保存。"
            )
        if character in BIDI_CONTROLS or (not multiline and category == "Cf"):
            raise TextError(
                f"{label}含有不可见的格式字符 {_character(character)}（{where}），"
                "会改变文字的显示，请删除后再保存。"
            )


def visible_text(html: str) -> str:
    """Rich text as it reads: tags dropped, entities read."""
    return unescape(re.sub(r"<[^>]*>", "", html or ""))


def check_rich_text(html: str, label: str, *, max_length: int = RICH_TEXT_MAX_LENGTH) -> None:
    """Rich text (年初设定目标, 全年完成情况): at most `max_length` visible characters
    and a bounded amount of markup, with the characters of multi-line text."""
    text = visible_text(html)
    if len(text) > max_length:
        raise TextError(f"{label}最多 {max_length:,} 个字（现有 {len(text):,} 个）。")
    markup_limit = MARKUP_PER_CHARACTER * max_length
    if len(html) > markup_limit:
        raise TextError(
            f"{label}的格式标记过多（{len(html):,} 个字符，最多 {markup_limit:,} 个），"
            "请删除多余的空段落或列表后再保存。"
        )
    check_text(html, label, max_length=markup_limit, multiline=True)
    check_text(text, label, max_length=max_length, multiline=True)  # entities read


# ---------------------------------------------------------------- numbers

FULL_WIDTH = str.maketrans("０１２３４５６７８９，．", "0123456789,.")
NUMBER = re.compile(
    r"[+-]?(?:(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII
)
NUMBER_CHARACTERS = set("0123456789,.+-")
SHOWN_LENGTH = 30


def _shown(typed: str) -> str:
    typed = typed.strip()
    return typed if len(typed) <= SHOWN_LENGTH else typed[:SHOWN_LENGTH] + "…"


def read_number(typed: str, label: str, *, example: str = "") -> Decimal:
    """The number in `typed`, by the grammar above; ValueError in Chinese naming
    `label` and what was typed otherwise."""
    text = typed.strip().translate(FULL_WIDTH)
    if NUMBER.fullmatch(text):
        return Decimal(text.replace(",", ""))
    shown = _shown(typed)
    if not any(character.isdigit() for character in text):
        if example:
            raise ValueError(f"{label}须为数字，如 {example}（填写的“{shown}”不是数字）。")
        raise ValueError(f"{label}须为数字（填写的“{shown}”不是数字）。")
    unknown = next((character for character in text if character not in NUMBER_CHARACTERS), None)
    fraction = text.partition(".")[2]
    if unknown is not None and unknown.isspace():
        reason = "数字中间不能有空格"
    elif unknown is not None:
        reason = (
            f"含有无法识别的字符“{unknown}”（{_character(unknown)}），"
            "只能用数字 0–9、小数点和千位分隔符"
        )
    elif "+" in text[1:] or "-" in text[1:]:
        reason = "正负号只能写在最前面"
    elif text.count(".") > 1:
        reason = "只能有一个小数点"
    elif "," in fraction:
        reason = "小数点后不能有千位分隔符"
    else:
        reason = "千位分隔符须每三位一组（如 8,278,261.03），小数点须用“.”"
    raise ValueError(f"{label}“{shown}”不是有效的数字：{reason}。")


def parse_two_places(
    value: str | int | float | Decimal,
    label: str,
    *,
    maximum: Decimal,
    minimum: Decimal = Decimal("0"),
    tolerance: Decimal = Decimal("0"),
    example: str = "",
) -> Decimal:
    """A typed or read number with at most two decimals (within `tolerance`, for
    the float noise of a spreadsheet), between `minimum` and `maximum`, to the cent;
    ValueError in Chinese otherwise. Text is read by the one grammar of typed
    numbers (`read_number`), never guessed at. The range is checked before
    rounding: rounding 1e30 to the cent fails with InvalidOperation, which is no
    ValueError."""
    not_a_number = f"{label}须为数字，如 {example}。" if example else f"{label}须为数字。"
    if isinstance(value, str):
        number = read_number(value, label, example=example)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest repr is the number typed
    else:
        number = Decimal(value)
    if not number.is_finite():
        raise ValueError(not_a_number)
    if number < minimum:
        if minimum == 0:
            raise ValueError(f"{label}不能为负数。")
        raise ValueError(f"{label}不能小于 {minimum:f}。")
    if number > maximum:
        raise ValueError(f"{label}不能超过 {maximum:f}。")
    rounded = number.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    if abs(number - rounded) > tolerance:
        raise ValueError(f"{label}最多保留两位小数。")
    return rounded
