"""佐证材料: files attached to an indicator row or to a whole form, and the sealed
(盖章) PDF of the approved form.

Staff of the unit attach and remove evidence while the form is theirs to change (a
draft or returned); a file attached in a phase stays once that phase is submitted
or approved, and nothing changes after the final approval except the sealed PDF,
which only then can be uploaded. A removal keeps the row and the file, with who
removed it and when. Every file is judged by its content (not its name), counted
while it streams in and refused at the first limit crossed; nothing refused is
stored. Downloads pass `get_evaluation_for_user` like every page of the form.

Which rows need evidence is the year's 指标库's: the rows it marks, and by its
`EvidenceRules` the rows whose 得分 is below their 分值 and the 满意度 rows. The
results phase is not submitted while such a row has none (`missing_evidence`).
"""

import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParser
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from indicators.models import EvidenceRules, Indicator

from .access import can_fill, get_evaluation_for_user
from .consistency import Fault
from .models import Attachment, AttachmentCategory, Evaluation, EvaluationError, anchor_of
from .text import TextError, check_text

MAX_FILE_BYTES = 20 * 1024 * 1024
# Files a form may hold at once (removed ones do not count): rows and form together.
MAX_FILES_PER_FORM = 50
TITLE_MAX_LENGTH = 100
FILE_NAME_MAX_LENGTH = 200
READ_CHUNK = 64 * 1024
SEALED_TITLE = "盖章版自评表"
# The categories a unit picks from; 盖章版 comes only with the sealed upload.
EVIDENCE_CATEGORIES = [
    (value, label) for value, label in AttachmentCategory.choices if value != "sealed"
]
# 满意度 rows: the 一级 or 二级 of the row is about satisfaction.
SATISFACTION_WORD = "满意度"


class EvidenceRefused(EvaluationError):
    """An upload or removal refused; nothing was stored or changed."""


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


# ---------------------------------------------------------------------------
# What a file is, by its content


@dataclass(frozen=True)
class FileType:
    label: str
    content_type: str
    extensions: tuple[str, ...]


PDF = FileType("PDF", "application/pdf", (".pdf",))
PNG = FileType("PNG 图片", "image/png", (".png",))
JPEG = FileType("JPEG 图片", "image/jpeg", (".jpg", ".jpeg"))
DOCX = FileType(
    "Word 文档",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    (".docx",),
)
XLSX = FileType(
    "Excel 工作簿",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    (".xlsx",),
)
PPTX = FileType(
    "PowerPoint 演示文稿",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    (".pptx",),
)
# Word, Excel and WPS files of the 97–2003 format share one container format.
OLE = FileType(
    "Office 97-2003 / WPS 文档", "application/octet-stream", (".doc", ".xls", ".wps", ".et")
)
ALLOWED_TYPES = (PDF, PNG, JPEG, DOCX, XLSX, PPTX, OLE)
ALLOWED_DESCRIPTION = (
    "PDF、JPG、PNG、Word（.docx/.doc）、Excel（.xlsx/.xls）、PowerPoint（.pptx）、WPS"
)
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX, "ppt/presentation.xml": PPTX}


def sniff(file) -> FileType | None:
    """The allowed type `file`'s bytes are, or None. Office files are zips: those
    with macros (vbaProject.bin) are not allowed."""
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(OLE_SIGNATURE):
        return OLE
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(file) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        finally:
            file.seek(0)
        if "[Content_Types].xml" not in names or any(
            name.lower().endswith("vbaproject.bin") for name in names
        ):
            return None
        return next((kind for part, kind in OOXML_PARTS.items() if part in names), None)
    return None


def file_type_refusal(file, name: str) -> tuple[FileType | None, str]:
    kind = sniff(file)
    if kind is None:
        return None, (
            f"“{name}”的内容不是允许的文件类型（按文件内容判断，与后缀无关），未保存。"
            f"允许：{ALLOWED_DESCRIPTION}。"
        )
    extension = os.path.splitext(name)[1].lower()
    if extension not in kind.extensions:
        return None, (
            f"“{name}”的内容是{kind.label}，与文件名后缀“{extension or '（无）'}”不符，未保存。"
            f"请改用后缀 {' / '.join(kind.extensions)}。"
        )
    return kind, ""


