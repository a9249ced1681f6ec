"""What 佐证材料 add to the bulk export: the time per 10 MB of evidence.

    .venv/bin/python benchmarks/evidence_export.py [--megabytes 40] [--repeat 5]

In a throwaway SQLite database and file folder: loads the demo (the 2023 sample
waiting for review), returns the sample, attaches `--megabytes` of evidence to its
rows (files of 10 MB, incompressible, as scans and photos are), has it approved and
attaches its sealed PDF (2 MB); renders the year's PDFs once, then packs the year's
zip `--repeat` times with the evidence and as many times with it removed, and prints
the median of each and the difference per 10 MB. Also times attaching one 10 MB file (type check, SHA-256,
storage). The local folder storage; an S3-compatible store adds its transfer time.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEN_MEGABYTES = 10 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=40, help="evidence to attach")
    parser.add_argument("--repeat", type=int, default=5, help="packings timed each way")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="evidence-benchmark-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'benchmark.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["EXPORT_ROOT"] = str(workdir / "exports")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEMO_DATA_ALLOWED"] = "1"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from evaluations import evidence, workflow
    from evaluations.bulk_export import render_item, start_export, write_archive
    from evaluations.demo import load_demo
    from evaluations.models import Attachment, ExportJob
    from indicators.models import Indicator

    call_command("migrate", verbosity=0)
    sample, _ = load_demo()
    staff = sample.unit.staff.get()
    reviewer = sample.unit.district.reviewers.get()
    street_reviewer = workflow.parent_reviewers(sample.unit.parent).get()
    rows = list(Indicator.objects.filter(category__group__evaluation=sample).order_by("pk"))

    def scan(number: int) -> SimpleUploadedFile:
        # A PDF by its first bytes; random after them, so nothing compresses.
        content = b"%PDF-1.7\n" + os.urandom(TEN_MEGABYTES - 9)
        return SimpleUploadedFile(f"扫描件{number:02d}.pdf", content)

    # The demo's self-evaluation waits for the street's first check: returned so the
    # unit can attach.
    workflow.return_first(sample, by=street_reviewer, reason="请补充佐证材料。")
    files = max(1, arguments.megabytes // 10)
    attach_seconds = []
    for number in range(files):
        upload = scan(number)
        started = time.perf_counter()
        evidence.attach(
            sample,
            upload,
            by=staff,
            category="results",
            indicator_id=rows[number % len(rows)].pk,
        )
        attach_seconds.append(time.perf_counter() - started)
    workflow.submit(sample, by=staff)
    workflow.approve_first(sample, by=street_reviewer)
    workflow.approve(sample, by=reviewer)
    sealed = SimpleUploadedFile("盖章版.pdf", b"%PDF-1.7\n" + os.urandom(2 * 1024 * 1024))
    evidence.attach(sample, sealed, by=staff, sealed=True)
    attached = sum(a.size for a in Attachment.objects.filter(removed_at__isnull=True))
    print(
        f"attached {files} files of 10 MB and a 2 MB sealed PDF "
        f"({attached / 1024 / 1024:.1f} MB): attaching 10 MB takes "
        f"{statistics.median(attach_seconds) * 1000:.0f} ms (median; type, SHA-256, storage)"
    )

    job = start_export(year=2023)
    started = time.perf_counter()
    for item_id in job.items.values_list("pk", flat=True):
        render_item(item_id)
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    print(
        f"{job.items.count()} PDFs of the demo year rendered in {time.perf_counter() - started:.1f} s"
    )

    def pack() -> tuple[float, int, list[str]]:
        started = time.perf_counter()
        name = write_archive(job)
        seconds = time.perf_counter() - started
        path = Path(os.environ["EXPORT_ROOT"]) / name  # the local export storage
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        return seconds, path.stat().st_size, names

    with_evidence = [pack() for _ in range(arguments.repeat)]
    names = with_evidence[-1][2]
    assert any(name.endswith("_盖章版.pdf") for name in names), names
    assert sum("_佐证材料/" in name for name in names) == files, names
    Attachment.objects.update(removed_at=job.created_at, removed_by=staff)
    without = [pack() for _ in range(arguments.repeat)]

    seconds_with = statistics.median(result[0] for result in with_evidence)
    seconds_without = statistics.median(result[0] for result in without)
    added = seconds_with - seconds_without
    print(
        f"packing the zip: {seconds_without:.3f} s without evidence "
        f"({without[0][1] / 1024 / 1024:.1f} MB), {seconds_with:.3f} s with it "
        f"({with_evidence[0][1] / 1024 / 1024:.1f} MB); medians of {arguments.repeat}"
    )
    print(f"time added per 10 MB of evidence: {added / (attached / TEN_MEGABYTES) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
