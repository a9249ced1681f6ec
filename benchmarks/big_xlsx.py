"""How fast, and in how much memory, an oversized workbook is refused: 178,296 rows
of 9 cells (1.6 million), under 5 MB compressed about 1:9 — inside every file
limit — against reading the sample's own workbook.

    .venv/bin/python benchmarks/big_xlsx.py
    .venv/bin/python benchmarks/big_xlsx.py --unguarded   # also openpyxl on the whole file (slow)

The file is written to a temporary folder and read back from there. The sample
lives in a throwaway test database (test_<name>), created and dropped here.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

from evaluations.demo import fill_evaluation, sample_data  # noqa: E402
from evaluations.models import District, Evaluation, Unit  # noqa: E402
from evaluations.workbook import render_xlsx  # noqa: E402
from evaluations.workbook_import import read_workbook  # noqa: E402
from evaluations.xlsx import SafeXLSX, WorkbookError  # noqa: E402
from tests.workbooks import tall_workbook  # noqa: E402

RUNS = 5


def median_ms(function, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_kb(function) -> float:
    """Peak Python memory allocated while `function` runs, in kB."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def sample_workbook() -> bytes:
    data = sample_data()
    district = District.objects.create(code=data["district"]["code"], name="闵行区")
    unit = Unit.objects.create(
        code=data["unit"]["code"], name=data["unit"]["name"], district=district
    )
    evaluation = Evaluation.objects.create(
        unit=unit,
        year=data["year"],
        target_text=data["target_text"],
        result_text=data["result_text"],
    )
    fill_evaluation(evaluation, data)
    return render_xlsx(Evaluation.objects.with_table().get(pk=evaluation.pk))


def refuse_table(content: bytes) -> str:
    result = read_workbook(content)
    assert result.errors and not result.data, result.errors
    return result.errors[0]


def refuse_bulk(content: bytes) -> str:
    try:
        SafeXLSX().create_dataset(content)
    except WorkbookError as error:
        return str(error)
    raise AssertionError("the bulk import accepted the tall workbook")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--unguarded", action="store_true", help="also time openpyxl loading the whole file"
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tall.xlsx"
        start = time.perf_counter()
        path.write_bytes(tall_workbook())
        made_s = time.perf_counter() - start
        tall = path.read_bytes()
    print(f"大文件：{len(tall) / 1024 / 1024:.2f} MB，178,296 行 × 9 列（生成 {made_s:.1f} s）")

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        sample = sample_workbook()
    finally:
        teardown_databases(databases, verbosity=0)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sample_ms = median_ms(lambda: read_workbook(sample))
    table_ms = median_ms(lambda: refuse_table(tall))
    bulk_ms = median_ms(lambda: refuse_bulk(tall))
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"读取样表工作簿（{len(sample) / 1024:.0f} KB）：{sample_ms:8.1f} ms")
    print(
        f"自评表导入拒绝大文件：        {table_ms:8.1f} ms  = 读取样表的 {table_ms / sample_ms:5.2f} 倍"
        f"  峰值内存 {peak_kb(lambda: refuse_table(tall)):,.0f} kB（tracemalloc）"
    )
    print(f"  “{refuse_table(tall)}”")
    print(
        f"批量导入拒绝大文件：          {bulk_ms:8.1f} ms  = 读取样表的 {bulk_ms / sample_ms:5.2f} 倍"
        f"  峰值内存 {peak_kb(lambda: refuse_bulk(tall)):,.0f} kB（tracemalloc）"
    )
    print(f"  “{refuse_bulk(tall)}”")
    print(f"进程最大常驻内存：拒绝前 {rss_before / 1024:.0f} MB，拒绝后 {rss_after / 1024:.0f} MB")

    if arguments.unguarded:
        import io

        import openpyxl

        start = time.perf_counter()
        openpyxl.load_workbook(io.BytesIO(tall), data_only=True).close()
        unguarded_s = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"不检查、openpyxl 直接读取全文件：{unguarded_s:.1f} s，最大常驻内存 {rss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
