"""How the official table writes numbers; the page, the PDF, the workbook's preview
and every message use these (the template tags in `templatetags/official.py` are
these same functions)."""

from decimal import Decimal


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


def whole_or_two_places(value: Decimal | None) -> str:
    """权重 and the totals, as the form prints them: 30, 100, 96 — but 95.50."""
    if value is None:
        return ""
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{value:.0f}"
    return f"{value:.2f}"
