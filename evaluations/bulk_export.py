"""Bulk export: every selected evaluation of a year as a PDF, and the year's overview,
in one zip: each unit's overall form at the top, its project forms in a folder of the
unit (and the project forms' overview beside the overall one). Runs in the background, one `django.tasks` task per evaluation.

The task backend (django-tasks-db) hands each task to one worker and nothing more: no
retry, no timeout, no notice when a worker dies. So the state that matters lives in
our own rows. An `ExportItem` is claimed by a conditional UPDATE (pending → running),
and every later write names the attempt it belongs to, so a worker presumed dead that
wakes up again cannot overwrite the work of the one that took over. A render runs
under a time limit; a worker stuck past it ends itself, and `sweep_stale_work`
(run by every task, by `manage.py sweep_exports` and by the page's 重试) puts its
item back in the queue; the progress page only reports what looks stuck, since a
GET must change nothing. The worker that finishes the last item writes the zip,
claiming the job the same way (running → assembling, attempts counted): a packing
whose worker died is queued again by the sweeper too.

PDFs are stored by the hash of what they draw (`fingerprint`): an evaluation that has
not changed since an earlier export (or download from the table page) reuses that file
instead of rendering again. PDFs and zips live in the storage "exports" (settings.STORAGES:
the folder EXPORT_ROOT, or an S3-compatible store), read and written through Django's
storage API only, so every worker machine and the web server share them.
"""

import contextlib
import dataclasses
import faulthandler
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.tasks import task
from django.template.loader import get_template
from django.utils import timezone

from .evidence import evidence_state
from .kinds import LAYOUTS
from .models import Attachment, Evaluation, ExportItem, ExportJob, Unit
from .table import build_table

# What draws the PDF: every kind's document (the project form's extends pdf.html),
# the style sheet, and the 附件清单 at the end.
PDF_TEMPLATES = (
    *(layout.pdf_template for layout in LAYOUTS.values()),
    "evaluations/pdf.css",
    "evaluations/_pdf_attachments.html",
)
UNSAFE_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
# Files are copied into the zip by this much at a time, never read whole.
COPY_CHUNK = 1024 * 1024


class ExportRefused(Exception):
    """An export that cannot start; the message is shown as it is."""


class RenderTimeout(Exception):
    pass


# ---------------------------------------------------------------------------
# Starting, retrying, progress


def start_export(*, year: int, user=None, stage: str = "", parent: Unit | None = None) -> ExportJob:
    """Creates the job and its items and queues one task per item once committed.
    `user` scopes the selection like the overview; None (the command line) takes all."""
    from .overview import overview_rows, project_forms

    sweep_stale_work()
    with transaction.atomic():
        rows = overview_rows(user, year, stage=stage, parent=parent)
        evaluation_ids = [pk for pk in rows.values_list("evaluation_pk", flat=True) if pk]
        projects = project_forms(user, year, stage=stage, parent=parent)
        evaluation_ids += list(
            projects.order_by("unit__code", "project__code").values_list("pk", flat=True)
        )
        if not evaluation_ids:
            raise ExportRefused(f"{year}年度没有符合条件的自评表可导出。")
        job = ExportJob.objects.create(
            year=year,
            stage=stage,
            parent=parent,
            requested_by=user if user is not None and user.is_authenticated else None,
        )
        ExportItem.objects.bulk_create(
            ExportItem(job=job, evaluation_id=evaluation_id) for evaluation_id in evaluation_ids
        )
        item_ids = list(job.items.values_list("pk", flat=True))
        transaction.on_commit(lambda: enqueue_items(item_ids))
    return job


def enqueue_items(item_ids: list[int]) -> None:
    for item_id in item_ids:
        render_export_item.enqueue(item_id)


