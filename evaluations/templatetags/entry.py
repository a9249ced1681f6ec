"""One input of the entry page: editable while the phase opens it, text otherwise."""

from django import template

register = template.Library()


# The template engine imports every tag library when it starts, for every template it
# draws, the PDF's too: the entry page's modules (its forms, and openpyxl through them)
# are imported when an input is drawn, not then.
@register.inclusion_tag("evaluations/entry/_input.html")
def entry_input(part, field: str, row_label: str = "", kind: str = "text", size: int = 0):
    from evaluations.entry import input_of

    return {
        "input": input_of(part, field),
        "row_label": row_label,
        "kind": kind,
        "size": size,
    }


@register.simple_tag
def entry_field(part, field: str):
    """The input of `field` for a template that draws it itself (the rich-text editors)."""
    from evaluations.entry import input_of

    return input_of(part, field)
