"""The pages of filing windows: the reporting rate (报送率) with its workbook, 催办,
and 延期 granted by a district's reviewers. 审核人 act on their districts, 管理员 on
all; everyone else gets 403. A window or unit out of the user's reach is 404."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import reminders, reporting, windows
from .access import can_see_overview, units_for_user
from .kinds import FormKind
from .models import Evaluation, Extension, FilingWindow, Unit
from .overview import year_choices
from .text import REASON_MAX_LENGTH

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def check_allowed(user) -> None:
    if not can_see_overview(user):
        raise PermissionDenied("只有审核人和管理员可以查看报送情况。")


def read_choice(data, name: str, choices, default: str) -> str:
    value = data.get(name, "")
    return value if value in dict(choices) else default


def report_filters(data) -> dict:
    """Year, kind and phase from a query string or a form; unknown values fall back."""
    years = year_choices()
    year = data.get("year", "")
    return {
        "years": years,
        "year": int(year) if year.isascii() and year.isdigit() and len(year) == 4 else years[0],
        "kind": read_choice(data, "kind", FormKind.choices, FormKind.OVERALL),
        "phase": read_choice(data, "phase", Evaluation.Phase.choices, Evaluation.Phase.TARGETS),
    }


def report_url(filters: dict) -> str:
    query = {name: filters[name] for name in ("year", "kind", "phase")}
    return f"{reverse('reporting_rate')}?{urlencode(query)}"


@require_GET
@login_required
def reporting_rate(request: HttpRequest) -> HttpResponse:
    user = request.user
    check_allowed(user)
    filters = report_filters(request.GET)
    year, kind, phase = filters["year"], filters["kind"], filters["phase"]
    report = reporting.reporting_rate(user, year, kind, phase)
    context = {
        "report": report,
        "filters": filters,
        "kinds": FormKind.choices,
        "phases": Evaluation.Phase.choices,
        "heads": [label for _, label in reporting.COUNTS],
        "late_units": reporting.late_units(user, year, kind, phase),
        "late_units_shown": reporting.LATE_UNITS_SHOWN,
        "urges": reporting.urge_log(user, year, kind, phase),
        "query": urlencode({name: filters[name] for name in ("year", "kind", "phase")}),
    }
    return render(request, "evaluations/reporting_rate.html", context)


@require_GET
@login_required
def reporting_rate_workbook(request: HttpRequest) -> HttpResponse:
    check_allowed(request.user)
    filters = report_filters(request.GET)
    report = reporting.reporting_rate(
        request.user, filters["year"], filters["kind"], filters["phase"]
    )
    response = HttpResponse(reporting.reporting_xlsx(report), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{report.title}.xlsx"
    )
    return response


def get_window_for_user(user, data, filters: dict) -> FilingWindow:
    district = data.get("district", "")
    window = None
    if district.isascii() and district.isdigit() and len(district) < 10:
        window = (
            windows.windows_for_user(user)
            .filter(
                district_id=int(district),
                year=filters["year"],
                kind=filters["kind"],
                phase=filters["phase"],
            )
            .first()
        )
    if window is None:
        raise Http404("没有这个填报期限，或您无权查看。")
    return window


def read_id(data, name: str) -> int | None:
    value = data.get(name, "")
    if value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    return None


@require_POST
@login_required
def urge_units(request: HttpRequest) -> HttpResponse:
    """催办 one unit (`unit`), the units under one 主管部门 (`parent`), or every unit of
    the district that has not submitted."""
    user = request.user
    check_allowed(user)
    filters = report_filters(request.POST)
    window = get_window_for_user(user, request.POST, filters)
    units = Unit.objects.filter(district_id=window.district_id)
    unit_id, parent_id = read_id(request.POST, "unit"), read_id(request.POST, "parent")
    if unit_id is not None:
        units = units.filter(pk=unit_id)
        if not units.exists():
            raise Http404("没有这个单位，或您无权查看。")
    elif parent_id is not None:
        units = units.filter(pk=parent_id) | units.filter(parent_id=parent_id)
    try:
        sent = reminders.urge(window, by=user, units=units)
    except windows.WindowError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已向 {len(sent)} 个尚未提交的单位发出催办。")
    return redirect(report_url(filters) + "#late-units")


@require_http_methods(["GET", "POST"])
@login_required
def extensions(request: HttpRequest) -> HttpResponse:
    """延期 of the user's districts: the log, and a form to grant one."""
    user = request.user
    check_allowed(user)
    reachable = windows.windows_for_user(user)
    status = 200
    if request.method == "POST":
        window = reachable.filter(pk=read_id(request.POST, "window") or 0).first()
        unit = units_for_user(user).filter(code=request.POST.get("unit", "")[:64]).first()
        until = request.POST.get("until", "")
        error = ""
        if window is None:
            error = "请选择填报期限。"
        elif unit is None or unit.district_id != window.district_id:
            error = "没有这个单位编码，或该单位不属于此填报期限所在的区。"
        else:
            try:
                until_day = date.fromisoformat(until)
            except ValueError:
                error = "请按“2024-03-31”的格式填写延期至的日期。"
            else:
                try:
                    windows.grant_extension(
                        window,
                        unit,
                        until=until_day,
                        reason=request.POST.get("reason", ""),
                        by=user,
                    )
                except windows.WindowError as refusal:
                    error = refusal.message
        if not error:
            messages.success(request, f"已为{unit.name}办理延期至{until_day:%Y-%m-%d}。")
            return redirect("extensions")
        messages.error(request, error)
        status = 400
    granted = (
        Extension.objects.filter(window__in=reachable)
        .select_related("window__district", "unit", "granted_by")
        .order_by("-created_at", "-id")[:100]
    )
    context = {
        "windows": reachable.order_by("-year", "district__code", "kind", "phase"),
        "granted": granted,
        "posted": request.POST if request.method == "POST" else {},
        "reason_max_length": REASON_MAX_LENGTH,
    }
    return render(request, "evaluations/extensions.html", context, status=status)