def retry_failed(job: ExportJob) -> int:
    """Queues the job's failed items again (or, when none failed, its packing)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ExportJob.Status.FAILED:
            raise ExportRefused("只有“有失败项”的导出可以重试。")
        item_ids = list(
            job.items.filter(status=ExportItem.Status.FAILED).values_list("pk", flat=True)
        )
        job.items.filter(pk__in=item_ids).update(
            status=ExportItem.Status.PENDING, error="", started_at=None, finished_at=None
        )
        job.status = ExportJob.Status.RUNNING
        job.error = ""
        job.finished_at = None
        # A packing that failed for good gets its attempts afresh, as failed items do.
        job.assembling_attempts = 0
        # Queued now: the sweeper's clock for a packing nobody begins starts here.
        job.assembling_started_at = timezone.now()
        job.save(
            update_fields=[
                "status",
                "error",
                "finished_at",
                "assembling_attempts",
                "assembling_started_at",
            ]
        )
        if item_ids:
            transaction.on_commit(lambda: enqueue_items(item_ids))
        else:
            transaction.on_commit(lambda: finish_export_job.enqueue(job.pk))
    return len(item_ids)


@dataclasses.dataclass
class Progress:
    total: int
    done: int
    failed: int
    running: int
    # Running items, and the packing, past the time after which the sweeper would
    # queue them again: their worker has probably died.
    stuck: int

    @property
    def percent(self) -> int:
        return (self.done + self.failed) * 100 // self.total if self.total else 100


def job_progress(job: ExportJob) -> Progress:
    """Counts only: reading the progress changes nothing (see `sweep_stale_work`)."""
    limit = timezone.now() - stale_after()
    counts = job.items.aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=ExportItem.Status.DONE)),
        failed=Count("pk", filter=Q(status=ExportItem.Status.FAILED)),
        running=Count("pk", filter=Q(status=ExportItem.Status.RUNNING)),
        stuck=Count("pk", filter=Q(status=ExportItem.Status.RUNNING, started_at__lt=limit)),
    )
    counts["stuck"] += (lost_packing(limit) | unbegun_packing(limit)).filter(pk=job.pk).exists()
    return Progress(**counts)


# ---------------------------------------------------------------------------
# The tasks


@task()
def render_export_item(item_id: int) -> None:
    render_item(item_id)


@task()
def finish_export_job(job_id: int) -> None:
    sweep_stale_work()
    finish_job_if_complete(job_id)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def render_item(item_id: int) -> None:
    """Renders (or reuses) one item's PDF. Never raises for a bad evaluation: the
    failure is recorded on the item, where the page shows it."""
    sweep_stale_work()
    claimed = ExportItem.objects.filter(pk=item_id, status=ExportItem.Status.PENDING).update(
        status=ExportItem.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        finished_at=None,
        worker=worker_name(),
        error="",
    )
    if not claimed:
        return  # done, failed, or taken by another worker: a duplicate task
    item = ExportItem.objects.get(pk=item_id)
    # Later writes apply only while the item is still this attempt's.
    mine = ExportItem.objects.filter(
        pk=item.pk, status=ExportItem.Status.RUNNING, attempts=item.attempts
    )
    try:
        file_path, fingerprint, reused = store_pdf(item.evaluation_id)
    except Exception as error:  # a damaged evaluation must not stop the others
        mine.update(
            status=ExportItem.Status.FAILED,
            error=describe_error(error),
            finished_at=timezone.now(),
        )
    else:
        mine.update(
            status=ExportItem.Status.DONE,
            file_path=file_path,
            fingerprint=fingerprint,
            reused=reused,
            finished_at=timezone.now(),
        )
    finish_job_if_complete(item.job_id)


def describe_error(error: Exception) -> str:
    # Imported here: WeasyPrint is loaded by the processes that render only.
    from .pdf import MissingGlyphs

    if isinstance(error, RenderTimeout | MissingGlyphs):
        return str(error)
    if isinstance(error, Evaluation.DoesNotExist):
        return "自评表已被删除。"
    return f"生成 PDF 出错：{type(error).__name__}: {error}"[:2000]


def export_storage() -> Storage:
    """Where PDFs and zips are kept: STORAGES["exports"]."""
    return storages["exports"]


def store_pdf(evaluation_id: int) -> tuple[str, str, bool]:
    """The evaluation's PDF in the export storage, rendered unless an identical one is
    there: (its name in the storage, fingerprint, reused)."""
    evaluation = Evaluation.objects.with_table().get(pk=evaluation_id)
    return store_evaluation_pdf(evaluation, timeout=settings.EXPORT_RENDER_TIMEOUT)


def store_evaluation_pdf(evaluation: Evaluation, *, timeout: float) -> tuple[str, str, bool]:
    """`store_pdf` for an evaluation from `with_table()`; the render is interrupted
    after `timeout` seconds (RenderTimeout). The table page's download and the bulk
    export share these files: one render per version of the form."""
    fingerprint = table_fingerprint(evaluation)
    name = pdf_name(fingerprint)
    storage = export_storage()
    if storage.exists(name):
        return name, fingerprint, True
    # WeasyPrint costs about 0.5 s to import: loaded when a PDF is drawn only.
    from .pdf import render_pdf

    with time_limit(timeout, settings.EXPORT_KILL_GRACE):
        content = render_pdf(evaluation)
    # Whole or not at all: the folder storage moves a finished file into place, an
    # upload to S3 appears complete. Two workers drawing the same version write the
    # same bytes; a storage that will not overwrite gives the second another name.
    name = storage.save(name, ContentFile(content))
    return name, fingerprint, False


def pdf_name(fingerprint: str) -> str:
    """The name of the PDF of a fingerprint in the export storage."""
    return f"pdf/{fingerprint[:2]}/{fingerprint}.pdf"


def table_fingerprint(evaluation: Evaluation) -> str:
    """A hash of everything the PDF draws (the table built from the evaluation and its
    rows), of the PDF's templates and of its fonts."""
    # The 附件清单 at the end of the PDF lists the form's attachments.
    attachments = json.dumps(evidence_state(evaluation), ensure_ascii=False)
    return build_table(evaluation).fingerprint(drawing_version(), attachments)


