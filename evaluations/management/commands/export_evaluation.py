from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.template.loader import render_to_string

from evaluations.models import Evaluation
from evaluations.table import build_table


def render_html(evaluation: Evaluation) -> bytes:
    """A self-contained HTML file: the table and its styles, no site chrome."""
    table = build_table(evaluation)
    return render_to_string("evaluations/export.html", {"table": table}).encode("utf-8")


def render_pdf(evaluation: Evaluation) -> bytes:
    """The PDF of this version of the form: the one the table page's download or the
    bulk export drew already, or drawn now and kept for them (the export storage)."""
    from evaluations.bulk_export import RenderTimeout, export_storage, store_evaluation_pdf

    try:
        name, _, _ = store_evaluation_pdf(evaluation, timeout=settings.EXPORT_RENDER_TIMEOUT)
    except RenderTimeout as error:
        raise CommandError(str(error)) from error
    with export_storage().open(name, "rb") as file:
        return file.read()


def render_xlsx(evaluation: Evaluation) -> bytes:
    from evaluations.workbook import render_xlsx

    return render_xlsx(evaluation)


FORMATS = {"html": render_html, "pdf": render_pdf, "xlsx": render_xlsx}


class Command(BaseCommand):
    help = "导出一个单位某年度的自评表（指定 --project 时为该项目的项目支出绩效自评表）"
    # The system checks import every view and admin module: a good part of a cold
    # start, for a command that needs none of them. `manage.py check` runs them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--unit", required=True, help="单位编码或完整的单位名称")
        parser.add_argument("--year", required=True, type=int, help="年度，如 2023")
        parser.add_argument(
            "--project", help="项目编码或完整的项目名称；不指定时导出单位的整体支出自评表"
        )
        parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="导出格式")
        parser.add_argument("--output", required=True, help="输出文件路径")

    def handle(
        self, *args, unit: str, year: int, project: str | None, format: str, output: str, **options
    ):
        forms = (
            Evaluation.objects.with_table()
            .for_year(year)
            .filter(Q(unit__code=unit) | Q(unit__name=unit))
        )
        if project is None:
            matches = list(forms.filter(kind=Evaluation.Kind.OVERALL))
            missing = f"未找到单位“{unit}”的{year}年度自评表"
        else:
            matches = list(forms.filter(Q(project__code=project) | Q(project__name=project)))
            missing = f"未找到单位“{unit}”项目“{project}”的{year}年度项目支出绩效自评表"
        if not matches:
            raise CommandError(missing)
        if len({evaluation.unit_id for evaluation in matches}) > 1:
            codes = "、".join(evaluation.unit.code for evaluation in matches)
            raise CommandError(f"单位名称“{unit}”对应多个单位（{codes}），请改用单位编码")
        if len(matches) > 1:
            codes = "、".join(evaluation.project.code for evaluation in matches)
            raise CommandError(f"项目名称“{project}”对应多个项目（{codes}），请改用项目编码")
        try:
            content = FORMATS[format](matches[0])
        except ValueError as error:  # e.g. a character no installed font has (PDF)
            raise CommandError(str(error)) from error
        Path(output).write_bytes(content)
        self.stdout.write(f"已导出 {output}（{len(content):,} 字节）")