def file_name_refusal(name: str) -> str:
    """Why `name` (as the browser sent it) cannot be a file's name, or "". Chinese
    names are kept as they are."""
    if not name.strip() or name.strip() in {".", ".."}:
        return "文件名为空，未保存。"
    if "/" in name or "\\" in name:
        return f"文件名“{printable(name)}”含有路径（/ 或 \\），未保存。请只用文件本身的名字。"
    if len(name) > FILE_NAME_MAX_LENGTH:
        return f"文件名最多 {FILE_NAME_MAX_LENGTH} 个字（现有 {len(name)} 个），未保存。"
    try:
        check_text(name, "文件名", max_length=FILE_NAME_MAX_LENGTH)
    except TextError as error:
        return f"{error}（“{printable(name)}”）未保存。"
    return ""


def printable(text: str) -> str:
    return "".join(
        character if unicodedata.category(character)[0] != "C" else f"U+{ord(character):04X}"
        for character in text
    )


# ---------------------------------------------------------------------------
# Receiving an upload: counted while it streams, names judged as sent


class EvidenceUploadHandler(TemporaryFileUploadHandler):
    """Spools each file to a temporary file and drops it at the first byte over
    MAX_FILE_BYTES: a file too large is never read whole nor kept."""

    def __init__(self, request=None):
        super().__init__(request)
        self.too_large: list[str] = []
        self.bad_names: list[str] = []

    def new_file(self, field_name, file_name, content_type, content_length, *args, **kwargs):
        self.received = 0
        super().new_file(field_name, file_name, content_type, content_length, *args, **kwargs)
        if content_length is not None and content_length > MAX_FILE_BYTES:
            self.refuse_too_large()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > MAX_FILE_BYTES:
            self.refuse_too_large()
        return super().receive_data_chunk(raw_data, start)

    def refuse_too_large(self):
        self.too_large.append(self.file_name)
        self.file.close()  # a temporary file: closing deletes it
        raise SkipFile()


class EvidenceParser(MultiPartParser):
    """Django drops path parts and control characters from a file's name silently;
    here such a name refuses the file instead (the handler records it)."""

    def sanitize_file_name(self, file_name):
        refusal = file_name_refusal(file_name)
        if refusal:
            for handler in self._upload_handlers:
                if isinstance(handler, EvidenceUploadHandler):
                    handler.bad_names.append(refusal)
            return None
        return super().sanitize_file_name(file_name)


def receive_files(request: HttpRequest) -> EvidenceUploadHandler:
    """Sets up `request` to read its files through the handler above; must run before
    anything reads request.POST (hence the views' own CSRF check)."""
    handler = EvidenceUploadHandler(request)
    request.upload_handlers = [handler]
    request.multipart_parser_class = EvidenceParser
    return handler


# ---------------------------------------------------------------------------
# The guards and the verbs


def attach_refusal(user, evaluation: Evaluation, *, sealed: bool = False) -> str:
    if not can_fill(user, evaluation):
        return "只有本单位的填报人可以上传佐证材料。"
    if sealed:
        if not evaluation.is_final:
            return "盖章版只能在年末自评审核通过后上传。"
        return ""
    if evaluation.is_final:
        return "该自评表已审核定稿，佐证材料不能再增加或删除；如需修改，请管理员重新打开。"
    if evaluation.status not in Evaluation.EDITABLE_STATUSES:
        return f"该自评表处于“{evaluation.state_display}”，佐证材料暂不能增加或删除。"
    return ""


def remove_refusal(user, evaluation: Evaluation, attachment: Attachment) -> str:
    if refusal := attach_refusal(user, evaluation, sealed=attachment.is_sealed):
        return refusal.replace("上传", "删除")
    if attachment.is_sealed:
        return ""
    if attachment.phase != evaluation.phase:
        return (
            f"“{attachment.title}”是{attachment.get_phase_display()}阶段上传的，"
            "该阶段已审核，不能删除。"
        )
    return ""


@dataclass
class Attached:
    attachment: Attachment
    # Said to the uploader: the same file is attached elsewhere on the form.
    notice: str = ""