@cache
def drawing_version() -> str:
    digest = hashlib.sha256()
    for name in PDF_TEMPLATES:
        digest.update(template_path(name).read_bytes())
    digest.update(Path(__file__).with_name("pdf.py").read_bytes())
    digest.update(Path(__file__).with_name("pdf_fonts.py").read_bytes())
    # The PDF writes its numbers with these formatters.
    digest.update(Path(__file__).with_name("numbers.py").read_bytes())
    digest.update(",".join(settings.PDF_FONT_FAMILIES).encode("utf-8"))
    return digest.hexdigest()


def template_path(name: str) -> Path:
    """The file of a template of the project's own folder, found without starting the
    template engine: starting it imports every templatetags module of the apps (the
    entry page's and all they import), most of the time a command such as
    export_evaluation takes to serve a PDF drawn before."""
    for folder in settings.TEMPLATES[0]["DIRS"]:
        if (path := Path(folder) / name).is_file():
            return path
    return Path(get_template(name).origin.name)


@contextlib.contextmanager
def time_limit(seconds: float, kill_grace: float) -> Iterator[None]:
    """Interrupts the block after `seconds` (SIGALRM: the render is Python code, which
    the signal interrupts). Should native code hold on past `kill_grace` more, the
    process ends itself (faulthandler's watchdog thread needs no Python), and the
    sweeper passes the item to another worker. Outside the main thread (where signals
    cannot be set) the block runs unlimited."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise RenderTimeout(f"生成 PDF 超过 {seconds:g} 秒，已中止。")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds + kill_grace, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


# ---------------------------------------------------------------------------
# Finishing a job


def finish_job_if_complete(job_id: int) -> None:
    """Once no item is waiting or running: packs the zip, or marks the job failed.
    Every worker asks after each item; the conditional UPDATE lets one of them pack."""
    items = ExportItem.objects.filter(job_id=job_id)
    if items.filter(status__in=[ExportItem.Status.PENDING, ExportItem.Status.RUNNING]).exists():
        return
    jobs = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING)
    failed = items.filter(status=ExportItem.Status.FAILED).count()
    if failed:
        jobs.update(
            status=ExportJob.Status.FAILED,
            finished_at=timezone.now(),
            error=f"有 {failed} 份自评表未能生成 PDF，可重试失败项。",
        )
        return
    claimed = jobs.update(
        status=ExportJob.Status.ASSEMBLING,
        assembling_attempts=F("assembling_attempts") + 1,
        assembling_started_at=timezone.now(),
    )
    if not claimed:
        return
    job = ExportJob.objects.get(pk=job_id)
    # As for items: the result is written only while the packing is still this
    # attempt's, so a packer presumed dead that wakes up again changes nothing.
    mine = ExportJob.objects.filter(
        pk=job_id,
        status=ExportJob.Status.ASSEMBLING,
        assembling_attempts=job.assembling_attempts,
    )
    try:
        archive_path = write_archive(job)
    except Exception as error:
        mine.update(
            status=ExportJob.Status.FAILED,
            error=f"打包出错：{type(error).__name__}: {error}"[:2000],
            finished_at=timezone.now(),
        )
    else:
        mine.update(
            status=ExportJob.Status.DONE,
            archive_path=archive_path,
            error="",
            finished_at=timezone.now(),
        )


def pdf_name_in_archive(unit: Unit) -> str:
    return UNSAFE_IN_FILE_NAMES.sub("_", f"{unit.code}_{unit.name}.pdf")


def project_pdf_name_in_archive(evaluation: Evaluation) -> str:
    """A project form in its unit's folder: 单位编码_单位名称/项目编码_项目名称.pdf."""
    unit, project = evaluation.unit, evaluation.project
    folder = UNSAFE_IN_FILE_NAMES.sub("_", f"{unit.code}_{unit.name}")
    return f"{folder}/" + UNSAFE_IN_FILE_NAMES.sub("_", f"{project.code}_{project.name}.pdf")


