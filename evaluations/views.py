import dataclasses
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from indicators.models import Indicator
from indicators.scoring import GRADES

from . import evidence, reminders, todo, windows, workflow, years
from .access import (
    can_enter,
    can_export,
    can_fill,
    can_reopen,
    can_review,
    can_review_first,
    can_see_overview,
    fills_unit,
    get_evaluation_for_user,
    get_export_job_for_user,
    get_project_to_start,
    is_admin,
    is_reviewer,
    units_adding_projects,
    units_seen_by,
    units_to_start,
)
from .bulk_export import (
    ExportRefused,
    RenderTimeout,
    archive_download_name,
    export_storage,
    job_progress,
    open_archive,
    retry_failed,
    stale_after,
    start_export,
    store_evaluation_pdf,
    sweep_stale_work,
)
from .chain import ChainPeople, chain_of, people_of_chain
from .entry import (
    Entry,
    EntryExpired,
    keep_valid_fields,
    preview_data,
    read_entry,
    renamed_keys,
    save_entry,
)
from .forms import ExportForm, ProjectForm
from .history import last_return, person, review_history
from .kinds import LAYOUTS
from .models import (
    Evaluation,
    EvaluationError,
    ExportItem,
    ExportJob,
    Project,
    ReviewEvent,
    ReviewLevel,
    StaleVersion,
    Unit,
    anchor_of,
)
from .overview import (
    OVERVIEW_PAGES,
    STAGE_LABELS,
    STAGES,
    charts,
    parent_choices,
    year_choices,
)
from .table import build_table
from .unit_projects import project_account
from .workbook import render_xlsx
from .workbook_import import (
    ImportRefused,
    apply_upload,
    check_identity,
    check_locked,
    check_open_to_import,
    import_refusal,
    pending_uploads,
    preview,
    printed_findings,
    read_workbook,
    store_upload,
)
from .xlsx import MAX_UPLOAD_BYTES, megabytes

# What draws the table on the page: every kind's partial (the project form's extends
# the overall form's) and the review notes.
TABLE_PAGE_TEMPLATES = (
    *(layout.template for layout in LAYOUTS.values()),
    "evaluations/_row_notes.html",
)
# How long a drawn table page is kept (it is keyed by what it shows, so never stale).
TABLE_PAGE_SECONDS = 24 * 60 * 60


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_READY_MARK = re.compile(r"[0-9a-f]{8,32}")

COMMENT_PREFIX = "comment-"


