"""How fast a year's PDFs are exported, with 1 and with 2 worker processes.

    .venv/bin/python benchmarks/bulk_export.py [--count 500] [--workers 1,2]

Creates `--count` realistic evaluations (the 2023 sample's 24 rows and budget, each
unit with its own name, figures and deductions) in a throwaway database — SQLite in a
temporary folder, or the PostgreSQL database named by BENCHMARK_DATABASE_URL — then
runs `manage.py export_pdfs` once per worker count, each time with an empty export
folder (so nothing is reused), and prints PDFs per second and the speed-up. Also
times the overview page's query for the same units. Target on a 2-core machine:
at least 4 PDFs per second with 2 workers.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500, help="evaluations to create")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bulk-export-benchmark-"))
    database_url = os.environ.get(
        "BENCHMARK_DATABASE_URL", f"sqlite:///{workdir / 'benchmark.sqlite3'}"
    )
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    create_year(arguments.count)
    print(f"{arguments.count} evaluations created in {time.perf_counter() - started:.1f} s")
    time_overview()
    from evaluations.models import Evaluation

    # The overall forms, and the project forms the demo brings along.
    expected = Evaluation.objects.filter(year=2023).count()

    results = {}
    for workers in [int(value) for value in arguments.workers.split(",")]:
        export_root = workdir / f"exports-{workers}"
        output = workdir / f"export-{workers}.zip"
        environment = {**os.environ, "EXPORT_ROOT": str(export_root)}
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "export_pdfs",
            "--year",
            "2023",
            "--output",
            str(output),
            "--workers",
            str(workers),
        ]
        started = time.perf_counter()
        subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        with zipfile.ZipFile(output) as archive:
            pdfs = sum(name.endswith(".pdf") for name in archive.namelist())
        assert pdfs == expected, pdfs
        results[workers] = expected / seconds
        print(
            f"{workers} worker(s): {expected} PDFs in {seconds:.1f} s = "
            f"{results[workers]:.2f} PDFs/s (whole command: start, render, zip)"
        )
    if 1 in results:
        for workers, rate in results.items():
            if workers != 1:
                print(f"speed-up with {workers} workers: {rate / results[1]:.2f}×")
    print(f"files in {workdir}")


def create_year(count: int) -> None:
    from django.db import transaction

    from evaluations.demo import fill_evaluation, load_demo, sample_data
    from evaluations.models import Evaluation, Unit

    sample, _ = load_demo()
    district = sample.unit.district
    # A database left from an earlier run (BENCHMARK_DATABASE_URL): start afresh.
    earlier = Unit.objects.filter(code__startswith="BENCH-")
    Evaluation.objects.filter(unit__in=earlier).delete()
    earlier.filter(parent__isnull=False).delete()
    earlier.delete()
    randomness = random.Random(2023)
    parents = [
        Unit.objects.create(
            code=f"BENCH-P{number:02}", name=f"闵行区第{number}街道办事处", district=district
        )
        for number in range(1, 11)
    ]
    with transaction.atomic():
        for number in range(1, count):
            data = sample_data()
            # Its own money: the sample's scaled, 80–100 % executed, and still adding up
            # (财政拨款 + 其他资金 = 基本支出 + 项目支出).
            factor = Decimal(randomness.randint(20, 300)) / 100
            share = Decimal(randomness.randint(8000, 10000)) / 10000
            budget = data["budget"]
            for kind in ("other", "basic", "project"):
                planned = (Decimal(budget[kind][0]) * factor).quantize(Decimal("0.01"))
                budget[kind] = [planned, (planned * share).quantize(Decimal("0.01"))]
            budget["fiscal"] = [
                budget["basic"][index] + budget["project"][index] - budget["other"][index]
                for index in (0, 1)
            ]
            data["budget"] = {kind: [str(value) for value in pair] for kind, pair in budget.items()}
            # Its own self-score: a few rows lose points, with a reason.
            for group in data["groups"]:
                for category in group["categories"]:
                    for row in category["indicators"]:
                        if randomness.random() < 0.15:
                            points = Decimal(row["points"])
                            row["score"] = str((points * Decimal("0.5")).quantize(Decimal("0.01")))
                            row["deviation_reason"] = "受年度工作调整影响，部分任务延后完成。"
            unit = Unit.objects.create(
                code=f"BENCH-U{number:04}",
                name=f"闵行区第{number % 10 + 1}街道第{number}服务中心",
                district=district,
                parent=parents[number % 10],
            )
            evaluation = Evaluation.objects.create(
                unit=unit,
                year=2023,
                target_text=data["target_text"],
                result_text=data["result_text"],
            )
            fill_evaluation(evaluation, data)


def time_overview() -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from evaluations.overview import describe, overview_rows

    admin = get_user_model().objects.get(username="admin")
    seconds = []
    for _ in range(5):
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            rows = [describe(unit) for unit in overview_rows(admin, 2023, sort="-score")]
            seconds.append(time.perf_counter() - started)
    print(
        f"overview query of {len(rows)} units: best of 5 {min(seconds) * 1000:.0f} ms,"
        f" {len(queries)} query"
    )


if __name__ == "__main__":
    main()