def attach(
    evaluation: Evaluation,
    upload: UploadedFile | None,
    *,
    by,
    title: str = "",
    category: str = "",
    indicator_id: int | None = None,
    sealed: bool = False,
) -> Attached:
    """Stores `upload` as evidence of the form (of its row `indicator_id`), or as its
    sealed PDF. Raises EvidenceRefused (nothing stored) for anything not allowed."""
    _refuse(attach_refusal(by, evaluation, sealed=sealed))
    if upload is None:
        raise EvidenceRefused("请选择要上传的文件。")
    name = upload.name
    if upload.size == 0:
        raise EvidenceRefused(f"“{name}”是空文件（0 字节），未保存。")
    if upload.size > MAX_FILE_BYTES:
        raise EvidenceRefused(too_large_message(name))
    title = (title or "").strip() or (
        SEALED_TITLE if sealed else os.path.splitext(name)[0][:TITLE_MAX_LENGTH]
    )
    try:
        check_text(title, "标题", max_length=TITLE_MAX_LENGTH)
    except TextError as error:
        raise EvidenceRefused(str(error)) from None
    if sealed:
        category = AttachmentCategory.SEALED
    elif category not in dict(EVIDENCE_CATEGORIES):
        raise EvidenceRefused("请选择佐证材料的类别。")
    kind, refusal = file_type_refusal(upload, name)
    _refuse(refusal)
    if sealed and kind is not PDF:
        raise EvidenceRefused(f"盖章版须为 PDF 文件，“{name}”是{kind.label}。")
    digest = sha256_of(upload)

    with transaction.atomic():
        locked = Evaluation.objects.select_for_update(of=("self",)).get(pk=evaluation.pk)
        # Asked again under the lock: the form may have been submitted meanwhile.
        _refuse(attach_refusal(by, locked, sealed=sealed))
        indicator = None
        if indicator_id is not None and not sealed:
            indicator = (
                Indicator.objects.select_related("category")
                .filter(category__group__evaluation=locked, pk=indicator_id)
                .first()
            )
            if indicator is None:
                raise EvidenceRefused("该指标行不存在（可能已被删除），未保存。")
        current = locked.attachments.filter(removed_at__isnull=True)
        if not sealed and current.exclude(category=AttachmentCategory.SEALED).count() >= (
            MAX_FILES_PER_FORM
        ):
            raise EvidenceRefused(
                f"每张自评表最多 {MAX_FILES_PER_FORM} 个佐证材料，已达上限，未保存。"
                "请先删除不需要的材料。"
            )
        same = [other for other in current.filter(sha256=digest) if other.is_sealed == sealed]
        notice = ""
        for other in same:
            if sealed or other.indicator_id == (indicator.pk if indicator else None):
                raise EvidenceRefused(
                    f"“{name}”与已上传的“{other.title}”（{other.file_name}，"
                    f"{timezone.localtime(other.uploaded_at):%Y-%m-%d %H:%M}）内容相同，未重复保存。"
                )
            notice = f"注意：该文件与“{other.row_label or '整表材料'}”中的“{other.title}”内容相同。"
        attachment = Attachment(
            evaluation=locked,
            indicator=indicator,
            row_label=indicator.label if indicator else "",
            category=category,
            title=title,
            file_name=name,
            content_type=kind.content_type,
            size=upload.size,
            sha256=digest,
            phase=locked.phase,
            uploaded_by=by,
        )
        if sealed:
            # One sealed PDF at a time: the earlier one is kept, marked as replaced.
            current.filter(category=AttachmentCategory.SEALED).update(
                removed_at=timezone.now(), removed_by=by
            )
        upload.seek(0)
        attachment.file.save(name, upload, save=False)
        stored = attachment.file.name
        # Should the row not be written, the stored file goes too.
        try:
            attachment.save()
            touch(locked)
        except Exception:
            attachment.file.storage.delete(stored)
            raise
    return Attached(attachment, notice)


def remove(evaluation: Evaluation, attachment_id: int, *, by) -> Attachment:
    """Marks the attachment removed (by whom, when); the file and the row stay.

    The file is kept on purpose, not forgotten: a removal is part of the form's record
    (the page lists it under 已删除或被替换的材料), a PDF or bulk export drawn before it
    lists the file in its 附件清单 or holds it, and a sealed PDF replaced by a new one
    is the seal of an earlier approval. Deleting the bytes would leave that record
    pointing at nothing, and a removal made in error could not be undone from the
    storage. What stays is bounded: 20 MB a file, removed only while the form is
    the unit's to change."""
    with transaction.atomic():
        locked = Evaluation.objects.select_for_update(of=("self",)).get(pk=evaluation.pk)
        attachment = locked.attachments.filter(pk=attachment_id, removed_at__isnull=True).first()
        if attachment is None:
            raise EvidenceRefused("该佐证材料不存在或已删除。")
        _refuse(remove_refusal(by, locked, attachment))
        attachment.removed_at = timezone.now()
        attachment.removed_by = by
        attachment.save(update_fields=["removed_at", "removed_by"])
        touch(locked)
    return attachment


def touch(evaluation: Evaluation) -> None:
    """The form's `updated_at` moves with its evidence: the cached table page and the
    overview's 最后修改 follow it. The version stays, so an open entry page stays valid."""
    Evaluation.objects.filter(pk=evaluation.pk).update(updated_at=timezone.now())


