"""The official table's number formats as template filters (see `evaluations.numbers`)."""

from django import template

from evaluations import numbers

register = template.Library()
register.filter("amount", numbers.amount)
register.filter("two_places", numbers.two_places)
register.filter("whole_or_two_places", numbers.whole_or_two_places)
