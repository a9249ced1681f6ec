from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from .models import Evaluation
from .pdf import pdf_filename, render_pdf
from .table import build_table


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    evaluations = Evaluation.objects.select_related("unit", "unit__parent").order_by(
        "-year", "unit__code"
    )
    return render(request, "evaluations/home.html", {"evaluations": evaluations})


@require_GET
@login_required
def evaluation_table(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_object_or_404(Evaluation.objects.with_table(), pk=evaluation_id)
    table = build_table(evaluation)
    return render(request, "evaluations/table.html", {"evaluation": evaluation, "table": table})


@require_GET
@login_required
def evaluation_pdf(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_object_or_404(Evaluation.objects.with_table(), pk=evaluation_id)
    response = HttpResponse(render_pdf(evaluation), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=pdf_filename(evaluation)
    )
    return response
