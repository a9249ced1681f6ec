"""Bulk export: jobs, items, the real worker process, the sweeper, reuse, the pages."""

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pypdf
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from evaluations import bulk_export, numbers
from evaluations.bulk_export import (
    drawing_version,
    finish_job_if_complete,
    job_progress,
    render_item,
    retry_failed,
    start_export,
    sweep_stale_items,
    sweep_stale_packing,
)
from evaluations.demo import sample_data
from evaluations.models import Evaluation, ExportItem, ExportJob
from indicators.models import Indicator

from .conftest import make_evaluation, make_project_form, make_unit, synthetic_data

WORKER_TIMEOUT = 60
# A worker process sees committed data only. With serialized_rollback the tables are
# put back as the migrations left them (role groups, content types) for the next tests.
through_a_worker = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def export_root(settings, tmp_path) -> Path:
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def worker_env(export_root) -> dict:
    """The environment of a worker process: this test database, these export files."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        password = f":{quote(database['PASSWORD'])}" if database["PASSWORD"] else ""
        url = (
            f"postgres://{quote(database['USER'])}{password}@{database['HOST'] or 'localhost'}"
            f":{database['PORT'] or 5432}/{database['NAME']}"
        )
    return {**os.environ, "DATABASE_URL": url, "EXPORT_ROOT": str(export_root)}


def start_worker(env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
            "--verbosity",
            "0",
            *extra,
        ],
        env=env,
    )


def run_worker_until_idle(env: dict) -> None:
    process = start_worker(env, "--batch")
    assert process.wait(timeout=WORKER_TIMEOUT) == 0


def scored(data: dict, deduction: Decimal) -> dict:
    """The sample with `deduction` points less on its first scored row."""
    row = data["groups"][0]["categories"][0]["indicators"][0]
    row["score"] = str(Decimal(row["score"]) - deduction)
    row["deviation_reason"] = "扣分说明"
    return data


@pytest.fixture
def small_year(district, street_office, unit):
    """Three evaluations of 2023 under 浦锦街道, with 总得分 96, 95 and 94.50."""
    second = make_unit("310112-PJ-SQ", "浦锦街道社区服务中心", district, street_office)
    third = make_unit("310112-PJ-WH", "浦锦街道文化活动中心", district, street_office)
    return [
        make_evaluation(unit),
        make_evaluation(second, data=scored(sample_data(), Decimal("1"))),
        make_evaluation(third, data=scored(sample_data(), Decimal("1.5"))),
    ]


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "".join(page.extract_text() for page in reader.pages)


@through_a_worker
def test_a_year_exported_through_a_real_worker(small_year, admin_user, worker_env, export_root):
    job = start_export(year=2023, user=admin_user)
    assert job.items.count() == 3
    assert set(job.items.values_list("status", flat=True)) == {ExportItem.Status.PENDING}

    run_worker_until_idle(worker_env)

    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    assert set(job.items.values_list("status", "attempts")) == {(ExportItem.Status.DONE, 1)}
    with zipfile.ZipFile(export_root / job.archive_path) as archive:
        names = archive.namelist()
        assert sorted(names) == [
            "2023年度绩效自评总览.xlsx",
            "310112-PJ-CSYX_上海市闵行区浦锦街道城市运行管理中心.pdf",
            "310112-PJ-SQ_浦锦街道社区服务中心.pdf",
            "310112-PJ-WH_浦锦街道文化活动中心.pdf",
        ]
        totals = {"CSYX": "96", "SQ": "95", "WH": "94.50"}
        for name in names:
            if not name.endswith(".pdf"):
                continue
            content = archive.read(name)
            assert content.startswith(b"%PDF-")
            text = pdf_text(content)
            unit_name = name.removesuffix(".pdf").split("_", 1)[1]
            assert unit_name in text
            assert "2023年度" in text
            total = totals[name.split("_")[0].rsplit("-", 1)[1]]
            assert f"合计 100 {total}" in text
        sheet = openpyxl.load_workbook(io.BytesIO(archive.read("2023年度绩效自评总览.xlsx"))).active
        scores = {row[0]: row[8] for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert scores["310112-PJ-SQ"] == 95
        assert scores["310112-PJ-WH"] == 94.5


@through_a_worker
def test_a_killed_worker_is_swept_and_its_item_rendered_again(
    district, street_office, admin_user, worker_env, export_root
):
    # A long table first, so that the worker is surely mid-render when it is killed:
    # a fresh worker takes seconds over its first 80 rows, the kill comes 0.2 s in.
    long = make_evaluation(make_unit("310112-A", "长表单位", district), data=synthetic_data(80))
    make_evaluation(make_unit("310112-B", "短表单位", district))
    job = start_export(year=2023, user=admin_user)
    item = job.items.get(evaluation=long)

    worker = start_worker(worker_env)
    deadline = time.monotonic() + WORKER_TIMEOUT
    while time.monotonic() < deadline:
        item.refresh_from_db()
        if item.status == ExportItem.Status.RUNNING:
            break
        time.sleep(0.02)
    assert item.status == ExportItem.Status.RUNNING
    time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    item.refresh_from_db()
    assert item.status == ExportItem.Status.RUNNING  # nobody is left to finish it
    assert sweep_stale_items() == 0  # not stale yet: it could be a slow render
    assert sweep_stale_items(older_than=timedelta(0)) == 1
    item.refresh_from_db()
    assert (item.status, item.attempts) == (ExportItem.Status.PENDING, 1)

    run_worker_until_idle(worker_env)

    item.refresh_from_db()
    job.refresh_from_db()
    assert (item.status, item.attempts) == (ExportItem.Status.DONE, 2)
    assert job.status == ExportJob.Status.DONE
    with zipfile.ZipFile(export_root / job.archive_path) as archive:
        pdfs = [name for name in archive.namelist() if name.endswith(".pdf")]
        assert len(pdfs) == 2
        assert "长表单位" in pdf_text(archive.read("310112-A_长表单位.pdf"))


@through_a_worker
def test_export_pdfs_command(small_year, worker_env, monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "EXPORT_ROOT"):
        monkeypatch.setenv(name, worker_env[name])
    output = tmp_path / "2023.zip"
    stdout = io.StringIO()
    call_command("export_pdfs", year=2023, output=str(output), workers=2, stdout=stdout)
    assert "3/3 100%" in stdout.getvalue()
    with zipfile.ZipFile(output) as archive:
        assert len([name for name in archive.namelist() if name.endswith(".pdf")]) == 3
        assert archive.testzip() is None


def test_unchanged_evaluations_reuse_their_pdf(small_year, admin_user, export_root):
    first = start_export(year=2023, user=admin_user)
    for item in first.items.all():
        render_item(item.pk)
    first.refresh_from_db()
    assert first.status == ExportJob.Status.DONE
    assert not first.items.filter(reused=True).exists()

    changed = small_year[1]
    # Written around save(), as bulk writes are: the fingerprint still sees it.
    indicator = Indicator.objects.filter(category__group__evaluation=changed).first()
    Indicator.objects.filter(pk=indicator.pk).update(score=indicator.points - Decimal("0.5"))
    second = start_export(year=2023, user=admin_user)
    for item in second.items.all():
        render_item(item.pk)
    reused = dict(second.items.values_list("evaluation", "reused"))
    assert reused == {small_year[0].pk: True, changed.pk: False, small_year[2].pk: True}
    old, new = (job.items.get(evaluation=changed).file_path for job in (first, second))
    assert old != new
    assert (export_root / new).is_file()


def test_a_render_over_its_time_limit_fails_and_can_be_retried(
    sample, admin_user, export_root, settings, monkeypatch
):
    settings.EXPORT_RENDER_TIMEOUT = 0.2
    rendered = []

    def slow_render(evaluation):
        time.sleep(5)
        rendered.append(evaluation)

    monkeypatch.setattr("evaluations.pdf.render_pdf", slow_render)
    job = start_export(year=2023, user=admin_user)
    item = job.items.get()
    render_item(item.pk)
    assert rendered == []  # interrupted, not waited for
    item.refresh_from_db()
    job.refresh_from_db()
    assert item.status == ExportItem.Status.FAILED
    assert "超过 0.2 秒" in item.error
    assert job.status == ExportJob.Status.FAILED

    monkeypatch.undo()
    settings.EXPORT_RENDER_TIMEOUT = 60
    assert retry_failed(job) == 1
    render_item(item.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE


def test_a_duplicate_task_does_nothing(sample, admin_user, export_root):
    job = start_export(year=2023, user=admin_user)
    item = job.items.get()
    render_item(item.pk)
    render_item(item.pk)
    item.refresh_from_db()
    assert (item.status, item.attempts) == (ExportItem.Status.DONE, 1)


def test_the_sweeper_gives_up_after_the_last_attempt(sample, admin_user, settings):
    settings.EXPORT_MAX_ATTEMPTS = 2
    job = start_export(year=2023, user=admin_user)
    job.items.update(status=ExportItem.Status.RUNNING, attempts=2, started_at="2023-01-01T00:00Z")
    assert sweep_stale_items() == 1
    item = job.items.get()
    job.refresh_from_db()
    assert item.status == ExportItem.Status.FAILED
    assert "已尝试 2 次" in item.error
    assert job.status == ExportJob.Status.FAILED


class WorkerDied(BaseException):
    """What a packer killed mid-zip leaves behind: nothing caught, nothing written."""


def die_while_packing(job):
    raise WorkerDied


def queued_packing() -> list:
    return [
        result.args_kwargs["args"]
        for result in DBTaskResult.objects.filter(
            task_path="evaluations.bulk_export.finish_export_job"
        )
    ]


def test_a_packing_whose_worker_died_is_queued_again(
    sample, admin_user, export_root, monkeypatch, django_capture_on_commit_callbacks
):
    job = start_export(year=2023, user=admin_user)
    monkeypatch.setattr(bulk_export, "write_archive", die_while_packing)
    with pytest.raises(WorkerDied):
        render_item(job.items.get().pk)  # the worker of the last item packs
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.ASSEMBLING
    call_command("sweep_exports", stdout=io.StringIO())
    job.refresh_from_db()
    assert job.status == ExportJob.Status.ASSEMBLING  # not stale yet: a large zip takes time

    monkeypatch.setattr(bulk_export, "stale_after", lambda: timedelta(0))
    stdout = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_exports", stdout=stdout)

    job.refresh_from_db()
    assert (job.status, job.error) == (ExportJob.Status.RUNNING, "上次打包时进程中断，已重新排队。")
    assert "1 个打包中的导出" in stdout.getvalue()
    assert queued_packing() == [[job.pk]]
    finish_job_if_complete(job.pk)  # what the queued task does
    job.refresh_from_db()
    assert (job.status, job.error, job.assembling_attempts) == (ExportJob.Status.DONE, "", 2)
    with zipfile.ZipFile(export_root / job.archive_path) as archive:
        assert len(archive.namelist()) == 2


def test_a_job_whose_last_worker_died_before_packing_is_packed(
    sample, admin_user, export_root, monkeypatch, django_capture_on_commit_callbacks
):
    job = start_export(year=2023, user=admin_user)
    monkeypatch.setattr(bulk_export, "finish_job_if_complete", die_while_packing)
    with pytest.raises(WorkerDied):
        render_item(job.items.get().pk)  # died after writing its item, before packing
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.RUNNING
    assert sweep_stale_packing() == 0  # the worker may be about to pack
    assert job_progress(job).stuck == 0

    job.items.update(finished_at="2023-01-01T00:00Z")
    assert job_progress(job).stuck == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_stale_packing() == 1
        assert sweep_stale_packing() == 0  # queued once, not by every sweep
    assert queued_packing() == [[job.pk]]
    assert job_progress(job).stuck == 0
    finish_job_if_complete(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE


def test_the_sweeper_gives_up_packing_after_the_last_attempt(
    sample, admin_user, export_root, settings, monkeypatch
):
    settings.EXPORT_MAX_ATTEMPTS = 2
    job = start_export(year=2023, user=admin_user)
    monkeypatch.setattr(bulk_export, "write_archive", die_while_packing)
    with pytest.raises(WorkerDied):
        render_item(job.items.get().pk)
    assert sweep_stale_packing(older_than=timedelta(0)) == 1
    with pytest.raises(WorkerDied):
        finish_job_if_complete(job.pk)
    assert sweep_stale_packing(older_than=timedelta(0)) == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "打包进程中断，已尝试 2 次，可重试。"

    monkeypatch.undo()
    assert retry_failed(job) == 0  # no item failed: the packing is queued again
    finish_job_if_complete(job.pk)
    job.refresh_from_db()
    assert (job.status, job.assembling_attempts) == (ExportJob.Status.DONE, 1)


def test_a_packer_presumed_dead_changes_nothing_when_it_wakes_up(
    sample, admin_user, export_root, monkeypatch
):
    job = start_export(year=2023, user=admin_user)
    write_archive = bulk_export.write_archive

    def overtaken(job):
        # While this packer hangs, the sweeper gives its packing to another.
        monkeypatch.setattr(bulk_export, "write_archive", write_archive)
        sweep_stale_packing(older_than=timedelta(0))
        finish_job_if_complete(job.pk)
        return "archives/late.zip"

    monkeypatch.setattr(bulk_export, "write_archive", overtaken)
    render_item(job.items.get().pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    assert (job.archive_path, job.assembling_attempts) == (f"archives/export-{job.pk}.zip", 2)


def test_an_export_selects_by_parent_and_refuses_an_empty_selection(
    small_year, other_staff, admin_user, street_office
):
    job = start_export(year=2023, user=admin_user, parent=street_office)
    assert job.items.count() == 3
    with pytest.raises(Exception, match="没有符合条件的自评表"):
        start_export(year=2022, user=admin_user)


# ---------------------------------------------------------------------------
# The pages


@pytest.fixture
def finished_job(sample, admin_user, export_root) -> ExportJob:
    job = start_export(year=2023, user=admin_user)
    for item in job.items.all():
        render_item(item.pk)
    finish_job_if_complete(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    return job


def test_admin_starts_an_export_and_watches_it(client, sample, admin_user, export_root):
    client.force_login(admin_user)
    assert client.get("/exports/").status_code == 200
    response = client.post("/exports/", {"year": "2023", "stage": "", "parent": ""})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/exports/{job.pk}/"
    page = client.get(f"/exports/{job.pk}/")
    assert "<progress" in page.content.decode()
    progress = client.get(f"/exports/{job.pk}/progress/").json()
    assert progress | {"error": ""} == {
        "status": "running",
        "status_label": "进行中",
        "total": 1,
        "done": 0,
        "failed": 0,
        "running": 0,
        "percent": 0,
        "stuck": 0,
        "error": "",
        "finished": False,
    }


@pytest.fixture
def stuck_jobs(small_year, admin_user, export_root):
    """Two jobs whose workers died long ago: one mid-render, one mid-packing."""
    rendering = start_export(year=2023, user=admin_user)
    packing = start_export(year=2023, user=admin_user)
    rendering.items.update(
        status=ExportItem.Status.RUNNING, attempts=1, started_at="2023-01-01T00:00Z"
    )
    packing.items.update(status=ExportItem.Status.DONE, attempts=1)
    ExportJob.objects.filter(pk=packing.pk).update(
        status=ExportJob.Status.ASSEMBLING,
        assembling_attempts=1,
        assembling_started_at="2023-01-01T00:00Z",
    )
    return rendering, packing


def export_state() -> list:
    return [
        list(ExportJob.objects.order_by("pk").values_list("status", "assembling_attempts")),
        list(ExportItem.objects.order_by("pk").values_list("status", "attempts", "error")),
        DBTaskResult.objects.count(),
    ]


def test_watching_a_job_changes_nothing(client, admin_user, stuck_jobs):
    rendering, packing = stuck_jobs
    client.force_login(admin_user)
    before = export_state()

    pages = {job.pk: client.get(f"/exports/{job.pk}/").content.decode() for job in stuck_jobs}
    progress = {job.pk: client.get(f"/exports/{job.pk}/progress/").json() for job in stuck_jobs}
    client.get("/exports/")

    assert export_state() == before
    # What looks stuck is reported, with the button that queues it again.
    assert (progress[rendering.pk]["stuck"], progress[packing.pk]["stuck"]) == (3, 1)
    assert progress[packing.pk]["status_label"] == "打包中"
    for job in stuck_jobs:
        assert "秒没有进展，处理它的工作进程可能已中断" in pages[job.pk]
        assert f'action="/exports/{job.pk}/retry/"' in pages[job.pk]


def test_retry_queues_again_what_looks_stuck(
    client, admin_user, stuck_jobs, django_capture_on_commit_callbacks
):
    rendering, packing = stuck_jobs
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/exports/{rendering.pk}/retry/", follow=True)

    assert "已将 3 项中断的工作重新排队。" in response.content.decode()
    assert set(rendering.items.values_list("status", flat=True)) == {ExportItem.Status.PENDING}
    packing.refresh_from_db()
    assert packing.status == ExportJob.Status.RUNNING  # one sweep recovers every job
    assert queued_packing() == [[packing.pk]]
    page = client.get(f"/exports/{rendering.pk}/").content.decode()
    assert '<div id="job-stuck" hidden>' in page


def test_retry_of_a_job_with_nothing_to_retry_is_refused(client, finished_job, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/exports/{finished_job.pk}/retry/", follow=True)
    assert "只有“有失败项”的导出可以重试。" in response.content.decode()
    finished_job.refresh_from_db()
    assert finished_job.status == ExportJob.Status.DONE


def test_an_empty_selection_is_refused_on_the_page(client, sample, admin_user):
    client.force_login(admin_user)
    response = client.post("/exports/", {"year": "2023", "stage": "not_started", "parent": ""})
    assert response.status_code == 400
    assert "没有符合条件的自评表" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_admin_downloads_the_zip(client, finished_job, admin_user):
    client.force_login(admin_user)
    response = client.get(f"/exports/{finished_job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert len(archive.namelist()) == 2


# Who reaches the export pages is in test_access's matrix; starting one is a POST it
# does not send.
@pytest.mark.parametrize("who", ["staff", "reviewer"])
def test_only_admins_start_an_export(client, sample, who, request):
    client.force_login(request.getfixturevalue(who))
    assert client.post("/exports/", {"year": "2023"}).status_code == 403
    assert not ExportJob.objects.exists()


def test_export_pages_wrong_method(client, admin_user):
    job = ExportJob.objects.create(year=2023, status=ExportJob.Status.DONE)  # nothing rendered
    client.force_login(admin_user)
    assert client.post(f"/exports/{job.pk}/download/").status_code == 405
    assert client.get(f"/exports/{job.pk}/retry/").status_code == 405
    assert client.delete("/exports/").status_code == 405


def test_the_drawing_version_reads_the_templates_get_template_finds():
    from django.template.loader import get_template

    from evaluations.bulk_export import PDF_TEMPLATES, template_path

    for name in PDF_TEMPLATES:
        assert template_path(name) == Path(get_template(name).origin.name)


def test_the_drawing_version_covers_the_number_formatters(monkeypatch):
    # The PDF writes 分值, 得分 and amounts with evaluations/numbers.py: a change
    # there must not let an export reuse PDFs drawn before it.
    drawing_version.cache_clear()
    before = drawing_version()
    formatters = Path(numbers.__file__)
    read_bytes = Path.read_bytes
    monkeypatch.setattr(
        Path, "read_bytes", lambda path: read_bytes(path) + (b"#" if path == formatters else b"")
    )
    drawing_version.cache_clear()
    try:
        assert drawing_version() != before
    finally:
        drawing_version.cache_clear()


def test_project_forms_are_exported_in_a_folder_of_their_unit(
    small_year, unit, admin_user, export_root, monkeypatch
):
    # Drawing the project form is the PDF's own test; here: which forms, and where.
    monkeypatch.setattr(
        "evaluations.pdf.render_pdf", lambda evaluation: f"%PDF-1.7 {evaluation.pk}".encode()
    )
    first, second = make_project_form(unit, 0), make_project_form(unit, 1)
    job = start_export(year=2023, user=admin_user)
    assert job.items.count() == 5
    for item in job.items.all():
        render_item(item.pk)
    finish_job_if_complete(job.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    folder = "310112-PJ-CSYX_上海市闵行区浦锦街道城市运行管理中心"
    with zipfile.ZipFile(export_root / job.archive_path) as archive:
        assert sorted(archive.namelist()) == [
            "2023年度绩效自评总览.xlsx",
            "2023年度项目支出绩效自评总览.xlsx",
            f"{folder}.pdf",
            f"{folder}/PJ-2022-007_110非警务联动处置平台运维项目.pdf",
            f"{folder}/PJ-2023-001_消防通道乱停车预警智能分析项目.pdf",
            "310112-PJ-SQ_浦锦街道社区服务中心.pdf",
            "310112-PJ-WH_浦锦街道文化活动中心.pdf",
        ]
        project_pdf = archive.read(f"{folder}/PJ-2023-001_消防通道乱停车预警智能分析项目.pdf")
        assert project_pdf == f"%PDF-1.7 {first.pk}".encode()
        sheet = openpyxl.load_workbook(
            io.BytesIO(archive.read("2023年度项目支出绩效自评总览.xlsx"))
        ).active
        assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
            "PJ-2022-007",
            "PJ-2023-001",
        ]
    assert second.pk in set(job.items.values_list("evaluation", flat=True))
    # A stage selects the project forms in that stage too.
    Evaluation.objects.filter(pk=second.pk).update(phase="results", status="approved")
    approved = start_export(year=2023, user=admin_user, stage="results-approved")
    assert list(approved.items.values_list("evaluation", flat=True)) == [second.pk]


def test_an_export_goes_through_the_storage_api_only(
    small_year, admin_user, client, export_root, settings, tmp_path, monkeypatch
):
    """With Django's in-memory storage as "exports", the PDFs and the zip live there:
    the export runs, reuses, and is downloaded, and nothing is written under
    EXPORT_ROOT."""
    from django.core.files.storage import InMemoryStorage, storages

    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    renders = []

    def render_pdf(evaluation):
        renders.append(evaluation.pk)
        return f"%PDF-1.7 {evaluation.pk}".encode()

    monkeypatch.setattr("evaluations.pdf.render_pdf", render_pdf)
    storage = storages["exports"]
    assert isinstance(storage, InMemoryStorage)

    job = start_export(year=2023, user=admin_user)
    for item in job.items.all():
        render_item(item.pk)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    assert len(renders) == 3
    assert storage.exists(job.archive_path)
    for item in job.items.all():
        assert storage.open(item.file_path).read() == f"%PDF-1.7 {item.evaluation_id}".encode()

    # The same fingerprints: found in the storage, not drawn again.
    again = start_export(year=2023, user=admin_user)
    for item in again.items.all():
        render_item(item.pk)
    assert set(again.items.values_list("reused", flat=True)) == {True}
    assert len(renders) == 3

    client.force_login(admin_user)
    response = client.get(f"/exports/{job.pk}/download/")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment; filename")
    assert "2023" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert archive.read("310112-PJ-SQ_浦锦街道社区服务中心.pdf") == (
            f"%PDF-1.7 {small_year[1].pk}".encode()
        )

    # The table page's download and the command serve the same stored PDF.
    response = client.get(f"/evaluations/{small_year[0].pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == f"%PDF-1.7 {small_year[0].pk}".encode()
    output = tmp_path / "one.pdf"
    call_command(
        "export_evaluation", unit="310112-PJ-WH", year=2023, format="pdf", output=str(output)
    )
    assert output.read_bytes() == f"%PDF-1.7 {small_year[2].pk}".encode()
    assert len(renders) == 3

    assert not export_root.exists()


def test_a_zip_gone_from_the_storage_is_not_found(client, finished_job, admin_user):
    from django.core.files.storage import storages

    storages["exports"].delete(finished_job.archive_path)
    client.force_login(admin_user)
    assert client.get(f"/exports/{finished_job.pk}/download/").status_code == 404


def test_the_export_folder_moves_finished_files_into_place(export_root):
    """Saved under a temporary name and moved: a reader never sees half a file, and
    saving a name again replaces it (the names are fixed by the content or the job)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    storage = storages["exports"]
    assert Path(storage.location) == export_root.resolve()
    assert storage.save("pdf/ab/abc.pdf", ContentFile(b"%PDF-1 first")) == "pdf/ab/abc.pdf"
    assert storage.save("pdf/ab/abc.pdf", ContentFile(b"%PDF-1 again")) == "pdf/ab/abc.pdf"
    assert (export_root / "pdf/ab/abc.pdf").read_bytes() == b"%PDF-1 again"
    assert [path.name for path in (export_root / "pdf/ab").iterdir()] == ["abc.pdf"]

    class Broken(ContentFile):
        def chunks(self, chunk_size=None):
            yield b"%PDF-1 half"
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage.save("pdf/ab/abd.pdf", Broken(b""))
    assert [path.name for path in (export_root / "pdf/ab").iterdir()] == ["abc.pdf"]

    # A zip packed beside its place is moved there, not copied.
    packed = export_root / "archives" / ".packing.part"
    packed.parent.mkdir()
    packed.write_bytes(b"PK zip")
    with packed.open("rb") as file:
        assert storage.save("archives/export-1.zip", bulk_export.PackedFile(file)) == (
            "archives/export-1.zip"
        )
    assert [path.name for path in packed.parent.iterdir()] == ["export-1.zip"]
    assert (export_root / "archives/export-1.zip").read_bytes() == b"PK zip"


def test_a_zip_is_packed_beside_its_place_and_nothing_is_left(finished_job, export_root):
    assert [path.name for path in (export_root / "archives").iterdir()] == [
        f"export-{finished_job.pk}.zip"
    ]
