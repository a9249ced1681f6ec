"""How the official table writes numbers; the page, the PDF, the workbook's preview
and every message use these (the template tags in `templatetags/official.py` are
these same functions)."""

from decimal import Decimal

# The Decimal constants of the project, and the size of its number columns: amounts
# and the numbers of values hold 12 integer digits, to the cent.
ZERO = Decimal("0.00")
HUNDRED = Decimal("100")
TWO_PLACES = Decimal("0.01")
# The same two ways of writing, as Excel number formats (the workbook, the overview's xlsx).
AMOUNT_FORMAT = "#,##0.00"
TWO_PLACES_FORMAT = "0.00"
NUMBER_DIGITS = {"max_digits": 14, "decimal_places": 2}
MAX_NUMBER = (
    Decimal(10) ** (NUMBER_DIGITS["max_digits"] - NUMBER_DIGITS["decimal_places"]) - TWO_PLACES
)


def amount(value: Decimal | None) -> str:
    """Money with thousands separators, to the cent: 8,278,261.03."""
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}"


def two_places(value: Decimal | None) -> str:
    """分值, 得分 and 执行率: 7.50, 99.92."""
    if value is None:
        return ""
    return f"{Decimal(value):.2f}"


def signed_difference(value: Decimal | None) -> str:
    """复核总分 − 自评总分 with its sign: +1.50, −2, 0."""
    if value is None:
        return ""
    value = Decimal(value)
    if not value:
        return "0"
    sign = "+" if value > 0 else "−"
    return sign + whole_or_two_places(abs(value))


def whole_or_two_places(value: Decimal | None) -> str:
    """权重 and the totals, as the form prints them: 30, 100, 96 — but 95.50."""
    if value is None:
        return ""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{value:.0f}"
    return f"{value:.2f}"
