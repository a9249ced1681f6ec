"""One input of the entry page: editable while the phase opens it, text otherwise."""

from django import template

register = template.Library()


@register.inclusion_tag("admin/evaluations/evaluation/_input.html")
def entry_input(part, field: str, row_label: str = "", kind: str = "text", size: int = 0):
    return {
        "input": part.inputs.get(field),
        "row_label": row_label,
        "kind": kind,
        "size": size,
    }
