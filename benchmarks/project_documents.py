"""The project form's documents beside the overall form's, in one run: the PDF, the
workbook out, and the workbook back in (read, preview, printed-figure findings).

    .venv/bin/python benchmarks/project_documents.py [--repeat 10]

Runs against a throwaway test database (created and dropped here), with the demo:
the sample unit's 2023 overall form (24 indicator rows) and its project form
消防通道乱停车预警智能分析项目 (PJ-2023-001). Each document is made once to warm the
process (fonts, templates), then `--repeat` times; the medians are printed as
wall-clock and CPU time, with the ratio project / overall. The machine is shared,
so CPU time is the steadier of the two.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

from evaluations.demo import load_demo  # noqa: E402
from evaluations.models import Evaluation  # noqa: E402
from evaluations.pdf import render_pdf  # noqa: E402
from evaluations.table import build_table  # noqa: E402
from evaluations.workbook import render_xlsx  # noqa: E402
from evaluations.workbook_import import preview, printed_findings, read_workbook  # noqa: E402


def timed(function, repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU milliseconds of `repeat` runs after one warm-up run."""
    result = function()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus), result


def figures(evaluation: Evaluation, repeat: int) -> dict[str, tuple[float, float, int]]:
    def loaded() -> Evaluation:
        return Evaluation.objects.with_table().get(pk=evaluation.pk)

    pdf_wall, pdf_cpu, pdf = timed(lambda: render_pdf(loaded()), repeat)
    xlsx_wall, xlsx_cpu, xlsx = timed(lambda: render_xlsx(loaded()), repeat)

    def import_once() -> int:
        current = loaded()
        result = read_workbook(xlsx, current.layout)
        assert not result.errors, result.errors
        changes = preview(current, result.data)
        findings = printed_findings(current, result.data)
        assert not changes and not findings, (changes, findings)
        return len(changes)

    import_wall, import_cpu, _ = timed(import_once, repeat)
    return {
        "PDF": (pdf_wall, pdf_cpu, len(pdf)),
        "xlsx 导出": (xlsx_wall, xlsx_cpu, len(xlsx)),
        "xlsx 导入预览": (import_wall, import_cpu, len(xlsx)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per document")
    arguments = parser.parse_args()

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        sample, _ = load_demo()
        project = Evaluation.objects.get(project__code="PJ-2023-001", year=sample.year)
        rows = {
            evaluation.pk: build_table(
                Evaluation.objects.with_table().get(pk=evaluation.pk)
            ).row_count
            for evaluation in (sample, project)
        }
        print(
            f"数据库：{connection.vendor}；每项预热 1 次后取 {arguments.repeat} 次的中位数"
            "（墙钟 / CPU）"
        )
        print(f"整体支出：{sample}，{rows[sample.pk]} 行指标")
        print(f"项目支出：{project}，{rows[project.pk]} 行指标")
        overall = figures(sample, arguments.repeat)
        projects = figures(project, arguments.repeat)
        print(f"{'':<12}{'整体支出':>22}{'项目支出':>22}{'比值（项目/整体）':>20}")
        for name, (wall, cpu, size) in overall.items():
            project_wall, project_cpu, project_size = projects[name]
            sizes = f"   文件 {size / 1024:.0f} KB / {project_size / 1024:.0f} KB"
            print(
                f"{name:<12}"
                f"{wall:8.1f} / {cpu:6.1f} ms{'':>3}"
                f"{project_wall:8.1f} / {project_cpu:6.1f} ms{'':>3}"
                f"{project_wall / wall:7.2f} / {project_cpu / cpu:4.2f}"
                + (sizes if name != "xlsx 导入预览" else "")
            )
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
