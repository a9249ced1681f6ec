"""How fast and how big the official table's PDF is.

    .venv/bin/python benchmarks/pdf.py [--repeat 10]

Sets up Django on a throwaway SQLite database, loads the 2023 sample and an evaluation
of 80 indicator rows with goal texts of 3,000 characters, renders each PDF `--repeat`
times in this (warm) process and prints the median time and the size; then times
`manage.py export_evaluation --format pdf` as a whole command in a fresh process.
Targets on a 2-core machine: sample ≤ 0.4 s and ≤ 300 KB, 80 rows ≤ 1.5 s, command ≤ 3 s.
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = "街道围绕“高效处置一件事”的工作要求，做实处置网格，提升基层治理能力。"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="warm renders per PDF")
    parser.add_argument("--commands", type=int, default=3, help="cold command runs")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="pdf-benchmark-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'benchmark.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()

    import pypdf
    from django.core.management import call_command

    from evaluations.demo import load_demo
    from evaluations.models import Evaluation, Unit
    from evaluations.pdf import render_pdf
    from tests.conftest import make_evaluation, synthetic_data

    call_command("migrate", verbosity=0)
    sample, _ = load_demo()
    data = synthetic_data(80)
    data["target_text"] = data["result_text"] = f"<p>{(GOAL * 100)[:3000]}</p>"
    unit = Unit.objects.create(
        code="BENCH-80", name="八十行测试单位", district=sample.unit.district
    )
    long = make_evaluation(unit, data=data)

    print(f"WeasyPrint render, warm, median of {arguments.repeat}:")
    for label, evaluation in [
        ("sample (24 rows)", sample),
        ("80 rows, 3,000-character goals", long),
    ]:
        evaluation = Evaluation.objects.with_table().get(pk=evaluation.pk)
        content = render_pdf(evaluation)  # the first render of a process loads the fonts
        seconds = []
        for _ in range(arguments.repeat):
            start = time.perf_counter()
            content = render_pdf(evaluation)
            seconds.append(time.perf_counter() - start)
        pages = len(pypdf.PdfReader(io.BytesIO(content)).pages)
        print(
            f"  {label}: {statistics.median(seconds):.3f} s"
            f" (min {min(seconds):.3f}, max {max(seconds):.3f}), {len(content):,} bytes, {pages} pages"
        )

    output = workdir / "sample.pdf"
    command = [
        sys.executable,
        "manage.py",
        "export_evaluation",
        "--unit",
        sample.unit.code,
        "--year",
        str(sample.year),
        "--format",
        "pdf",
        "--output",
        str(output),
    ]
    seconds = []
    for _ in range(arguments.commands):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=os.environ, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    runs = ", ".join(f"{value:.2f}" for value in seconds)
    print(
        f"manage.py export_evaluation --format pdf, cold process: {statistics.median(seconds):.2f} s"
        f" median of {arguments.commands} ({runs}), {output.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    main()
