"""How fast and how big the official table's PDF is.

    .venv/bin/python benchmarks/pdf.py [--repeat 10]

Sets up Django on a throwaway SQLite database, loads the 2023 sample and an evaluation
of 80 indicator rows with goal texts of 3,000 characters, renders each PDF `--repeat`
times in this (warm) process and prints the median time and the size; then times
`manage.py export_evaluation --format pdf` as a whole command in fresh processes, for a
form not drawn yet (an empty PDF store) and for one drawn before (the stored PDF), and
where a fresh process drawing the sample spends its CPU time.

Times on a shared machine vary from run to run, so each is given as wall-clock and
as CPU time, and ratios also of the fastest runs (the least disturbed, as timeit
reports); the sample is measured against references taken in the same run: a naive WeasyPrint render of the sample's
raw text as extracted from the official table (`benchmarks/data/sample_2023.txt`, its
tab-separated cells as one plain `<table>`), and the cold command against the warm render of the same PDF.
Goals: sample ≤ 200 KB, ≤ 0.30× the naive render; cold command ≤ 3× the warm render.
"""

import argparse
import html
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAIVE = "naive: the sample's raw text as a table"
SAMPLE = "sample (24 rows)"
SEED_TEXT = ROOT / "benchmarks" / "data" / "sample_2023.txt"
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
    from weasyprint import HTML

    from evaluations.demo import load_demo
    from evaluations.models import Evaluation, Unit
    from evaluations.pdf import FONT_CONFIG, render_pdf
    from tests.conftest import make_evaluation, synthetic_data

    call_command("migrate", verbosity=0)
    sample, _ = load_demo()
    data = synthetic_data(80)
    data["target_text"] = data["result_text"] = f"<p>{(GOAL * 100)[:3000]}</p>"
    unit = Unit.objects.create(
        code="BENCH-80", name="八十行测试单位", district=sample.unit.district
    )
    long = make_evaluation(unit, data=data)

    def table_of(evaluation: Evaluation) -> Evaluation:
        return Evaluation.objects.with_table().get(pk=evaluation.pk)

    # The naive render: the raw text as a plain table of its tab-separated cells
    # (automatic table layout, no page planning), with the fonts this process loaded.
    naive_html = (
        '<html lang="zh-CN"><body style="font-family: \'Noto Serif CJK SC\'; font-size: 9pt">'
        '<table border="1">'
        + "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in line.split("\t")) + "</tr>"
            for line in SEED_TEXT.read_text(encoding="utf-8").splitlines()
        )
        + "</table></body></html>"
    )

    def naive_render() -> bytes:
        return HTML(string=naive_html).write_pdf(font_config=FONT_CONFIG)

    print(f"WeasyPrint render, warm, median of {arguments.repeat} (wall clock; CPU time):")
    wall, cpu, fastest = {}, {}, {}
    for label, render in [
        (NAIVE, naive_render),
        (SAMPLE, partial(render_pdf, table_of(sample))),
        ("80 rows, 3,000-character goals", partial(render_pdf, table_of(long))),
    ]:
        content = render()  # the first render of a process loads the fonts
        seconds, cpu_seconds = [], []
        for _ in range(arguments.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            content = render()
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - start_cpu)
        pages = len(pypdf.PdfReader(io.BytesIO(content)).pages)
        wall[label], cpu[label] = statistics.median(seconds), statistics.median(cpu_seconds)
        fastest[label] = min(seconds)
        print(
            f"  {label}: {wall[label]:.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f});"
            f" CPU {cpu[label]:.3f} s; {len(content):,} bytes, {pages} pages"
        )
        if label == SAMPLE:
            sample_size = len(content)
    print(
        f"sample: {sample_size:,} bytes ({sample_size / 1024:.0f} KB, goal ≤ 200 KB);"
        f" {wall[SAMPLE] / wall[NAIVE]:.2f}× the naive render"
        f" (CPU {cpu[SAMPLE] / cpu[NAIVE]:.2f}×, fastest runs {fastest[SAMPLE] / fastest[NAIVE]:.2f}×;"
        " goal ≤ 0.30×)"
    )

    # The command in fresh processes: first for a form not drawn yet (the store
    # emptied before each run), then for one drawn before (the store kept).
    exports = workdir / "exports"
    os.environ["EXPORT_ROOT"] = str(exports)
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
    for label, keep_store in [("not drawn yet", False), ("drawn before", True)]:
        seconds, cpu_seconds = [], []
        for _ in range(arguments.commands):
            if not keep_store:
                shutil.rmtree(exports, ignore_errors=True)
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, cwd=ROOT, env=os.environ, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        runs = ", ".join(f"{value:.2f}" for value in seconds)
        cold, cold_cpu = statistics.median(seconds), statistics.median(cpu_seconds)
        print(
            f"manage.py export_evaluation --format pdf, cold process, form {label}:"
            f" {cold:.2f} s median of {arguments.commands} ({runs}); CPU {cold_cpu:.2f} s;"
            f" {output.stat().st_size:,} bytes; {cold / wall[SAMPLE]:.1f}× the warm render"
            f" (CPU {cold_cpu / cpu[SAMPLE]:.1f}×, fastest runs {min(seconds) / fastest[SAMPLE]:.1f}×;"
            " goal ≤ 3×)"
        )

    # Where a cold process drawing the sample spends its time (CPU seconds, medians).
    phases = [json.loads(run_phases(sample)) for _ in range(arguments.commands)]
    print("a fresh process drawing the sample, CPU time by phase (median):")
    for name in phases[0]:
        print(f"  {name}: {statistics.median(run[name] for run in phases):.3f} s")


PHASES = """
import json, sys, time
phases, last = {}, time.process_time()
def phase(name):
    global last
    now = time.process_time()
    phases[name] = round(now - last, 4)
    last = now
phases["interpreter start"] = round(last, 4)
import django
django.setup(); phase("django.setup()")
from evaluations.pdf import render_pdf; phase("import evaluations.pdf (WeasyPrint)")
from evaluations.models import Evaluation
evaluation = Evaluation.objects.with_table().get(pk=int(sys.argv[1])); phase("the form's query")
render_pdf(evaluation); phase("first render (fonts loaded)")
render_pdf(evaluation); phase("second render")
print(json.dumps(phases))
"""


def run_phases(evaluation) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PHASES, str(evaluation.pk)],
        cwd=ROOT,
        env=os.environ,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


if __name__ == "__main__":
    main()
