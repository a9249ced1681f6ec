"""A district year with its project forms: the overview, a unit's home page and the
bulk export of project forms.

    .venv/bin/python benchmarks/district_year.py [--units 350] [--projects 20]
                                                 [--export-count 1000] [--workers 1,2]

Creates, in a throwaway database (SQLite in a temporary folder, or the PostgreSQL
database named by BENCHMARK_DATABASE_URL), a district year of `--units` units under
ten 主管部门, each with its overall form and `--projects` project forms of 2023 (the
demo's 消防通道 project: its three money lines, eight indicators with results, every
unit's own figures), written with bulk_create. Then it measures, through Django's
test client as 管理员 and as one unit's 填报人:

- the overview of the project forms (and of the overall forms) with its workbook:
  queries and time, best of 3;
- a unit's home page (its overall form and its project forms): queries and time;

and runs `manage.py export_pdfs` for `--export-count` project forms of another year
(2024: units with project forms only, so the export holds exactly those) once per
worker count, each time with an empty export folder, printing PDFs per second and the
speed-up. `--export-count 0` skips the export (the longest part: ~0.4 s a PDF).
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
CENT = Decimal("0.01")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=350, help="units of the district year")
    parser.add_argument("--projects", type=int, default=20, help="project forms per unit")
    parser.add_argument("--export-count", type=int, default=1000, help="project PDFs to export")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="district-year-benchmark-"))
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCHMARK_DATABASE_URL", f"sqlite:///{workdir / 'benchmark.sqlite3'}"
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    staff = create_district_year(arguments.units, arguments.projects, 2023)
    forms = arguments.units * arguments.projects
    print(
        f"{arguments.units} units × {arguments.projects} projects = {forms} project forms"
        f" (and {arguments.units} overall forms) created in {time.perf_counter() - started:.1f} s"
    )
    measure_pages(staff)
    if arguments.export_count:
        export_units = -(-arguments.export_count // arguments.projects)
        create_district_year(export_units, arguments.projects, 2024, overall=False)
        export_count = export_units * arguments.projects
        time_exports(workdir, export_count, [int(value) for value in arguments.workers.split(",")])
    print(f"files in {workdir}")


def create_district_year(unit_count: int, per_unit: int, year: int, *, overall: bool = True):
    """Units (prefixed by the year), their overall forms (the sample's tree) and their
    project forms (the demo project's tree), in bulk. Returns the first unit's 填报人."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from evaluations.demo import load_demo, project_data, sample_data
    from evaluations.kinds import LAYOUTS, FormKind
    from evaluations.models import Evaluation, Project, Unit
    from evaluations.roles import ROLE_STAFF

    sample, _ = load_demo()
    district = sample.unit.district
    randomness = random.Random(year)
    with transaction.atomic():
        parents = Unit.objects.bulk_create(
            Unit(
                code=f"B{year}-P{number:02}", name=f"闵行区第{number}街道办事处", district=district
            )
            for number in range(1, 11)
        )
        units = Unit.objects.bulk_create(
            Unit(
                code=f"B{year}-U{number:04}",
                name=f"闵行区第{number % 10 + 1}街道第{number}服务中心",
                district=district,
                parent=parents[number % 10],
            )
            for number in range(unit_count)
        )
        forms = []
        if overall:
            forms += [
                (Evaluation(unit=unit, year=year, subordinate_unit_count=0), sample_data())
                for unit in units
            ]
        projects = Project.objects.bulk_create(
            Project(
                unit=unit,
                code=f"B{year}-U{index:04}-{number:02}",
                name=f"第{index}单位项目{number}：消防通道乱停车预警智能分析",
                first_year=year,
            )
            for index, unit in enumerate(units)
            for number in range(per_unit)
        )
        template = project_data()["projects"][0]
        for project in projects:
            form = Evaluation(
                kind=FormKind.PROJECT,
                project=project,
                unit=project.unit,
                year=year,
                subordinate_unit_count=0,
                budget_points=Decimal("10.00"),
                phase=Evaluation.Phase.RESULTS,
                status=Evaluation.Status.SUBMITTED,
                target_text=template["target_text"],
                result_text=template["result_text"],
            )
            forms.append((form, own_figures(template, randomness)))
        write_trees(forms, LAYOUTS)
        user = get_user_model().objects.create_user(f"bench-staff-{year}", password="x")
        user.groups.add(Group.objects.get(name=ROLE_STAFF))
        units[0].staff.add(user)
    return user


def own_figures(template: dict, randomness: random.Random) -> dict:
    """The demo project's tree with its own money (60–100 % executed) and scores."""
    data = {**template, "groups": template["groups"]}
    factor = Decimal(randomness.randint(20, 300)) / 100
    share = Decimal(randomness.randint(6000, 10000)) / 10000
    initial, budget, _ = (Decimal(value) for value in template["budget"]["fiscal"])
    budget = (budget * factor).quantize(CENT)
    data["budget"] = {
        "fiscal": [
            str((initial * factor).quantize(CENT)),
            str(budget),
            str((budget * share).quantize(CENT)),
        ],
        "carryover": ["0.00", "0.00", "0.00"],
        "other": ["0.00", "0.00", "0.00"],
    }
    return data


def write_trees(forms: list, layouts: dict) -> None:
    """The forms, their budget lines and indicator trees, a bulk_create per table."""
    from evaluations.models import BudgetLine, Evaluation
    from indicators.models import Indicator, IndicatorCategory, IndicatorGroup

    created = Evaluation.objects.bulk_create([form for form, _ in forms], batch_size=2000)
    lines, groups, group_data = [], [], []
    for form, data in zip(created, (data for _, data in forms), strict=True):
        layout = layouts[form.kind]
        columns = [name for name, _ in layout.budget_columns]
        for kind in layout.budget_kinds:
            amounts = data["budget"].get(kind, [])
            lines.append(
                BudgetLine(
                    evaluation=form,
                    kind=kind,
                    **{name: Decimal(value) for name, value in zip(columns, amounts, strict=False)},
                )
            )
        for position, group in enumerate(data["groups"], start=1):
            groups.append(
                IndicatorGroup(
                    evaluation=form,
                    position=position,
                    name=group["name"],
                    weight=Decimal(group["weight"]),
                    note=group.get("note", ""),
                )
            )
            group_data.append(group)
    BudgetLine.objects.bulk_create(lines, batch_size=5000)
    groups = IndicatorGroup.objects.bulk_create(groups, batch_size=5000)
    categories, category_data = [], []
    for group, data in zip(groups, group_data, strict=True):
        for position, category in enumerate(data["categories"], start=1):
            categories.append(
                IndicatorCategory(group=group, position=position, name=category["name"])
            )
            category_data.append(category)
    categories = IndicatorCategory.objects.bulk_create(categories, batch_size=5000)
    indicators = []
    for category, data in zip(categories, category_data, strict=True):
        for position, row in enumerate(data["indicators"], start=1):
            indicator = Indicator(
                category=category,
                position=position,
                name=row["name"],
                points=Decimal(row["points"]),
                score=Decimal(row["score"]) if row.get("score") not in (None, "") else None,
                deviation_reason=row.get("deviation_reason", ""),
            )
            indicator.target = row.get("target", "")
            indicator.actual = row.get("actual", "")
            indicators.append(indicator)
    Indicator.objects.bulk_create(indicators, batch_size=5000)


def timed(client, url: str, repeat: int = 3) -> tuple[float, int, object]:
    """Best time of `repeat` GETs, and the queries of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seconds, response = [], None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return min(seconds), len(queries), response


def measure_pages(staff) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.get(username="admin")
    client = Client()
    client.force_login(admin)
    for label, url in [
        ("overview, project forms", "/overview/?year=2023&kind=project"),
        ("overview, project forms, by 总分", "/overview/?year=2023&kind=project&sort=-score"),
        ("overview workbook, project forms", "/overview.xlsx?year=2023&kind=project"),
        ("overview, overall forms", "/overview/?year=2023"),
        ("home page of 管理员 (first 500 listed)", "/"),
    ]:
        seconds, queries, _ = timed(client, url)
        print(f"{label}: {seconds * 1000:.0f} ms, {queries} queries")
    unit_client = Client()
    unit_client.force_login(staff)
    seconds, queries, response = timed(unit_client, "/")
    page = response.content.decode()
    listed = page.count('class="overall-form"') + page.count('class="project-form"')
    print(f"a unit's home page ({listed} forms): {seconds * 1000:.0f} ms, {queries} queries")


def time_exports(workdir: Path, count: int, worker_counts: list[int]) -> None:
    results = {}
    for workers in worker_counts:
        export_root = workdir / f"exports-{workers}"
        output = workdir / f"export-{workers}.zip"
        environment = {**os.environ, "EXPORT_ROOT": str(export_root)}
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "export_pdfs",
            "--year",
            "2024",
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
        assert pdfs == count, pdfs
        results[workers] = count / seconds
        print(
            f"{workers} worker(s): {count} project PDFs in {seconds:.1f} s = "
            f"{results[workers]:.2f} PDFs/s (whole command: start, render, zip)"
        )
    if 1 in results:
        for workers, rate in results.items():
            if workers != 1:
                print(f"speed-up with {workers} workers: {rate / results[1]:.2f}×")


if __name__ == "__main__":
    main()