# The home page lists at most this many forms; the counts cover them all, and the
# filters narrow the list (a reviewer's district has thousands of project forms).
HOME_LIST_LIMIT = 500


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where a unit works: for each year and unit its overall form and every project
    form, with 表类型 · 阶段 · 状态, filters and counts — a fixed number of queries
    whatever the number of forms."""
    user = request.user
    visible = Evaluation.objects.for_user(user)
    filters = home_filters(request)
    chosen = visible
    for name in ("year", "kind", "phase", "status"):
        if filters[name]:
            chosen = chosen.filter(**{name: filters[name]})
    counts = home_counts(chosen)
    evaluations = list(
        windows.with_deadlines(chosen)
        .select_related("unit", "unit__parent", "project")
        .order_by("-year", "unit__code", "kind", "project__code")[:HOME_LIST_LIMIT]
    )
    for evaluation in evaluations:
        evaluation.fillable = can_enter(user, evaluation)
        evaluation.next_step, evaluation.yours = next_step(user, evaluation)
    units = units_to_start(user).order_by("code")
    template_years = years.template_years()
    context = {
        "evaluations": evaluations,
        "counts": counts,
        "limited": counts["all"] > len(evaluations),
        "filters": filters,
        "years": list(visible.order_by("-year").values_list("year", flat=True).distinct()),
        "kinds": Evaluation.Kind.choices,
        "phases": Evaluation.Phase.choices,
        "statuses": Evaluation.Status.choices,
        "start_units": units[:1000],
        "project_units": list(units_adding_projects(user).order_by("code")),
        "start_year": template_years[0] if template_years else timezone.localdate().year,
        "template_years": template_years,
        "is_reviewer": is_reviewer(user) or is_admin(user),
        "can_see_overview": can_see_overview(user),
        "can_export": can_export(user),
        "todo_counts": todo.counts(user),
    }
    return render(request, "evaluations/home.html", context)


def next_step(user, evaluation: Evaluation) -> tuple[str, bool]:
    """Who acts next on the form, as the home page says it, and whether it is `user`."""
    phase = evaluation.get_phase_display()
    if evaluation.is_final:
        return "已审核定稿，无需再办理", False
    if evaluation.status in Evaluation.EDITABLE_STATUSES:
        verb = "修改" if evaluation.status == Evaluation.Status.RETURNED else "填报"
        if can_fill(user, evaluation):
            return f"待您{verb}{phase}", True
        return f"下一步：单位填报人{verb}{phase}", False
    if evaluation.review_level == ReviewLevel.PARENT:
        if can_review_first(user, evaluation):
            return f"待您初审{phase}", True
        return f"下一步：主管部门审核人初审{phase}", False
    if can_review(user, evaluation):
        return f"待您审核{phase}", True
    return f"下一步：区财政局审核人审核{phase}", False


def home_filters(request: HttpRequest) -> dict:
    """年度, 表类型, 阶段 and 状态 from the query string; unknown values are ignored."""
    kind = request.GET.get("kind", "")
    phase = request.GET.get("phase", "")
    status = request.GET.get("status", "")
    return {
        "year": _whole_number(request.GET.get("year")) or None,
        "kind": kind if kind in Evaluation.Kind.values else "",
        "phase": phase if phase in Evaluation.Phase.values else "",
        "status": status if status in Evaluation.Status.values else "",
    }


def home_counts(evaluations) -> dict:
    """How many forms the filters select: in all, per 表类型 and per 状态 (one query)."""
    kinds = {f"kind_{kind}": Count("pk", filter=Q(kind=kind)) for kind in Evaluation.Kind}
    statuses = {
        f"status_{status}": Count("pk", filter=Q(status=status)) for status in Evaluation.Status
    }
    counts = evaluations.order_by().aggregate(all=Count("pk"), **kinds, **statuses)
    counts["kinds"] = [(label, counts[f"kind_{kind}"]) for kind, label in Evaluation.Kind.choices]
    counts["statuses"] = [
        (label, counts[f"status_{status}"]) for status, label in Evaluation.Status.choices
    ]
    return counts


@require_GET
@login_required
def start_year_confirm(request: HttpRequest) -> HttpResponse:
    """What starting a unit's year creates — its overall form and the forms of its
    projects running that year — for the unit to confirm with one button. Writes nothing."""
    units = units_to_start(request.user)
    if not units.exists():
        raise PermissionDenied("只有填报人（为本单位）和管理员可以新建自评表。")
    unit = get_object_or_404(units, pk=_whole_number(request.GET.get("unit")))
    year = _whole_number(request.GET.get("year"))
    if not 2000 <= year <= 2100:
        messages.error(request, "请填写年度，如 2024。")
        return redirect("home")
    source = request.GET.get("source", "")
    if source not in years.SOURCE_LABELS:
        messages.error(request, "请选择按指标库新建，或复制上年度自评表。")
        return redirect("home")
    plan = years.plan_year(unit, year, source)
    context = {"plan": plan, "source": source, "source_label": years.SOURCE_LABELS[source]}
    return render(request, "evaluations/start_year.html", context)


@require_POST
@login_required
def start_evaluation(request: HttpRequest) -> HttpResponse:
    """Starts a unit's year: its overall form (from the year's 指标库 or from last
    year's) and the forms of its projects running that year, in one transaction."""
    units = units_to_start(request.user)
    if not units.exists():
        raise PermissionDenied("只有填报人（为本单位）和管理员可以新建自评表。")
    unit = get_object_or_404(units, pk=_whole_number(request.POST.get("unit")))
    year = _whole_number(request.POST.get("year"))
    if not 2000 <= year <= 2100:
        messages.error(request, "请填写年度，如 2024。")
        return redirect("home")
    source = request.POST.get("source", "")
    confirmed = None
    if "confirmed" in request.POST:  # the confirmation page's list of projects
        confirmed = [_whole_number(value) for value in request.POST.getlist("project")]
    try:
        overall, projects = years.start_year(
            unit, year, source, by=request.user, expected_projects=confirmed
        )
    except EvaluationError as error:
        messages.error(request, error.message)
        return redirect("home")
    created = f"，以及 {len(projects)} 张项目支出绩效自评表" if projects else ""
    if overall is None:
        messages.success(
            request, f"已新建{unit.name}{year}年度的 {len(projects)} 张项目支出绩效自评表。"
        )
        return redirect(reverse("home") + f"?year={year}&kind={Evaluation.Kind.PROJECT}")
    messages.success(request, f"已新建{unit.name}{year}年度自评表{created}，请填写年初目标。")
    return redirect("evaluation_entry", overall.pk)


@require_POST
@login_required
def start_project_form(request: HttpRequest, project_id: int) -> HttpResponse:
    """Starts one project's form of a year (a project added during the year)."""
    project = get_project_to_start(request.user, project_id)
    year = _whole_number(request.POST.get("year"))
    if not 2000 <= year <= 2100:
        messages.error(request, "请填写年度，如 2024。")
        return redirect("home")
    try:
        evaluation = years.start_project_form(project, year, by=request.user)
    except EvaluationError as error:
        messages.error(request, error.message)
        return redirect("home")
    messages.success(request, f"已新建项目“{project.name}”{year}年度自评表，请填写年初目标。")
    return redirect("evaluation_entry", evaluation.pk)


