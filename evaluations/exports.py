"""Drawings of the official table as files. Each returns bytes.

The drawers are imported when used: WeasyPrint alone costs a fresh process most of a
second, and an export command draws one format only."""

from collections.abc import Callable

from django.template.loader import render_to_string

from .models import Evaluation
from .table import build_table


def render_html(evaluation: Evaluation) -> bytes:
    """A self-contained HTML file: the table and its styles, no site chrome."""
    table = build_table(evaluation)
    return render_to_string("evaluations/export.html", {"table": table}).encode("utf-8")


def render_pdf(evaluation: Evaluation) -> bytes:
    from .pdf import render_pdf

    return render_pdf(evaluation)


def render_xlsx(evaluation: Evaluation) -> bytes:
    from .workbook import render_xlsx

    return render_xlsx(evaluation)


EXPORT_FORMATS: dict[str, Callable[[Evaluation], bytes]] = {
    "html": render_html,
    "pdf": render_pdf,
    "xlsx": render_xlsx,
}


def export_evaluation(evaluation: Evaluation, file_format: str) -> bytes:
    return EXPORT_FORMATS[file_format](evaluation)
