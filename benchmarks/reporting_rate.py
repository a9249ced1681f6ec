"""The reporting rate page (报送率) of a district year of project forms, timed against
the login page in the same run.

    .venv/bin/python benchmarks/reporting_rate.py [--forms 7000] [--units 350] [--rounds 7]

Creates, in a throwaway database (SQLite in a temporary folder, or the PostgreSQL
database named by BENCHMARK_DATABASE_URL), the demo, `--units` units under ten
主管部门 and `--forms` project forms of 2023 spread over them (a fifth each: draft,
submitted, returned, targets approved, results approved; a submission event for every
form that was submitted, a tenth of them after the due day), written with bulk_create,
and a targets window. Then, through Django's test client, it times the login page
(anonymous GET) and the reporting rate page of the project forms as the district's
审核人 and its workbook, taking turns, and prints each one's median of `--rounds`, its
queries and its ratio to the login page's: timings on a shared machine move, the
ratio much less.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forms", type=int, default=7000, help="project forms of the year")
    parser.add_argument("--units", type=int, default=350, help="units they are spread over")
    parser.add_argument("--rounds", type=int, default=7, help="timed requests per page")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="reporting-rate-benchmark-"))
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
    reviewer = create_year(arguments.forms, arguments.units)
    print(
        f"{arguments.forms} project forms of {arguments.units} units created"
        f" in {time.perf_counter() - started:.1f} s"
    )
    measure(reviewer, arguments.rounds)
    print(f"files in {workdir}")


def create_year(form_count: int, unit_count: int):
    from django.db import transaction

    from evaluations.demo import DEMO_REVIEWER, load_demo
    from evaluations.kinds import FormKind
    from evaluations.models import FilingWindow, ReviewEvent
    from tests.conftest import many_project_forms

    sample, _ = load_demo()
    district = sample.unit.district
    reviewer = district.reviewers.get(username=DEMO_REVIEWER.username)
    due_on = date(2024, 3, 31)
    with transaction.atomic():
        FilingWindow.objects.create(
            district=district,
            year=2023,
            phase="targets",
            kind=FormKind.PROJECT,
            opens_on=date(2024, 3, 1),
            due_on=due_on,
        )
        events = many_project_forms(district, form_count, reviewer, unit_count)
        shanghai = ZoneInfo("Asia/Shanghai")
        for index, event in enumerate(events):
            late = index % 10 == 0
            event.created_at = datetime(2024, 3, 20, 10, tzinfo=shanghai) + timedelta(
                days=15 if late else 0
            )
        ReviewEvent.objects.bulk_update(events, ["created_at"], batch_size=2000)
    return reviewer


def measure(reviewer, rounds: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    anonymous, signed_in = Client(), Client()
    signed_in.force_login(reviewer)
    query = {"year": "2023", "kind": "project", "phase": "targets"}
    pages = {
        "login page": (anonymous, reverse("login"), {}),
        "reporting rate": (signed_in, reverse("reporting_rate"), query),
        "its workbook": (signed_in, reverse("reporting_rate_workbook"), query),
    }
    times = {name: [] for name in pages}
    queries = {}
    for client, url, data in pages.values():
        assert client.get(url, data).status_code == 200  # warm
    for _ in range(rounds):
        for name, (client, url, data) in pages.items():
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, data)
                times[name].append(time.perf_counter() - started)
            assert response.status_code == 200
            queries[name] = len(captured)
    login = statistics.median(times["login page"])
    for name in pages:
        median = statistics.median(times[name])
        print(
            f"{name:>15}: {median * 1000:7.1f} ms median of {rounds}, {queries[name]:>2} queries,"
            f" {median / login:6.1f} × the login page"
        )


if __name__ == "__main__":
    main()