def _refuse(refusal: str) -> None:
    if refusal:
        raise EvidenceRefused(refusal)


def too_large_message(name: str) -> str:
    return f"“{name}”超过单个文件 {megabytes(MAX_FILE_BYTES)} 的上限，未保存。"


def sha256_of(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks(READ_CHUNK):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Which rows need evidence


def rules_of(evaluation: Evaluation) -> EvidenceRules | None:
    return EvidenceRules.objects.filter(form_kind=evaluation.kind, year=evaluation.year).first()


def required_reason(row, group_name: str, rules: EvidenceRules | None) -> str:
    """Why the table's `row` needs evidence, or ""."""
    category_name = row.indicator.category.name
    if row.indicator.evidence_required:
        return "指标库要求该行附佐证材料"
    if rules and rules.below_points and row.score is not None and row.score < row.points:
        return "得分低于分值"
    if (
        rules
        and rules.satisfaction
        and (SATISFACTION_WORD in group_name or SATISFACTION_WORD in category_name)
    ):
        return "满意度指标"
    return ""


def evidence_anchor(row_anchor: str) -> str:
    return f"evidence-{row_anchor}"


def missing_evidence(evaluation: Evaluation, table) -> list[Fault]:
    """The rows of `table` (the form's tree) that need evidence and have none, in
    the table's order, each pointing at its row's evidence. Results phase only: the
    targets need none."""
    if evaluation.phase != Evaluation.Phase.RESULTS:
        return []
    rules = rules_of(evaluation)
    attached = set(
        evaluation.attachments.filter(removed_at__isnull=True, indicator__isnull=False).values_list(
            "indicator_id", flat=True
        )
    )
    faults = []
    for group in table.groups:
        for row in group.rows:
            reason = required_reason(row, group.name, rules)
            if reason and row.indicator_id not in attached:
                faults.append(
                    Fault(
                        evidence_anchor(row.anchor),
                        f"“{row.label}”（{reason}）须上传佐证材料，尚未上传。",
                    )
                )
    return faults


# ---------------------------------------------------------------------------
# What the pages and the PDF show


@dataclass
class EvidenceRow:
    anchor: str
    label: str
    indicator_id: int
    reason: str = ""
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def evidence_anchor(self) -> str:
        return evidence_anchor(self.anchor)

    @property
    def missing(self) -> bool:
        return bool(self.reason) and not self.attachments


@dataclass
class Evidence:
    rows: list[EvidenceRow]
    form: list[Attachment]
    sealed: Attachment | None
    removed: list[Attachment]

    @property
    def listed(self) -> list[Attachment]:
        """Every current attachment, rows first in the table's order: the 附件清单."""
        return [a for row in self.rows for a in row.attachments] + self.form

    @property
    def missing(self) -> list[EvidenceRow]:
        return [row for row in self.rows if row.missing]


def evidence_of(evaluation: Evaluation, table) -> Evidence:
    """The form's attachments by row (in `table`'s order), the form's own, the sealed
    PDF and the log of removals: two queries."""
    attachments = list(
        evaluation.attachments.select_related("uploaded_by", "removed_by").order_by(
            "uploaded_at", "pk"
        )
    )
    rules = rules_of(evaluation) if evaluation.phase == Evaluation.Phase.RESULTS else None
    rows, by_indicator = [], {}
    for group in table.groups:
        for row in group.rows:
            # Required in the results phase only, as on submission.
            reason = (
                required_reason(row, group.name, rules)
                if evaluation.phase == Evaluation.Phase.RESULTS
                else ""
            )
            entry = EvidenceRow(row.anchor, row.label, row.indicator_id, reason)
            rows.append(entry)
            by_indicator[row.indicator_id] = entry
    form, removed, sealed = [], [], None
    for attachment in attachments:
        if attachment.removed_at is not None:
            removed.append(attachment)
        elif attachment.is_sealed:
            sealed = attachment
        elif attachment.indicator_id in by_indicator:
            row = by_indicator[attachment.indicator_id]
            # Listed under the row's name as it is now (it may have been renamed).
            attachment.row_label = row.label
            row.attachments.append(attachment)
        else:
            form.append(attachment)
    return Evidence(rows, form, sealed, removed)


def buttons(user, evaluation: Evaluation) -> dict:
    """What the 佐证材料 section offers `user`: part of the table page's buttons."""
    return {
        "can_attach": not attach_refusal(user, evaluation),
        "can_seal": not attach_refusal(user, evaluation, sealed=True),
    }


def page_context(evaluation: Evaluation, table) -> dict:
    """What the table page's 佐证材料 section draws (`_evidence.html`), but the buttons."""
    return {
        "evidence": evidence_of(evaluation, table),
        "evidence_categories": EVIDENCE_CATEGORIES,
        "evidence_limits": {
            "size": megabytes(MAX_FILE_BYTES),
            "count": MAX_FILES_PER_FORM,
            "types": ALLOWED_DESCRIPTION,
        },
    }


def evidence_state(evaluation: Evaluation) -> list:
    """What of the evidence the PDF draws (its 附件清单), for the PDF's fingerprint."""
    return [
        [a.pk, a.indicator_id, a.title, a.file_name, a.size, a.uploaded_by_id, str(a.uploaded_at)]
        for a in evaluation.attachments.filter(removed_at__isnull=True).exclude(
            category=AttachmentCategory.SEALED
        )
    ]


# ---------------------------------------------------------------------------
# The views


@csrf_exempt  # checked by `receive_evidence` once the upload handler is in place
@require_POST
@login_required
def upload_evidence(request: HttpRequest, evaluation_id: int) -> HttpResponse:
    """上传佐证材料 to a row (`indicator`) or to the form; `sealed=1` for the 盖章版."""
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    if not can_fill(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以上传佐证材料。")
    handler = receive_files(request)
    return receive_evidence(request, evaluation, handler)


@csrf_protect
def receive_evidence(
    request: HttpRequest, evaluation: Evaluation, handler: EvidenceUploadHandler
) -> HttpResponse:
    sealed = request.POST.get("sealed") == "1"
    indicator_id = _whole_number(request.POST.get("indicator", ""))
    anchor = (
        evidence_anchor(anchor_of(Indicator.anchor_prefix, indicator_id))
        if indicator_id
        else ("sealed" if sealed else "evidence")
    )
    uploads = request.FILES.getlist("file")
    refusal = ""
    if handler.bad_names:
        refusal = handler.bad_names[0]
    elif handler.too_large:
        refusal = too_large_message(handler.too_large[0])
    elif len(uploads) > 1:
        refusal = "一次请上传一个文件。"
    if refusal:
        messages.error(request, refusal)
    else:
        try:
            attached = attach(
                evaluation,
                uploads[0] if uploads else None,
                by=request.user,
                title=request.POST.get("title", ""),
                category=request.POST.get("category", ""),
                indicator_id=indicator_id,
                sealed=sealed,
            )
        except EvidenceRefused as error:
            messages.error(request, error.message)
        else:
            done = "盖章版已上传" if sealed else "佐证材料已上传"
            messages.success(
                request, f"{done}：{attached.attachment.title}（{attached.attachment.file_name}）。"
            )
            if attached.notice:
                messages.warning(request, attached.notice)
    for upload in uploads:
        upload.close()
    return redirect(reverse("evaluation_table", args=[evaluation.pk]) + f"#{anchor}")


@require_POST
@login_required
def remove_evidence(request: HttpRequest, evaluation_id: int, attachment_id: int) -> HttpResponse:
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    attachment = get_object_or_404(evaluation.attachments, pk=attachment_id)
    if not can_fill(request.user, evaluation):
        raise PermissionDenied("只有本单位的填报人可以删除佐证材料。")
    try:
        removed = remove(evaluation, attachment.pk, by=request.user)
    except EvidenceRefused as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"已删除佐证材料“{removed.title}”（删除记录保留在页面下方）。")
    anchor = evidence_anchor(attachment.row_anchor) if attachment.indicator_id else "evidence"
    return redirect(reverse("evaluation_table", args=[evaluation.pk]) + f"#{anchor}")


@require_GET
@login_required
def download_evidence(request: HttpRequest, evaluation_id: int, attachment_id: int) -> FileResponse:
    """The file, to those who see the form: PDFs and pictures open in the browser,
    anything else is downloaded; its type is the one judged at upload."""
    evaluation = get_evaluation_for_user(request.user, evaluation_id)
    attachment = evaluation.attachments.filter(pk=attachment_id, removed_at__isnull=True).first()
    if attachment is None:
        raise Http404("没有这个佐证材料。")
    inline = attachment.opens_inline
    try:
        content = attachment.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("文件已不在存储中，请联系管理员。") from None
    response = FileResponse(
        content,
        as_attachment=not inline,
        filename=attachment.file_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _whole_number(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None
