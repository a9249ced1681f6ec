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
A measurement and its reference are taken in turn — naive, sample, 80 rows; warm render,
cold command — so that a change of load on the machine during the run weighs on both,
and each warm render starts after a garbage collection, as timeit's do.
Goals: sample ≤ 200 KB, ≤ 0.30× the naive render; cold command ≤ 3× the warm render.
"""

import argparse
import gc
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

    renders = [
        (NAIVE, naive_render),
        (SAMPLE, partial(render_pdf, table_of(sample))),
        ("80 rows, 3,000-character goals", partial(render_pdf, table_of(long))),
    ]
    # The first render of a process loads the fonts.
    contents = {label: render() for label, render in renders}
    seconds = {label: [] for label, _ in renders}
    cpu_seconds = {label: [] for label, _ in renders}
    for _ in range(arguments.repeat):
        for label, render in renders:
            # As timeit does: the garbage of the render before is not this one's to collect.
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            contents[label] = render()
            seconds[label].append(time.perf_counter() - start)
            cpu_seconds[label].append(time.process_time() - start_cpu)
    print(
        f"WeasyPrint render, warm, median of {arguments.repeat}, the three in turn"
        " (wall clock; CPU time):"
    )
    wall, cpu, fastest = {}, {}, {}
    for label, _ in renders:
        content = contents[label]
        pages = len(pypdf.PdfReader(io.BytesIO(content)).pages)
        wall[label], cpu[label] = (
            statistics.median(seconds[label]),
            statistics.median(cpu_seconds[label]),
        )
        fastest[label] = min(seconds[label])
        print(
            f"  {label}: {wall[label]:.3f} s (min {min(seconds[label]):.3f},"
            f" max {max(seconds[label]):.3f}); CPU {cpu[label]:.3f} s;"
            f" {len(content):,} bytes, {pages} pages"
        )
    sample_size = len(contents[SAMPLE])
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
    render_sample = renders[1][1]
    for label, keep_store in [("not drawn yet", False), ("drawn before", True)]:
        seconds, cpu_seconds, warm, warm_cpu = [], [], [], []
        for _ in range(arguments.commands):
            # The reference, the warm render of the same PDF, just before each command.
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            render_sample()
            warm.append(time.perf_counter() - start)
            warm_cpu.append(time.process_time() - start_cpu)
            if not keep_store:
                shutil.rmtree(exports, ignore_errors=True)
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, cwd=ROOT, env=os.environ, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        runs = ", ".join(f"{value:.2f}" for value in seconds)
        cold, cold_cpu = statistics.median(seconds), statistics.median(cpu_seconds)
        reference, reference_cpu = statistics.median(warm), statistics.median(warm_cpu)
        print(
            f"manage.py export_evaluation --format pdf, cold process, form {label}:"
            f" {cold:.2f} s median of {arguments.commands} ({runs}); CPU {cold_cpu:.2f} s;"
            f" {output.stat().st_size:,} bytes; {cold / reference:.1f}× the warm render"
            f" taken in turn ({reference:.3f} s; CPU {cold_cpu / reference_cpu:.1f}×,"
            f" fastest runs {min(seconds) / min(warm):.1f}×; goal ≤ 3×)"
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
import django.core.management; phase("import django.core.management (as manage.py does)")
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
