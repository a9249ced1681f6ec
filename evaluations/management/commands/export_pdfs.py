"""Every unit's PDF of a year in one zip (its project forms' PDFs in a folder of the
unit), from the command line:

    manage.py export_pdfs --year 2023 --output 2023.zip [--workers 2] [--stage results-approved]
                          [--parent 310112-PJ]

Runs the same export as the web page (an `ExportJob`, one task per evaluation, PDFs of
unchanged tables reused), with its own `--workers` worker processes (`db_worker`, one
PDF at a time each, restarted after `--max-tasks` PDFs) and a progress bar. Workers
already running elsewhere help with the job too.
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluations.bulk_export import (
    COPY_CHUNK,
    ExportRefused,
    job_progress,
    open_archive,
    start_export,
    sweep_stale_items,
    sweep_stale_packing,
)
from evaluations.models import ExportItem, ExportJob, Unit
from evaluations.overview import STAGE_LABELS

POLL_SECONDS = 0.2
BAR_WIDTH = 30


class Command(BaseCommand):
    help = "把一个年度的自评表 PDF（每个单位一份整体支出自评表，其项目自评表放在以单位命名的文件夹中）和年度总览打包成 zip"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--year", type=int, required=True, help="年度，如 2023")
        parser.add_argument("--output", required=True, help="输出的 zip 文件")
        parser.add_argument("--workers", type=int, default=2, help="工作进程数（默认 2）")
        parser.add_argument(
            "--max-tasks", type=int, default=100, help="每个工作进程生成多少份后重启（默认 100）"
        )
        parser.add_argument(
            "--stage", default="", choices=[""] + list(STAGE_LABELS), help="只导出该状态的自评表"
        )
        parser.add_argument("--parent", default="", help="只导出该主管部门（单位编码）及其下属单位")

    def handle(self, *, year, output, workers, max_tasks, stage, parent, verbosity, **options):
        if workers < 1:
            raise CommandError("--workers 至少为 1")
        parent_unit = None
        if parent:
            parent_unit = Unit.objects.filter(code=parent).first()
            if parent_unit is None:
                raise CommandError(f"找不到单位编码为“{parent}”的主管部门")
        try:
            job = start_export(year=year, stage=stage, parent=parent_unit)
        except ExportRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        total = job.items.count()
        self.stdout.write(f"导出 #{job.pk}：{year}年度，{total} 份自评表，{workers} 个工作进程")
        started = time.monotonic()
        processes: list[subprocess.Popen] = []
        try:
            while True:
                job.refresh_from_db(fields=["status", "error", "archive_path"])
                progress = job_progress(job)
                self.draw(progress.done + progress.failed, progress.total, started, verbosity)
                if job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED):
                    break
                sweep_stale_items()
                # A packing queued again needs a worker as much as an item does.
                requeued = sweep_stale_packing()
                processes = [process for process in processes if process.poll() is None]
                waiting = requeued or job.items.filter(status=ExportItem.Status.PENDING).exists()
                while waiting and len(processes) < workers:
                    processes.append(start_worker(max_tasks))
                time.sleep(POLL_SECONDS)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait()
        self.stdout.write("")
        if job.status == ExportJob.Status.FAILED:
            raise CommandError(f"导出 #{job.pk} 未完成：{job.error}")
        archive = open_archive(job)
        if archive is None:
            raise CommandError(f"导出 #{job.pk} 的压缩包不在存储中")
        with archive, open(output, "wb") as target:
            shutil.copyfileobj(archive, target, COPY_CHUNK)
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"已写入 {output}：{total} 份 PDF，用时 {seconds:.1f} 秒"
                f"（{total / seconds:.2f} 份/秒）"
            )
        )

    def draw(self, finished: int, total: int, started: float, verbosity: int) -> None:
        if verbosity < 1:
            return
        filled = BAR_WIDTH * finished // total if total else BAR_WIDTH
        seconds = time.monotonic() - started
        rate = finished / seconds if seconds else 0.0
        line = (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {finished}/{total}"
            f" {100 * finished // total if total else 100}% {rate:.1f} 份/秒"
        )
        if self.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
        else:  # a log file: a line every tenth
            tenth = 10 * finished // total if total else 10
            if tenth != getattr(self, "last_tenth", None):
                self.last_tenth = tenth
                self.stdout.write(line)


def start_worker(max_tasks: int) -> subprocess.Popen:
    """A `db_worker` that renders one PDF at a time and exits after `max_tasks` of them
    (a fresh process frees what WeasyPrint accumulates) or when the queue is empty."""
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "db_worker",
            "--batch",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
            "--max-tasks",
            str(max_tasks),
            "--verbosity",
            "0",
        ],
        stdout=subprocess.DEVNULL,
    )