def name_in_archive(evaluation: Evaluation) -> str:
    if evaluation.project_id:
        return project_pdf_name_in_archive(evaluation)
    return pdf_name_in_archive(evaluation.unit)


def archive_download_name(job: ExportJob) -> str:
    return f"{job.year}年度绩效自评表.zip"  # overall and project forms


def overview_file_name(year: int) -> str:
    return f"{year}年度绩效自评总览.xlsx"


def write_archive(job: ExportJob) -> str:
    """The zip: one PDF per item, named by unit code and name, and the overview. Packed
    in a temporary file of this machine (a year's zip runs to hundreds of MB), then
    handed whole to the export storage: its name there."""
    from .overview import OVERVIEW_PAGES, overview_rows, overview_xlsx

    storage = export_storage()
    items = job.items.select_related("evaluation__unit", "evaluation__project").order_by(
        "evaluation__unit__code", "evaluation__kind", "evaluation__project__code"
    )
    rows = overview_rows(job.requested_by, job.year, stage=job.stage, parent=job.parent)
    has_projects = job.items.filter(evaluation__project__isnull=False).exists()
    archive_name = f"archives/export-{job.pk}.zip"
    with packing_file(storage, archive_name) as file:
        # PDFs are compressed already: stored as they are, the zip is written at disk speed.
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            attachments = attachments_by_evaluation([item.evaluation_id for item in items])
            for item in items:
                entry = name_in_archive(item.evaluation)
                with (
                    storage.open(item.file_path, "rb") as source,
                    archive.open(zip_entry(entry, item.finished_at), "w") as target,
                ):
                    shutil.copyfileobj(source, target, COPY_CHUNK)
                write_attachments(
                    archive,
                    entry.removesuffix(".pdf"),
                    attachments.get(item.evaluation_id, []),
                    final=item.evaluation.is_final,
                )
            now = timezone.now()
            archive.writestr(
                zip_entry(overview_file_name(job.year), now, compressed=True),
                overview_xlsx(rows, job.year),
            )
            if has_projects:
                page = OVERVIEW_PAGES[Evaluation.Kind.PROJECT]
                filters = {"year": job.year, "stage": job.stage, "parent": job.parent}
                archive.writestr(
                    zip_entry(page.file_name.format(year=job.year), now, compressed=True),
                    page.workbook(job.requested_by, {**filters, "grade": "", "sort": ""}),
                )
        file.flush()
        return storage.save(archive_name, PackedFile(file, name=os.path.basename(archive_name)))


