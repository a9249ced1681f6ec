"""The official table's number formats as template filters (see `evaluations.numbers`)."""

from django import template

from evaluations import numbers

register = template.Library()
register.filter("amount", numbers.amount)
register.filter("two_places", numbers.two_places)
register.filter("whole_or_two_places", numbers.whole_or_two_places)
register.filter("signed_difference", numbers.signed_difference)


@register.filter
def attribute(obj, name: str):
    """`obj.name`, or `obj[name]` of a mapping: for a column or a phase a layout names
    (`evaluations.kinds`)."""
    if isinstance(obj, dict):
        return obj.get(name, "")
    return getattr(obj, name, "")
