from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from .models import Evaluation
from .table import build_table
from .workbook import read_workbook, render_xlsx
from .workbook_import import (
    ImportRefused,
    apply_upload,
    check_identity,
    check_open_to_import,
    evaluations_open_to_import,
    pending_uploads,
    preview,
    store_upload,
)
from .xlsx import MAX_UPLOAD_BYTES, megabytes

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    # Imported here: loading WeasyPrint costs every process that loads the URLs ~0.3 s.
    from .pdf import pdf_filename, render_pdf

    evaluation = get_object_or_404(Evaluation.objects.with_table(), pk=evaluation_id)
    response = HttpResponse(render_pdf(evaluation), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=pdf_filename(evaluation)
    )
    return response


@require_GET
@login_required
def evaluation_workbook(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_object_or_404(Evaluation.objects.with_table(), pk=evaluation_id)
    response = HttpResponse(render_xlsx(evaluation), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{evaluation.unit.name}_{evaluation.year}年度_绩效自评表.xlsx"
    )
    return response


@require_http_methods(["GET", "POST"])
@login_required
def workbook_import(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_object_or_404(
        evaluations_open_to_import(request.user).with_table(), pk=evaluation_id
    )
    context = {"evaluation": evaluation, "max_size": megabytes(MAX_UPLOAD_BYTES), "errors": []}
    try:
        check_open_to_import(evaluation)
    except ImportRefused as refusal:
        context["refusal"] = str(refusal)
        return render(request, "evaluations/workbook_import.html", context, status=409)
    if request.method == "GET":
        return render(request, "evaluations/workbook_import.html", context)

    upload = request.FILES.get("workbook")
    if upload is None:
        context["errors"] = ["请选择要上传的 Excel 文件（.xlsx）。"]
    elif upload.size > MAX_UPLOAD_BYTES:
        context["errors"] = [
            f"文件大小 {upload.size / 1024 / 1024:.1f} MB，超过上限 {megabytes(MAX_UPLOAD_BYTES)}。"
        ]
    else:
        result = read_workbook(upload.read())
        context["errors"] = result.errors or check_identity(evaluation, result.data)
        if not context["errors"]:
            stored = store_upload(evaluation, request.user, upload.name, result.data)
            return redirect("workbook_import_preview", evaluation.pk, stored.pk)
    return render(request, "evaluations/workbook_import.html", context, status=400)


@require_http_methods(["GET", "POST"])
@login_required
def workbook_import_preview(request: HttpRequest, evaluation_id: int, upload_id: int):
    evaluation = get_object_or_404(
        evaluations_open_to_import(request.user).with_table(), pk=evaluation_id
    )
    upload = get_object_or_404(pending_uploads(request.user), pk=upload_id, evaluation=evaluation)
    if request.method == "POST":
        try:
            apply_upload(upload)
        except ImportRefused as refusal:
            messages.error(request, str(refusal))
            return redirect("workbook_import", evaluation.pk)
        messages.success(request, f"已导入工作簿“{upload.file_name}”。")
        return redirect("evaluation_table", evaluation.pk)
    changes = preview(evaluation, upload.data)
    return render(
        request,
        "evaluations/workbook_preview.html",
        {"evaluation": evaluation, "upload": upload, "changes": changes},
    )