@contextlib.contextmanager
def packing_file(storage: Storage, name: str) -> Iterator[IO[bytes]]:
    """A temporary file of this machine to pack the zip `name` in: beside its place
    when the export storage is a folder here (the finished zip is then moved, not
    copied), otherwise in FILE_UPLOAD_TEMP_DIR (the system's temporary folder by
    default), from where the storage uploads it. Gone afterwards, whatever happens."""
    if isinstance(storage, FileSystemStorage):
        folder = os.path.dirname(storage.path(name))
        os.makedirs(folder, exist_ok=True)
    else:
        folder = settings.FILE_UPLOAD_TEMP_DIR
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".", suffix=".part", delete=False) as file:
        try:
            yield file
        finally:
            with contextlib.suppress(FileNotFoundError):  # moved into place
                os.unlink(file.name)


class PackedFile(File):
    """A finished file on this machine, which a folder storage may move into place."""

    def temporary_file_path(self) -> str:
        return self.file.name


def zip_entry(name: str, when: datetime | None, *, compressed: bool = False) -> zipfile.ZipInfo:
    """An entry of the zip, dated `when` in Shanghai time (now if unknown), readable
    by all once unpacked. The workbooks are compressed; PDFs and evidence (mostly
    compressed already) are stored as they are."""
    info = zipfile.ZipInfo(name, timezone.localtime(when or timezone.now()).timetuple()[:6])
    info.external_attr = 0o644 << 16
    if compressed:
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def attachments_by_evaluation(evaluation_ids: list[int]) -> dict[int, list[Attachment]]:
    """The current attachments of the evaluations, rows in the table's order, then
    the form's own: one query."""
    by_evaluation: dict[int, list[Attachment]] = {}
    current = (
        Attachment.objects.filter(evaluation__in=evaluation_ids, removed_at__isnull=True)
        .select_related("indicator__category__group")
        .order_by(
            F("indicator__category__group__position").asc(nulls_last=True),
            F("indicator__category__position").asc(nulls_last=True),
            F("indicator__position").asc(nulls_last=True),
            "indicator_id",
            "uploaded_at",
            "pk",
        )
    )
    for attachment in current:
        by_evaluation.setdefault(attachment.evaluation_id, []).append(attachment)
    return by_evaluation


def write_attachments(
    archive: zipfile.ZipFile, stem: str, attachments: list[Attachment], *, final: bool
) -> None:
    """Beside the form's PDF: its sealed PDF (`…_盖章版.pdf`, while the form is final:
    a form reopened since no longer matches it) and its evidence in a folder
    `…_佐证材料/`, numbered, each named by its row and its own name. Read from the
    file storage in chunks and stored as they are (mostly compressed already)."""
    number = 0
    for attachment in attachments:
        if attachment.is_sealed and not final:
            continue
        if attachment.is_sealed:
            name = f"{stem}_盖章版.pdf"
        else:
            number += 1
            row = attachment.indicator.label if attachment.indicator_id else "整表材料"
            name = f"{stem}_佐证材料/{number:02d}_{row}_{attachment.file_name}"
            folder, _, file_name = name.partition("/")
            name = f"{folder}/{UNSAFE_IN_FILE_NAMES.sub('_', file_name)}"
        with (
            attachment.file.open("rb") as source,
            archive.open(zip_entry(name, attachment.uploaded_at), "w") as target,
        ):
            shutil.copyfileobj(source, target, COPY_CHUNK)


def open_archive(job: ExportJob) -> File | None:
    """The finished job's zip, opened for reading from the export storage; None while
    there is none (or it has gone from the storage)."""
    if job.status != ExportJob.Status.DONE or not job.archive_path:
        return None
    try:
        return export_storage().open(job.archive_path, "rb")
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------------
# The sweeper


def stale_after() -> timedelta:
    """A running item older than this lost its worker: past the render's time limit
    and the grace after which a stuck worker ends itself, with a margin. Packing has no
    time limit of its own; it only copies finished PDFs, and gets as long."""
    return timedelta(seconds=settings.EXPORT_RENDER_TIMEOUT + settings.EXPORT_KILL_GRACE + 30)


def sweep_stale_work(older_than: timedelta | None = None) -> int:
    """Recovers what workers that died left behind: items and packing."""
    return sweep_stale_items(older_than) + sweep_stale_packing(older_than)


