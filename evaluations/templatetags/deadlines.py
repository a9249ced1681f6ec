from django import template

from evaluations.windows import countdown_of

register = template.Library()


@register.filter
def countdown(evaluation) -> str:
    """距截止 N 天 / 已逾期 N 天 of a form still to submit (from `windows.with_deadlines`)."""
    return countdown_of(evaluation)
