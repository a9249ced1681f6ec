"""One input of the entry page: editable while the phase opens it, text otherwise."""

from django import template

from evaluations.entry import input_of

register = template.Library()


@register.inclusion_tag("evaluations/entry/_input.html")
def entry_input(part, field: str, row_label: str = "", kind: str = "text", size: int = 0):
    return {
        "input": input_of(part, field),
        "row_label": row_label,
        "kind": kind,
        "size": size,
    }


@register.simple_tag
def entry_field(part, field: str):
    """The input of `field` for a template that draws it itself (the rich-text editors)."""
    return input_of(part, field)