def sweep_stale_items(older_than: timedelta | None = None) -> int:
    """Queues again the items whose worker died mid-render (or fails them after
    EXPORT_MAX_ATTEMPTS attempts). Safe to run anywhere, any number of times at once:
    each item is moved by a conditional UPDATE that only one sweeper wins."""
    limit = timezone.now() - (stale_after() if older_than is None else older_than)
    stale = list(
        ExportItem.objects.filter(status=ExportItem.Status.RUNNING, started_at__lt=limit).values(
            "pk", "job_id", "attempts", "started_at"
        )
    )
    swept = 0
    for item in stale:
        same_attempt = ExportItem.objects.filter(
            pk=item["pk"],
            status=ExportItem.Status.RUNNING,
            attempts=item["attempts"],
            started_at=item["started_at"],
        )
        if item["attempts"] >= settings.EXPORT_MAX_ATTEMPTS:
            if same_attempt.update(
                status=ExportItem.Status.FAILED,
                finished_at=timezone.now(),
                error=f"生成进程中断，已尝试 {item['attempts']} 次。",
            ):
                swept += 1
                finish_job_if_complete(item["job_id"])
        elif same_attempt.update(
            status=ExportItem.Status.PENDING, error="上次生成时进程中断，已重新排队。"
        ):
            swept += 1
            item_id = item["pk"]
            transaction.on_commit(lambda item_id=item_id: render_export_item.enqueue(item_id))
    return swept


def lost_packing(limit) -> QuerySet[ExportJob]:
    """Jobs 打包中 since before `limit`: their packer died."""
    return ExportJob.objects.filter(
        status=ExportJob.Status.ASSEMBLING, assembling_started_at__lt=limit
    )


def unbegun_packing(limit) -> QuerySet[ExportJob]:
    """Jobs 进行中 whose items all finished before `limit`, and nobody packs: the worker
    of the last item died before it began, or a packing queued again was lost with the
    worker that took its task. `assembling_started_at` here is when it was last queued."""
    items = ExportItem.objects.filter(job=OuterRef("pk"))
    unfinished = items.filter(status__in=[ExportItem.Status.PENDING, ExportItem.Status.RUNNING])
    return ExportJob.objects.filter(
        Q(assembling_started_at__isnull=True) | Q(assembling_started_at__lt=limit),
        Exists(items),
        ~Exists(unfinished),
        ~Exists(items.filter(finished_at__gte=limit)),
        status=ExportJob.Status.RUNNING,
    )


def sweep_stale_packing(older_than: timedelta | None = None) -> int:
    """Queues again the packing of jobs whose packer died (they would stay 打包中 for
    ever) or never began, or fails them after EXPORT_MAX_ATTEMPTS attempts; the page's
    重试 queues it once more. Each job is moved by a conditional UPDATE, as items are,
    and stamped, so that one packing is queued once per timeout, not by every sweep."""
    limit = timezone.now() - (stale_after() if older_than is None else older_than)
    swept = 0
    for job in lost_packing(limit).values("pk", "assembling_attempts", "assembling_started_at"):
        same_attempt = ExportJob.objects.filter(
            pk=job["pk"],
            status=ExportJob.Status.ASSEMBLING,
            assembling_attempts=job["assembling_attempts"],
            assembling_started_at=job["assembling_started_at"],
        )
        if job["assembling_attempts"] >= settings.EXPORT_MAX_ATTEMPTS:
            swept += same_attempt.update(
                status=ExportJob.Status.FAILED,
                finished_at=timezone.now(),
                error=f"打包进程中断，已尝试 {job['assembling_attempts']} 次，可重试。",
            )
        elif same_attempt.update(
            status=ExportJob.Status.RUNNING,
            assembling_started_at=timezone.now(),
            error="上次打包时进程中断，已重新排队。",
        ):
            swept += 1
            queue_packing(job["pk"])
    for job in unbegun_packing(limit).values("pk", "assembling_started_at"):
        same_state = ExportJob.objects.filter(
            pk=job["pk"],
            status=ExportJob.Status.RUNNING,
            assembling_started_at=job["assembling_started_at"],
        )
        if same_state.update(assembling_started_at=timezone.now()):
            swept += 1
            queue_packing(job["pk"])
    return swept


def queue_packing(job_id: int) -> None:
    transaction.on_commit(lambda: finish_export_job.enqueue(job_id))
