"""Speed of the Excel doors: export and import of the sample and of an 80-row
evaluation, and bulk imports of 500 units and a 10,000-line indicator template.

    .venv/bin/python benchmarks/xlsx.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/jixiao .venv/bin/python benchmarks/xlsx.py

Runs against a throwaway test database (test_<name>), created and dropped here:
the application's own database is never touched.
"""

import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import openpyxl  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, setup_test_environment, teardown_databases  # noqa: E402

from evaluations.demo import fill_evaluation, sample_data  # noqa: E402
from evaluations.models import District, Evaluation, Unit  # noqa: E402
from evaluations.resources import UnitResource  # noqa: E402
from evaluations.workbook import render_xlsx  # noqa: E402
from evaluations.workbook_import import (  # noqa: E402
    apply_upload,
    preview,
    read_workbook,  # noqa: E402
    store_upload,
)
from evaluations.xlsx import SafeXLSX  # noqa: E402
from indicators.resources import IndicatorTemplateResource  # noqa: E402

RUNS = 5


def timed(function, runs: int = RUNS) -> tuple[float, object]:
    """Median wall time in milliseconds, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def synthetic(row_count: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.conftest import synthetic_data

    return synthetic_data(row_count)


def make_evaluation(unit: Unit, data: dict) -> Evaluation:
    evaluation = Evaluation.objects.create(
        unit=unit,
        year=data["year"],
        target_text=data["target_text"],
        result_text=data["result_text"],
    )
    fill_evaluation(evaluation, data)
    return evaluation


def workbook(headers: list, rows) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def evaluation_figures(label: str, evaluation: Evaluation, user) -> None:
    def export() -> bytes:
        return render_xlsx(Evaluation.objects.with_table().get(pk=evaluation.pk))

    export_ms, content = timed(export)

    def import_once() -> int:
        result = read_workbook(content)
        assert not result.errors, result.errors
        current = Evaluation.objects.with_table().get(pk=evaluation.pk)
        changes = preview(current, result.data)
        apply_upload(store_upload(current, user, "x.xlsx", result.data), by=user)
        return len(changes)

    import_ms, changes = timed(import_once)
    rows = sum(
        len(category["indicators"])
        for group in read_workbook(content).data["groups"]
        for category in group["categories"]
    )
    print(
        f"{label:<28} {rows:>3} 行  导出 {export_ms:7.1f} ms  "
        f"导入（读取+预览+应用）{import_ms:7.1f} ms  文件 {len(content) / 1024:5.1f} KB"
        f"  变更 {changes}"
    )


def main() -> None:
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        print(f"数据库：{connection.vendor}；每项取 {RUNS} 次的中位数（批量导入各 1 次）")
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_superuser("bench", "bench@example.org", "x")
        data = sample_data()
        district = District.objects.create(code=data["district"]["code"], name="闵行区")
        parent = Unit.objects.create(code="310112-PJ", name="浦锦街道", district=district)
        unit = Unit.objects.create(
            code=data["unit"]["code"], name=data["unit"]["name"], district=district, parent=parent
        )
        evaluation_figures("样表（2023 浦锦城运中心）", make_evaluation(unit, data), user)
        big = Unit.objects.create(code="BENCH-80", name="八十行测试单位", district=district)
        evaluation_figures("80 行自评表", make_evaluation(big, synthetic(80)), user)

        units = workbook(
            ["单位编码", "部门（单位）名称", "所属区编码", "主管部门编码"],
            [
                [f"310112-B{index:03}", f"测试单位{index}", "310112", "310112-PJ"]
                for index in range(500)
            ],
        )
        start = time.perf_counter()
        result = UnitResource(districts=District.objects.all()).import_data(
            SafeXLSX().create_dataset(units)
        )
        seconds = time.perf_counter() - start
        assert not result.has_errors() and not result.has_validation_errors()
        print(f"导入 500 个单位            {seconds:7.2f} s   文件 {len(units) / 1024:5.1f} KB")

        lines = []
        for group in range(20):
            for category in range(25):
                for line in range(20):
                    lines.append(
                        [2024, f"一级指标{group}", 5, "", f"二级指标{category}",
                         f"三级指标{line}", None, "0.25", "≥90.00(%)"]
                    )  # fmt: skip
        template = workbook(
            ["年度", "一级指标", "权重", "三级指标说明", "二级指标", "三级指标",
             "基础分占比（%）", "分值", "默认年度指标值"],
            lines,
        )  # fmt: skip
        start = time.perf_counter()
        result = IndicatorTemplateResource().import_data(SafeXLSX().create_dataset(template))
        seconds = time.perf_counter() - start
        assert not result.has_errors() and not result.has_validation_errors()
        print(
            f"导入指标库 {len(lines):,} 行        {seconds:7.2f} s   文件 {len(template) / 1024:5.1f} KB"
        )
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