@require_POST
@login_required
def add_project(request: HttpRequest) -> HttpResponse:
    """A unit adds one of its projects, where its district allows units to."""
    user = request.user
    unit = get_object_or_404(units_seen_by(user), pk=_whole_number(request.POST.get("unit")))
    if not fills_unit(user, unit):
        raise PermissionDenied("只有本单位的填报人可以为本单位添加项目。")
    if not units_adding_projects(user).filter(pk=unit.pk).exists():
        raise PermissionDenied(
            f"{unit.district.name}未允许单位自行添加项目，请联系管理员导入或添加项目。"
        )
    form = ProjectForm(request.POST, instance=Project(unit=unit))
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}：{error}" if label else error)
        return redirect("home")
    project = form.save()
    messages.success(request, f"已为{unit.name}添加项目“{project.name}”（{project.code}）。")
    return redirect("home")


def _whole_number(value: str | None) -> int:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else 0


@require_GET
@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """The submitted evaluations of the reviewer's districts, longest waiting first."""
    user = request.user
    if not (is_reviewer(user) or is_admin(user)):
        raise PermissionDenied("只有审核人和管理员可以查看待审核的自评表。")
    # The district's queue: forms still at 主管部门初审 are counted, not listed.
    evaluations = (
        Evaluation.objects.for_user(user)
        .awaiting_review()
        .filter(review_level=ReviewLevel.DISTRICT)
        .with_scores()
    )
    year = _whole_number(request.GET.get("year"))
    if year:
        evaluations = evaluations.filter(year=year)
    phase = request.GET.get("phase", "")
    if phase in Evaluation.Phase.values:
        evaluations = evaluations.filter(phase=phase)
    at_district = Q(status="submitted", review_level=ReviewLevel.DISTRICT)
    counts = Evaluation.objects.for_user(user).aggregate(
        targets=Count("pk", filter=at_district & Q(phase="targets")),
        results=Count("pk", filter=at_district & Q(phase="results")),
        first_level=Count("pk", filter=Q(status="submitted", review_level=ReviewLevel.PARENT)),
    )
    context = {
        "evaluations": evaluations,
        "year": year or "",
        "phase": phase,
        "phases": Evaluation.Phase.choices,
        "counts": counts,
    }
    return render(request, "evaluations/review_queue.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@never_cache  # shared office computers: a filled-in form must not come back from a cache
def evaluation_entry(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """The data-entry page: the whole table as one form."""
    user = request.user
    # With its filing window: the submit guard reads it without a query.
    evaluation = get_evaluation_for_user(
        user, evaluation_id, windows.with_deadlines(Evaluation.objects.with_table())
    )
    if not can_enter(user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以填写自评表。")
    last_year = (
        Evaluation.objects.for_user(user)
        .with_table()
        .filter(**evaluation.lineage(), year=evaluation.year - 1)
        .first()
    )
    if request.method == "GET":
        return render_entry(request, read_entry(evaluation, last_year=last_year))

    try:
        entry = read_entry(evaluation, request.POST, last_year)
    except EntryExpired as error:
        # Someone changed the rows meanwhile: show the table as it now stands, with what
        # was typed into the rows still there, and save nothing.
        still_there = request.POST.copy()
        for structure_key in ("rows", "categories"):
            still_there.pop(structure_key, None)
        messages.error(
            request,
            f"{error.message}未保存；您在仍存在的行中填写的内容已保留在下方，新增的行需重新添加。",
        )
        return render_entry(request, read_entry(evaluation, still_there, last_year), status=409)
    if not entry.editable:
        messages.error(
            request,
            f"该自评表当前为“{evaluation.state_display}”，不能修改，您的修改未保存。"
            "下方保留了您填写的内容，可复制留存；如需修改，请联系审核人退回。",
        )
        return render_entry(request, entry, status=409)
    errors = entry.errors()
    if errors:
        return save_valid_fields(request, entry, errors, last_year)
    try:
        save_entry(entry, by=user, expected_version=parse_version(request.POST.get("version")))
    except StaleVersion as error:
        messages.error(
            request,
            f"{error.message}下方保留了您填写的内容；核对后再次保存，将以您填写的内容为准。",
        )
        return render_entry(request, entry, status=409)
    except EvaluationError as error:
        messages.error(request, error.message)
        return render_entry(request, entry, status=409)

    if request.POST.get("action") != "submit":
        messages.success(request, "草稿已保存。")
        return redirect("evaluation_entry", evaluation.pk)
    phase = evaluation.get_phase_display()
    try:
        workflow.submit(evaluation, by=user)
    except EvaluationError as error:
        messages.error(request, f"已保存，但{error.message}")
        # Rows missing evidence are not faults of the table the entry page shows.
        for fault in getattr(error, "faults", []):
            if fault.anchor.startswith("evidence-"):
                messages.error(request, f"{fault.message}（在表格页面的“佐证材料”中上传）")
        return redirect(reverse("evaluation_entry", args=[evaluation.pk]) + "#faults")
    messages.success(request, f"{phase}已提交，等待审核。")
    return redirect("evaluation_table", evaluation.pk)


def save_valid_fields(
    request: HttpRequest, entry: Entry, errors: dict, last_year: Evaluation | None
) -> HttpResponse:
    """A form with mistakes: every valid field is saved (nothing typed is lost), the
    wrong ones are shown again as typed beside their errors, and nothing is submitted."""
    evaluation = entry.evaluation
    posted_keys = keep_valid_fields(entry)
    try:
        save_entry(
            entry, by=request.user, expected_version=parse_version(request.POST.get("version"))
        )
    except StaleVersion as error:
        messages.error(
            request,
            f"{error.message}下方保留了您填写的内容；核对后再次保存，将以您填写的内容为准。",
        )
        return render_entry(request, entry, status=409)
    except EvaluationError as error:
        messages.error(request, error.message)
        return render_entry(request, entry, status=409)
    not_submitted = "未提交；" if request.POST.get("action") == "submit" else ""
    messages.error(
        request,
        f"有 {len(errors)} 处填写有误，{not_submitted}这些内容未保存，按您填写的原样保留在下方，"
        "请按红字提示修改；其余填写已保存。",
    )
    saved = get_evaluation_for_user(
        request.user, evaluation.pk, windows.with_deadlines(Evaluation.objects.with_table())
    )
    data = renamed_keys(request.POST, entry, posted_keys)
    return render_entry(request, read_entry(saved, data, last_year), status=400)


def render_entry(request: HttpRequest, entry: Entry, status: int = 200) -> HttpResponse:
    evaluation = entry.evaluation
    returned, comments = (
        last_return(evaluation) if evaluation.status == Evaluation.Status.RETURNED else (None, [])
    )
    parts = {part.key: part for part in entry.parts() if part.key}
    for comment in comments:
        if comment.anchor in parts:
            parts[comment.anchor].comments.append(comment.text)
    context = {
        "last_return": returned,
        "return_comments": comments,
        "title": f"填写：{evaluation.subject}（{evaluation.year}年度）",
        "evaluation": evaluation,
        "entry": entry,
        "can_submit": not workflow.submit_refusal(request.user, evaluation),
        # Drawn from a post that was not (wholly) saved: the page's script keeps it
        # as a draft in the browser at once.
        "unsaved": status != 200,
        "session_seconds": settings.SESSION_COOKIE_AGE,
    }
    return render(request, "evaluations/entry/entry.html", context, status=status)


def entry_moved(request: HttpRequest, evaluation_id: int, name: str) -> HttpResponse:
    """The entry page's address from when it lived in the admin (bookmarks, mailed
    links, a tab left open). Redirects by the id alone, for everyone: the answer does
    not depend on the user or on whether the form exists, and the new address does the
    access check (404 for others). A post keeps its method and body (308), so a page
    drawn before the move still saves."""
    url = reverse(name, args=[evaluation_id])
    if request.META.get("QUERY_STRING"):
        url += "?" + request.META["QUERY_STRING"]
    return HttpResponsePermanentRedirect(
        url, preserve_request=request.method not in ("GET", "HEAD")
    )


@require_POST
@login_required
@never_cache
def evaluation_entry_preview(request: HttpRequest, evaluation_id: int) -> JsonResponse:
    """The live figures of the entry page, computed by the server from the form as typed.
    Writes nothing."""
    evaluation = get_evaluation_for_user(
        request.user, evaluation_id, Evaluation.objects.with_table()
    )
    if not can_enter(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以填写自评表。")
    try:
        entry = read_entry(evaluation, request.POST)
    except EntryExpired as error:
        return JsonResponse({"expired": error.message}, status=409)
    return JsonResponse(preview_data(entry))


@require_GET
@login_required
def evaluation_table(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    user = request.user
    evaluation = get_evaluation_for_user(
        user,
        evaluation_id,
        # Its filing window is read by the submit guard and the countdown only while the
        # unit may still submit (one query, `windows.deadline_of`).
        Evaluation.objects.select_related("unit", "unit__parent", "unit__district", "project"),
    )
    # What differs between users who may see the form: their buttons, nothing else.
    buttons = {
        "can_enter": can_enter(user, evaluation),
        "can_submit": not workflow.submit_refusal(user, evaluation),
        "can_decide": not workflow.review_refusal(user, evaluation),
        "can_return_to_parent": not workflow.return_to_parent_refusal(user, evaluation),
        "can_first_decide": not workflow.first_review_refusal(user, evaluation),
        "can_recheck": not workflow.recheck_refusal(user, evaluation),
        "can_reopen": not workflow.reopen_refusal(user, evaluation),
        **evidence.buttons(user, evaluation),
    }
    # The page is drawn once per state of what it shows and per set of buttons. Every
    # write of the form moves its row (the version, raised by `workflow.changing` and
    # the review steps in the transaction that writes their review event, or
    # `updated_at`, touched by any row's save); renames of the unit show in the rows
    # read here, renames of the people in its history and review events in the names
    # check below. So an unchanged form costs this fetch, not the tree and its events.
    chain_people = people_of_chain(evaluation)
    unit = evaluation.unit
    key = "table-page:" + digest(
        [
            table_page_version(),
            row_values(evaluation),
            row_values(unit),
            row_values(unit.district),
            # The project form's head shows its project and its 主管部门.
            row_values(unit.parent) if unit.parent else None,
            row_values(evaluation.project) if evaluation.project else None,
            # The overall form's sidebar counts and sums its unit's project forms.
            project_forms_state(evaluation),
            [dataclasses.astuple(someone) for someone in chain_people.first],
            None
            if chain_people.holders is None
            else [dataclasses.astuple(someone) for someone in chain_people.holders],
            buttons,
        ]
    )
    drawn = cache.get(key)
    # The page names who made the changes and took the steps: redrawn when one of
    # them was renamed.
    if drawn is None or drawn["people"] != names_of(drawn["people"]):
        drawn = draw_table_page(user, evaluation_id, buttons, chain_people)
        cache.set(key, drawn, TABLE_PAGE_SECONDS)
    # One token for the page's forms and the header's (masking it costs).
    token = get_token(request)
    context = {
        "evaluation": evaluation,
        "chain": mark_safe(drawn["chain"]),
        "body": mark_safe(drawn["html"].replace(drawn["csrf_mark"], token)),
        "csrf_token": token,
        # Per request, outside the cached page: the countdown moves with the date.
        "deadline": windows.countdown_of(evaluation),
    }
    return render(request, "evaluations/table_page.html", context)


def project_forms_state(evaluation: Evaluation) -> list | None:
    """What the project forms beside the overall form's 项目支出 line are now (one
    query, for the forms whose layout shows them): any write of one moves its row."""
    if not evaluation.layout.accounted_by_projects:
        return None
    forms = Evaluation.objects.filter(
        kind=Evaluation.Kind.PROJECT, unit=evaluation.unit_id, year=evaluation.year
    )
    return [
        [str(value) for value in row] for row in forms.values_list("pk", "version", "updated_at")
    ]


def draw_table_page(user, evaluation_id: int, buttons: dict, chain_people: ChainPeople) -> dict:
    """The table page below the header, drawn without the request (so nothing of one
    user's request can be served to another) and with a mark for the CSRF token."""
    evaluation = get_evaluation_for_user(user, evaluation_id, Evaluation.objects.with_table())
    table = build_table(evaluation)
    history = review_history(evaluation)
    notes = {}
    for comment in history.comments:
        notes.setdefault(comment.anchor, []).append(comment.text)
    changed = {}
    for change in history.changes:
        changed.setdefault(change.anchor, []).append(
            f"{change.field}（{change.old} → {change.new}）"
        )
    for row in [*table.budget_rows, *table.rows]:
        row.comments = notes.get(row.anchor, [])
        row.changes = changed.get(row.anchor, [])
    csrf_mark = secrets.token_hex(16)
    context = {
        "evaluation": evaluation,
        "table": table,
        "project_account": project_account(evaluation),
        # The drawn table is cached by what it shows: users with other buttons share it.
        "drawn_table_key": table.fingerprint(table_page_version(), canonical([notes, changed])),
        "history": history,
        "show_review": True,
        **buttons,
        # 佐证材料 (`_evidence.html`): attachments move the form's `updated_at`.
        **evidence.page_context(evaluation, table),
        "csrf_token": csrf_mark,
    }
    events = list(evaluation.review_events.select_related("actor"))
    chain = chain_of(evaluation, events, chain_people)
    people = {change.actor_id: change.actor for change in history.changes if change.actor_id}
    people.update((event.actor_id, person(event.actor)) for event in events)
    return {
        "chain": render_to_string("evaluations/_chain.html", {"chain": chain}),
        "html": render_to_string("evaluations/table.html", context),
        "csrf_mark": csrf_mark,
        "people": people,
    }


def names_of(people: dict[int, str]) -> dict[int, str]:
    """The names shown for these users now (one query, none for nobody)."""
    if not people:
        return {}
    users = get_user_model().objects.filter(pk__in=people).only("first_name", "username")
    return {user.pk: person(user) for user in users}


def row_values(obj) -> list[str]:
    return [str(getattr(obj, field.attname)) for field in obj._meta.concrete_fields]


def digest(data) -> str:
    return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()


@functools.cache
def table_page_version() -> str:
    """A hash of the code and templates that draw the table page, so that a cache
    shared between processes never serves a page drawn by an older release."""
    hashed = hashlib.sha256()
    for folder in ("evaluations", "indicators", "templates"):
        for path in sorted((settings.BASE_DIR / folder).rglob("*")):
            if path.suffix in (".py", ".html", ".css"):
                hashed.update(path.read_bytes())
    return hashed.hexdigest()


def canonical(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


@require_POST
@login_required
def submit_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_fill(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以提交。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.submit(evaluation, by=request.user),
        "{phase}已提交，等待审核。",
    )


@require_POST
@login_required
def return_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review(request.user, evaluation):
        raise PermissionDenied("只有本区的审核人可以退回。")
    to = request.POST.get("to", ReviewLevel.UNIT)
    return take_step(
        request,
        evaluation,
        lambda: workflow.return_for_revision(
            evaluation,
            by=request.user,
            reason=request.POST.get("reason", ""),
            comments=row_comments(request),
            expected_version=parse_version(request.POST.get("version")),
            to=to,
        ),
        "{phase}已退回主管部门重新初审。"
        if to == ReviewLevel.PARENT
        else "{phase}已退回填报单位修改。",
    )


def row_comments(request: HttpRequest) -> dict[str, str]:
    return {
        key.removeprefix(COMMENT_PREFIX): value
        for key, value in request.POST.items()
        if key.startswith(COMMENT_PREFIX)
    }


@require_POST
@login_required
def approve_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review(request.user, evaluation):
        raise PermissionDenied("只有本区的审核人可以审核。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.approve(
            evaluation,
            by=request.user,
            opinion=request.POST.get("opinion", ""),
            expected_version=parse_version(request.POST.get("version")),
        ),
        "{phase}已审核通过。",
    )


@require_POST
@login_required
def first_approve_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """主管部门初审 passes the phase on to the district."""
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review_first(request.user, evaluation):
        raise PermissionDenied("只有该单位主管部门的主管部门审核人可以初审。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.approve_first(
            evaluation,
            by=request.user,
            opinion=request.POST.get("opinion", ""),
            expected_version=parse_version(request.POST.get("version")),
        ),
        "{phase}已通过主管部门初审，送区财政审核。",
    )


@require_POST
@login_required
def first_return_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """主管部门初审 returns the phase to the unit."""
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review_first(request.user, evaluation):
        raise PermissionDenied("只有该单位主管部门的主管部门审核人可以初审。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.return_first(
            evaluation,
            by=request.user,
            reason=request.POST.get("reason", ""),
            comments=row_comments(request),
            expected_version=parse_version(request.POST.get("version")),
        ),
        "{phase}已退回填报单位修改。",
    )


@require_GET
@login_required
def todo_list(request: HttpRequest) -> HttpResponse:
    """待办 / 已办 of the signed-in user, whatever their role."""
    user = request.user
    filters = todo.read_filters(request.GET)
    pending = list(
        windows.with_deadlines(
            todo.with_last_step(todo.filtered(todo.pending(user), filters))
        ).order_by("-year", "unit__code", "kind", "project__code")
    )
    todo.attach_return_notes(pending)
    handled = list(
        todo.with_last_step(todo.filtered(todo.handled(user), filters)).order_by(
            "-my_last_at", "pk"
        )[:200]
    )
    context = {
        "pending": pending,
        "handled": handled,
        "filters": filters,
        "choices": todo.FILTERS,
        "parents": todo.parent_choices(user),
        # 催办 and scheduled reminders to the user's units (none for other roles).
        "reminders": reminders.recent_for(user),
    }
    return render(request, "evaluations/todo.html", context)


@require_POST
@login_required
def reopen_evaluation(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_reopen(request.user, evaluation):
        raise PermissionDenied("只有管理员可以重新打开。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.reopen(
            evaluation,
            by=request.user,
            reason=request.POST.get("reason", ""),
            expected_version=parse_version(request.POST.get("version")),
        ),
        "已重新打开{phase}，填报单位可以修改。",
    )


@require_POST
@login_required
def recheck_indicator(request: HttpRequest, evaluation_id: int, indicator_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review(request.user, evaluation):
        raise PermissionDenied("只有本区的审核人可以再复核。")
    return take_step(
        request,
        evaluation,
        lambda: workflow.recheck(
            evaluation,
            indicator_id,
            by=request.user,
            review_score=request.POST.get("review_score"),
            review_opinion=request.POST.get("review_opinion", ""),
            expected_version=parse_version(request.POST.get("version")),
        ),
        "复核得分和意见已保存。",
        anchor=anchor_of(Indicator.anchor_prefix, indicator_id),
    )


@require_POST
@login_required
def recheck_indicators(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """再复核 of every row from one form (fields `review_score-<id>`, `review_opinion-<id>`)."""
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_review(request.user, evaluation):
        raise PermissionDenied("只有本区的审核人可以再复核。")
    typed = {}
    for name in request.POST:
        prefix, _, key = name.partition("-")
        if prefix == "review_score" and _whole_number(key):
            typed[_whole_number(key)] = (
                request.POST.get(name, ""),
                request.POST.get(f"review_opinion-{key}", ""),
            )
    try:
        events = workflow.recheck_rows(
            evaluation,
            typed,
            by=request.user,
            expected_version=parse_version(request.POST.get("version")),
        )
    except EvaluationError as error:
        show_error(request, error)
    else:
        messages.success(request, f"已保存 {len(events)} 行的复核得分和意见。")
    return redirect(reverse("evaluation_table", args=[evaluation.pk]) + "#recheck")


def take_step(
    request: HttpRequest,
    evaluation: Evaluation,
    step: Callable[[], ReviewEvent],
    done: str,
    anchor: str = "",
) -> HttpResponse:
    """Takes one workflow step for a POST view and shows the table page again: the
    step's refusal as an error, or `done` (its {phase}: the phase the step acted on)."""
    try:
        event = step()
    except EvaluationError as error:
        show_error(request, error)
    else:
        messages.success(request, done.format(phase=event.get_phase_display()))
    url = reverse("evaluation_table", args=[evaluation.pk])
    return redirect(f"{url}#{anchor}" if anchor else url)


def parse_version(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise workflow.WorkflowError("页面已过期，请刷新后重试。") from None


def show_error(request: HttpRequest, error: EvaluationError) -> None:
    messages.error(request, error.message)
    for fault in getattr(error, "faults", []):
        messages.error(request, fault.message)


@require_GET
@login_required
def evaluation_pdf(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    # Imported here: loading WeasyPrint costs every process that loads the URLs ~0.3 s.
    from .pdf import MissingGlyphs, pdf_filename

    evaluation = get_evaluation_for_user(
        request.user, evaluation_id, Evaluation.objects.with_table()
    )
    # Rendered once per version of the form, then served from the bulk export's store.
    try:
        name, _, _ = store_evaluation_pdf(evaluation, timeout=settings.PDF_REQUEST_TIMEOUT)
        content = export_storage().open(name, "rb")
    except MissingGlyphs as error:
        messages.error(request, str(error))
        return redirect("evaluation_table", evaluation.pk)
    except RenderTimeout as error:
        messages.error(request, f"{error}请稍后再试，或请管理员用“批量导出 PDF”在后台生成。")
        return redirect("evaluation_table", evaluation.pk)
    except FileNotFoundError:  # removed from the store between the two calls
        messages.error(request, "PDF 文件刚被清理，请重新下载。")
        return redirect("evaluation_table", evaluation.pk)
    response = private_download(content, pdf_filename(evaluation), "application/pdf")
    # A download leaves the page where it is and tells it nothing: the page's note
    # "正在生成 PDF" waits for this cookie to carry the mark its link sent.
    mark = request.GET.get("ready", "")
    if PDF_READY_MARK.fullmatch(mark):
        response.set_cookie(
            "pdf-ready", mark, max_age=60, samesite="Lax", secure=request.is_secure()
        )
    return response


@require_GET
@login_required
def evaluation_workbook(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(
        request.user, evaluation_id, Evaluation.objects.with_table()
    )
    response = HttpResponse(render_xlsx(evaluation), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True,
        filename=f"{evaluation.subject}_{evaluation.year}年度_绩效自评表.xlsx",
    )
    return response


@require_http_methods(["GET", "POST"])
@login_required
def workbook_import(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(
        request.user, evaluation_id, Evaluation.objects.with_table()
    )
    if not can_fill(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以导入工作簿。")
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
        result = read_workbook(upload.read(), evaluation.layout)
        context["errors"] = result.errors or check_identity(evaluation, result.data)
        if not context["errors"]:
            stored = store_upload(evaluation, request.user, upload.name, result.data)
            return redirect("workbook_import_preview", evaluation.pk, stored.pk)
    return render(request, "evaluations/workbook_import.html", context, status=400)


@require_http_methods(["GET", "POST"])
@login_required
def workbook_import_preview(request: HttpRequest, evaluation_id: int, upload_id: int):
    evaluation = get_evaluation_for_user(
        request.user, evaluation_id, Evaluation.objects.with_table()
    )
    if not can_fill(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以导入工作簿。")
    upload = get_object_or_404(pending_uploads(request.user), pk=upload_id, evaluation=evaluation)
    if request.method == "POST":
        try:
            apply_upload(upload, by=request.user)
        except ImportRefused as refusal:
            messages.error(request, str(refusal))
            return redirect("workbook_import", evaluation.pk)
        messages.success(request, f"已导入工作簿“{upload.file_name}”。")
        return redirect("evaluation_table", evaluation.pk)
    changes = preview(evaluation, upload.data)
    findings = printed_findings(evaluation, upload.data)
    locked = check_locked(evaluation, upload.data)
    return render(
        request,
        "evaluations/workbook_preview.html",
        {
            "evaluation": evaluation,
            "upload": upload,
            "changes": changes,
            "findings": findings,
            "locked": locked,
            "refusal": import_refusal(evaluation, locked) if locked else "",
        },
        status=409 if locked else 200,
    )


# ---------------------------------------------------------------------------
# The year at a glance, and the bulk export of its PDFs


def overview_filters(request: HttpRequest, parents: list[Unit]) -> dict:
    """The overview's filters from the query string; unknown values are ignored."""
    years = year_choices()
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = years[0]
    kind = request.GET.get("kind", "")
    stage = request.GET.get("stage", "")
    grade = request.GET.get("grade", "")
    parent_id = request.GET.get("parent", "")
    return {
        "years": years,
        "year": year,
        "kind": kind if kind in OVERVIEW_PAGES else Evaluation.Kind.OVERALL,
        "stage": stage if stage in STAGE_LABELS else "",
        "grade": grade if grade in GRADES else "",
        "parent": next((unit for unit in parents if str(unit.pk) == parent_id), None),
        "sort": request.GET.get("sort", ""),
    }


@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """The year at a glance, of the overall forms (a row per unit) or of the project
    forms (a row per form): `OVERVIEW_PAGES` says what each shows."""
    if not can_see_overview(request.user):
        raise PermissionDenied
    parents = list(parent_choices(request.user))
    filters = overview_filters(request, parents)
    page = OVERVIEW_PAGES[filters["kind"]]
    rows, counts = page.rows_and_counts(request.user, filters)
    shown = rows
    pages = None
    if page.page_size:
        pages = Paginator(rows, page.page_size).get_page(request.GET.get("page"))
        shown = pages.object_list
    current = filters["sort"] or page.default_sort
    columns = [
        {
            "key": key,
            "label": label,
            "active": current.removeprefix("-") == key,
            "descending": current == f"-{key}",
            "next": f"-{key}" if current == key else key,
        }
        for key, label in page.sorts.items()
    ]
    return render(
        request,
        "evaluations/overview.html",
        {
            "page": page,
            "kinds": [(kind, each.label) for kind, each in OVERVIEW_PAGES.items()],
            "rows": shown,
            "pages": pages,
            "row_count": len(rows),
            "counts": counts,
            "total": sum(count for _, _, count in counts),
            "charts": charts(rows),
            "filters": filters,
            "parents": parents,
            "stages": STAGES,
            "grades": GRADES,
            "columns": {column["key"]: column for column in columns},
            "can_export": can_export(request.user),
        },
    )


@require_GET
@login_required
def overview_workbook(request: HttpRequest) -> HttpResponse:
    if not can_see_overview(request.user):
        raise PermissionDenied
    filters = overview_filters(request, list(parent_choices(request.user)))
    page = OVERVIEW_PAGES[filters["kind"]]
    response = HttpResponse(page.workbook(request.user, filters), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=page.file_name.format(year=filters["year"])
    )
    return response


@require_http_methods(["GET", "POST"])
@login_required
def exports(request: HttpRequest) -> HttpResponse:
    if not can_export(request.user):
        raise PermissionDenied
    parents = list(parent_choices(request.user))
    form = ExportForm(request.POST or None, years=year_choices(), parents=parents)
    if request.method == "POST" and form.is_valid():
        try:
            job = start_export(
                year=form.cleaned_data["year"],
                user=request.user,
                stage=form.cleaned_data["stage"],
                parent=form.cleaned_data["parent"],
            )
        except ExportRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect("export_job", job.pk)
    jobs = ExportJob.objects.select_related("parent").annotate(
        item_count=Count("items"),
        done_count=Count("items", filter=Q(items__status=ExportItem.Status.DONE)),
    )[:20]
    status = 400 if form.errors else 200
    return render(request, "evaluations/exports.html", {"form": form, "jobs": jobs}, status=status)


@require_GET
@login_required
def export_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_export_job_for_user(request.user, job_id)
    failed_items = job.items.filter(status=ExportItem.Status.FAILED).select_related(
        "evaluation__unit"
    )
    return render(
        request,
        "evaluations/export_job.html",
        {
            "job": job,
            "progress": job_progress(job),
            "failed_items": failed_items,
            "stage_label": STAGE_LABELS.get(job.stage, ""),
            "stale_seconds": int(stale_after().total_seconds()),
        },
    )


@require_GET
@login_required
def export_progress(request: HttpRequest, job_id: int) -> JsonResponse:
    job = get_export_job_for_user(request.user, job_id)
    job.refresh_from_db(fields=["status", "error"])
    progress = job_progress(job)
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "total": progress.total,
            "done": progress.done,
            "failed": progress.failed,
            "running": progress.running,
            "percent": progress.percent,
            "stuck": progress.stuck,
            "error": job.error,
            "finished": job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED),
        }
    )


@require_POST
@login_required
def export_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    """重试: queues again what failed, and what looks stuck. Recovering stuck work is
    done here and in the workers, never by the progress page: watching a job changes
    nothing. The sweep covers every job; it is safe anywhere."""
    job = get_export_job_for_user(request.user, job_id)
    stuck = job_progress(job).stuck
    sweep_stale_work()
    job.refresh_from_db()
    if job.status != ExportJob.Status.FAILED and stuck:
        messages.success(request, f"已将 {stuck} 项中断的工作重新排队。")
        return redirect("export_job", job.pk)
    try:
        count = retry_failed(job)
    except ExportRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(
            request, f"已将 {count} 份失败的自评表重新排队。" if count else "已将打包重新排队。"
        )
    return redirect("export_job", job.pk)


@require_GET
@login_required
def export_download(request: HttpRequest, job_id: int) -> FileResponse:
    job = get_export_job_for_user(request.user, job_id)
    archive = open_archive(job)
    if archive is None:
        raise Http404("该导出没有可下载的压缩包。")
    return private_download(archive, archive_download_name(job), "application/zip")


def private_download(content, filename: str, content_type: str) -> FileResponse:
    """A file of the export storage, streamed in chunks (FileResponse closes it), to be
    saved under `filename`: never taken for another type, never kept by a cache."""
    response = FileResponse(
        content, as_attachment=True, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
