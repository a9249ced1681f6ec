"""The reviewer's queue: submitted evaluations of their districts, oldest first."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluations import workflow
from evaluations.models import Evaluation, Unit

from .conftest import make_evaluation, make_unit

QUEUE = reverse("review_queue")


def test_the_queue_lists_submitted_evaluations_of_the_district(
    client, reviewer, staff, sample, other_unit, other_district
):
    workflow.submit(sample, by=staff)
    make_evaluation(other_unit)  # a draft: not in the queue
    elsewhere = make_evaluation(make_unit("310104-X", "徐汇区某单位", other_district))
    Evaluation.objects.filter(pk=elsewhere.pk).update(status="submitted")
    client.force_login(reviewer)
    page = client.get(QUEUE).content.decode()
    assert reverse("evaluation_table", args=[sample.pk]) in page
    assert "闵行区新虹街道" not in page
    assert "徐汇区某单位" not in page
    assert "年初目标待审核 <strong>1</strong> 份" in page
    assert "首次" in page


def test_a_resubmission_says_so(client, reviewer, staff, sample):
    workflow.submit(sample, by=staff)
    workflow.return_for_revision(sample, by=reviewer, reason="请补充")
    workflow.submit(sample, by=staff)
    client.force_login(reviewer)
    assert "第 2 次（退回后重新提交）" in client.get(QUEUE).content.decode()


def test_the_queue_filters_by_year_and_phase(client, reviewer, staff, sample):
    workflow.submit(sample, by=staff)
    client.force_login(reviewer)
    link = reverse("evaluation_table", args=[sample.pk])
    assert link in client.get(QUEUE, {"year": "2023", "phase": "targets"}).content.decode()
    assert link not in client.get(QUEUE, {"year": "2022"}).content.decode()
    assert link not in client.get(QUEUE, {"phase": "results"}).content.decode()


def test_the_queue_is_get_only(client, reviewer):
    client.force_login(reviewer)
    assert client.post(QUEUE).status_code == 405


@pytest.mark.parametrize("count", [10, 1000])
def test_the_queue_runs_a_fixed_number_of_queries(client, reviewer, district, count):
    units = Unit.objects.bulk_create(
        Unit(code=f"U{index:03}", name=f"单位{index}", district=district) for index in range(count)
    )
    Evaluation.objects.bulk_create(
        Evaluation(unit=unit, year=2023, status="submitted", subordinate_unit_count=0)
        for unit in units
    )
    client.force_login(reviewer)
    client.get(QUEUE)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(QUEUE)
    assert response.content.decode().count("单位") >= count
    # Session, user, roles, the counts by phase, the queue, the top bar's to-do count
    # (the session is not written).
    assert len(queries) == 6, "\n".join(query["sql"] for query in queries.captured_queries)
