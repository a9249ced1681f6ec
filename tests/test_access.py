"""Who reaches what: every URL of the app against the whole cast.

404 for what a user may not see, 403 for what they see but may not do, 302 to the
login page for anonymous visitors (and to the admin's login for the admin)."""

import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from evaluations.models import (
    Attachment,
    Evaluation,
    ExportJob,
    Extension,
    FilingWindow,
    Project,
    Reminder,
    ReviewEvent,
    WorkbookUpload,
)
from evaluations.workbook import render_xlsx
from evaluations.workbook_import import read_workbook
from indicators.models import Indicator, IndicatorCategory, IndicatorGroup, IndicatorTemplate

from .conftest import make_evaluation, make_project_form
from .evidence_files import pdf

USERS = [
    "anonymous",
    "staff",
    "other_staff",
    "parent_staff",
    "reviewer",
    "other_reviewer",
    "admin",
    "manager",
    "parent_reviewer",
    "other_parent_reviewer",
]
LOGIN, DONE, ADMIN_LOGIN = "login", "done", "admin-login"
# A permanent redirect to the page's new address, the same for everyone (301 for a GET,
# 308 for a POST): it answers by the id alone, so it tells nobody whether a form exists.
MOVED = "moved"


def job(evaluation):
    """A finished export of the evaluation's year, its zip on disk (empty: rendering
    is tested in test_bulk_export; here only who reaches it counts)."""
    archive = Path(settings.EXPORT_ROOT) / "jobs" / "2023.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(archive, "w").close()
    return ExportJob.objects.create(
        year=evaluation.year, status=ExportJob.Status.DONE, archive_path="jobs/2023.zip"
    )


def upload(evaluation):
    """A workbook the unit's own staff uploaded and has not yet confirmed."""
    return WorkbookUpload.objects.create(
        evaluation=evaluation,
        uploaded_by=evaluation.unit.staff.get(username="staff"),
        file_name="自评表.xlsx",
        data=read_workbook(render_xlsx(evaluation)).data,
        base_fingerprint="",
    )


def template_line(evaluation):
    """A line of next year's 指标库."""
    return IndicatorTemplate.objects.create(
        year=evaluation.year + 1,
        group_name="满意度指标",
        group_weight=Decimal("10"),
        category_name="服务对象满意度指标",
        name="群众满意度",
        points=Decimal("10"),
        default_target="≥90.00(%)",
    )


def row(evaluation):
    return Indicator.objects.filter(category__group__evaluation=evaluation).first()


def attachment(evaluation, sealed: bool = False):
    """A file the unit's staff attached to the first row (or, sealed, to the form)."""
    return Attachment.objects.create(
        evaluation=evaluation,
        indicator=None if sealed else row(evaluation),
        category="sealed" if sealed else "results",
        title="盖章版" if sealed else "佐证材料",
        file=ContentFile(pdf(), name="evidence.pdf"),
        file_name="材料.pdf",
        content_type="application/pdf",
        size=len(pdf()),
        sha256="0" * 64,
        phase=evaluation.phase,
        uploaded_by=evaluation.unit.staff.get(username="staff"),
    )


def filing_window(evaluation):
    """The targets window of the year after the sample's (the year the matrix posts),
    in the sample's district: its forms are not submitted, so 催办 has someone to remind."""
    window, _ = FilingWindow.objects.get_or_create(
        district=evaluation.unit.district,
        year=2024,
        phase="targets",
        kind="overall",
        defaults={"opens_on": "2024-01-01", "due_on": "2024-12-31"},
    )
    return window


# name: (method, url builder, state the evaluation is put in (phase, status and, while
# submitted, the level that holds it: the district unless named), expected per user in
# USERS order)
PAGES = {
    "home": ("get", lambda e: reverse("home"), ("targets", "draft"), [LOGIN] + [200] * 9),
    "start a year": ("post", lambda e: reverse("start_evaluation"), ("targets", "draft"),
                     [LOGIN, 302, 404, 404, 403, 403, 302, 302, 403, 403]),
    "overview": ("get", lambda e: reverse("overview"), ("targets", "draft"),
                 [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "overview workbook": ("get", lambda e: reverse("overview_workbook"), ("targets", "draft"),
                          [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "exports": ("get", lambda e: reverse("exports"), ("targets", "draft"),
                [LOGIN, 403, 403, 403, 403, 403, 200, 200, 403, 403]),
    "export job": ("get", lambda e: reverse("export_job", args=[job(e).pk]), ("targets", "draft"),
                   [LOGIN, 404, 404, 404, 404, 404, 200, 200, 404, 404]),
    "export progress": ("get", lambda e: reverse("export_progress", args=[job(e).pk]),
                        ("targets", "draft"), [LOGIN, 404, 404, 404, 404, 404, 200, 200, 404, 404]),
    "export retry": ("post", lambda e: reverse("export_retry", args=[job(e).pk]),
                     ("targets", "draft"), [LOGIN, 404, 404, 404, 404, 404, 302, 302, 404, 404]),
    "export download": ("get", lambda e: reverse("export_download", args=[job(e).pk]),
                        ("targets", "draft"), [LOGIN, 404, 404, 404, 404, 404, 200, 200, 404, 404]),
    "workbook import preview": ("get", lambda e: reverse("workbook_import_preview",
                                                         args=[e.pk, upload(e).pk]),
                                ("targets", "draft"), [LOGIN, 200, 404, 403, 403, 404, 403, 403, 403, 404]),
    "table": ("get", lambda e: reverse("evaluation_table", args=[e.pk]), ("targets", "draft"),
              [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "pdf": ("get", lambda e: reverse("evaluation_pdf", args=[e.pk]), ("targets", "draft"),
            [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "workbook": ("get", lambda e: reverse("evaluation_workbook", args=[e.pk]), ("targets", "draft"),
                 [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "workbook import": ("get", lambda e: reverse("workbook_import", args=[e.pk]), ("targets", "draft"),
                        [LOGIN, 200, 404, 403, 403, 404, 403, 403, 403, 404]),
    "submit": ("post", lambda e: reverse("submit_evaluation", args=[e.pk]), ("targets", "draft"),
               [LOGIN, DONE, 404, 403, 403, 404, 403, 403, 403, 404]),
    "return": ("post", lambda e: reverse("return_evaluation", args=[e.pk]), ("results", "submitted"),
               [LOGIN, 403, 404, 403, DONE, 404, 403, 403, 403, 404]),
    "approve": ("post", lambda e: reverse("approve_evaluation", args=[e.pk]), ("results", "submitted"),
                [LOGIN, 403, 404, 403, DONE, 404, 403, 403, 403, 404]),
    "recheck": ("post", lambda e: reverse("recheck_indicator", args=[e.pk, row(e).pk]),
                ("results", "submitted"), [LOGIN, 403, 404, 403, DONE, 404, 403, 403, 403, 404]),
    # (The matrix posts no row's fields: the reviewer is told nothing changed; saving is
    # tested in test_workflow.)
    "recheck all": ("post", lambda e: reverse("recheck_indicators", args=[e.pk]),
                    ("results", "submitted"), [LOGIN, 403, 404, 403, 302, 404, 403, 403, 403, 404]),
    "reopen": ("post", lambda e: reverse("reopen_evaluation", args=[e.pk]), ("results", "approved"),
               [LOGIN, 403, 404, 403, 403, 404, DONE, DONE, 403, 404]),
    "entry": ("get", lambda e: reverse("evaluation_entry", args=[e.pk]), ("targets", "draft"),
              [LOGIN, 200, 404, 403, 403, 404, 200, 200, 403, 404]),
    "entry preview": ("post", lambda e: reverse("evaluation_entry_preview", args=[e.pk]),
                      ("results", "draft"), [LOGIN, 200, 404, 403, 403, 404, 200, 200, 403, 404]),
    "entry save": ("post", lambda e: reverse("evaluation_entry", args=[e.pk]),
                   ("results", "approved"), [LOGIN, 409, 404, 403, 403, 404, 409, 409, 403, 404]),
    # The entry page's addresses from when it lived in the admin.
    "old entry": ("get", lambda e: f"/admin/evaluations/evaluation/{e.pk}/entry/", ("targets", "draft"),
                  [MOVED] * 10),
    "old entry preview": ("post", lambda e: f"/admin/evaluations/evaluation/{e.pk}/entry/preview/",
                          ("results", "draft"), [MOVED] * 10),
    "old entry save": ("post", lambda e: f"/admin/evaluations/evaluation/{e.pk}/entry/",
                       ("results", "approved"), [MOVED] * 10),
    "review queue": ("get", lambda e: reverse("review_queue"), ("results", "submitted"),
                     [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "admin evaluation": ("get", lambda e: reverse("admin:evaluations_evaluation_change", args=[e.pk]),
                         ("results", "approved"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin evaluations": ("get", lambda e: reverse("admin:evaluations_evaluation_changelist"),
                          ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin indicator group": ("get", lambda e: reverse("admin:indicators_indicatorgroup_change",
                                                       args=[IndicatorGroup.objects.filter(evaluation=e).first().pk]),
                              ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin indicator category": ("get", lambda e: reverse("admin:indicators_indicatorcategory_change",
                                                          args=[IndicatorCategory.objects.filter(group__evaluation=e).first().pk]),
                                 ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin indicator templates": ("get", lambda e: reverse("admin:indicators_indicatortemplate_changelist"),
                                  ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin indicator template add": ("get", lambda e: reverse("admin:indicators_indicatortemplate_add"),
                                     ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin indicator template": ("get", lambda e: reverse("admin:indicators_indicatortemplate_change",
                                                          args=[template_line(e).pk]),
                                 ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "evidence upload": ("post", lambda e: reverse("upload_evidence", args=[e.pk]), ("results", "draft"),
                        [LOGIN, 302, 404, 403, 403, 404, 403, 403, 403, 404]),
    "evidence download": ("get", lambda e: reverse("download_evidence", args=[e.pk, attachment(e).pk]),
                          ("results", "submitted"), [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "evidence remove": ("post", lambda e: reverse("remove_evidence", args=[e.pk, attachment(e).pk]),
                        ("results", "draft"), [LOGIN, 302, 404, 403, 403, 404, 403, 403, 403, 404]),
    "sealed upload": ("post", lambda e: reverse("upload_evidence", args=[e.pk]), ("results", "approved"),
                      [LOGIN, 302, 404, 403, 403, 404, 403, 403, 403, 404]),
    "sealed download": ("get", lambda e: reverse("download_evidence", args=[e.pk, attachment(e, sealed=True).pk]),
                        ("results", "approved"), [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "admin attachments": ("get", lambda e: reverse("admin:evaluations_attachment_changelist"),
                          ("results", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin attachment": ("get", lambda e: reverse("admin:evaluations_attachment_change",
                                                  args=[attachment(e).pk]),
                         ("results", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin evidence rules": ("get", lambda e: reverse("admin:indicators_evidencerules_changelist"),
                             ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "admin review events": ("get", lambda e: reverse("admin:evaluations_reviewevent_changelist"),
                            ("targets", "draft"), [ADMIN_LOGIN] * 6 + [200, 200] + [ADMIN_LOGIN] * 2),
    "todo": ("get", lambda e: reverse("todo"), ("targets", "draft"), [LOGIN] + [200] * 9),
    "first approve": ("post", lambda e: reverse("first_approve_evaluation", args=[e.pk]),
                      ("results", "submitted", "parent"),
                      [LOGIN, 403, 404, 403, 403, 404, 403, 403, DONE, 404]),
    "first return": ("post", lambda e: reverse("first_return_evaluation", args=[e.pk]),
                     ("results", "submitted", "parent"),
                     [LOGIN, 403, 404, 403, 403, 404, 403, 403, DONE, 404]),
    "return to parent": ("post", lambda e: reverse("return_evaluation", args=[e.pk]),
                         ("results", "submitted"), [LOGIN, 403, 404, 403, DONE, 404, 403, 403, 403, 404]),
    "reporting rate": ("get", lambda e: reverse("reporting_rate"), ("targets", "draft"),
                       [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "reporting workbook": ("get", lambda e: reverse("reporting_rate_workbook"), ("targets", "draft"),
                           [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "urge": ("post", lambda e: (filing_window(e), reverse("urge_units"))[1], ("targets", "draft"),
             [LOGIN, 403, 403, 403, 302, 404, 302, 302, 403, 403]),
    "extensions": ("get", lambda e: reverse("extensions"), ("targets", "draft"),
                   [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    # The other district's reviewer is not offered the window: refused as a bad choice.
    "extension grant": ("post", lambda e: (filing_window(e), reverse("extensions"))[1],
                        ("targets", "draft"), [LOGIN, 403, 403, 403, 302, 400, 302, 302, 403, 403]),
}  # fmt: skip
POST_DATA = {"reason": "理由", "review_score": "1", "review_opinion": "", "version": "1"}
# What a page posts besides POST_DATA.
# (Callables are given the sample.)
PAGE_DATA = {
    "return to parent": {"to": "parent"},
    "urge": {"district": lambda e: e.unit.district_id},
    "extension grant": {
        "window": lambda e: filing_window(e).pk,
        "unit": lambda e: e.unit.code,
        "until": "2099-01-01",
    },
}


def client_for(cast, name: str) -> Client:
    client = Client()
    if name != "anonymous":
        client.force_login(cast[name])
    return client


class TestMatrix:
    """Every page for every user, on one sample (see `shared_sample_and_cast`)."""

    @pytest.mark.parametrize("page", sorted(PAGES))
    @pytest.mark.parametrize("user_name", USERS)
    def test_permission_matrix(
        self, shared_sample_and_cast, db, page, user_name, settings, tmp_path, monkeypatch
    ):
        sample, cast = shared_sample_and_cast
        settings.EXPORT_ROOT = tmp_path
        settings.MEDIA_ROOT = tmp_path / "media"
        # Drawing the PDF is tested in test_pdf; here only who reaches it counts.
        monkeypatch.setattr("evaluations.pdf.render_pdf", lambda evaluation: b"%PDF-1.7\n")
        method, url_of, (phase, status, *held), expected = PAGES[page]
        level = held[0] if held else "district"
        Evaluation.objects.filter(pk=sample.pk).update(
            phase=phase, status=status, review_level=level
        )
        url = url_of(sample)
        attachments_before = Attachment.objects.count()
        client = client_for(cast, user_name)
        # "start a year" names the unit and year; the other forms ignore these fields.
        data = {**POST_DATA, "unit": sample.unit_id, "year": "2024", "source": "last_year"}
        data |= {
            name: value(sample) if callable(value) else value
            for name, value in PAGE_DATA.get(page, {}).items()
        }
        response = client.post(url, data) if method == "post" else client.get(url)
        expectation = expected[USERS.index(user_name)]
        if expectation == LOGIN:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")
        elif expectation == ADMIN_LOGIN:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))
        elif expectation == MOVED:
            assert response.status_code == (301 if method == "get" else 308)
            assert response["Location"] == url.replace(
                "/admin/evaluations/evaluation/", "/evaluations/"
            )
            sample.refresh_from_db()
            assert (sample.phase, sample.status, sample.version) == (phase, status, 1)
            assert not ReviewEvent.objects.exists()
        elif expectation == DONE:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("evaluation_table", args=[sample.pk]))
            sample.refresh_from_db()
            assert ReviewEvent.objects.filter(evaluation=sample).exists()
        else:
            assert response.status_code == expectation
            if expectation in (400, 403, 404):
                # No file reached, added or removed.
                assert not Attachment.objects.exclude(removed_at=None).exists()
                assert Attachment.objects.count() == attachments_before
                sample.refresh_from_db()
                assert (sample.phase, sample.status, sample.review_level) == (phase, status, level)
                assert not ReviewEvent.objects.exists()
                assert list(Evaluation.objects.all()) == [sample]  # nothing started either
                # Nobody reminded, no extension granted.
                assert not Reminder.objects.exists() and not Extension.objects.exists()


def test_the_matrix_hides_what_the_queryset_hides(shared_sample_and_cast, db):
    """The matrix's own expectations checked against `for_user`: on every page of the
    sample, a user the queryset does not show it to gets 404 (or the login page),
    never 200, 403 or a step. With the matrix passing, that is 0 leaks."""
    sample, cast = shared_sample_and_cast
    seen = pages_of_the_sample = 0
    for page, (_, url_of, _, expected) in PAGES.items():
        url = url_of(sample)
        if not url.startswith(f"/evaluations/{sample.pk}/") and not url.startswith(
            f"/admin/evaluations/evaluation/{sample.pk}/"
        ):
            continue
        pages_of_the_sample += 1
        for user_name, expectation in zip(USERS[1:], expected[1:], strict=True):
            visible = Evaluation.objects.for_user(cast[user_name]).filter(pk=sample.pk).exists()
            if not visible:
                seen += 1
                assert expectation in (404, ADMIN_LOGIN, MOVED), (page, user_name)
            else:
                assert expectation != 404, (page, user_name)
    # The sample's 26 pages (its evidence's five and the entry page's three old
    # addresses among them) × other_staff, other_reviewer and other_parent_reviewer.
    assert pages_of_the_sample == 26
    assert seen == pages_of_the_sample * 3


@pytest.mark.parametrize("path", ["entry/", "entry/preview/"])
def test_the_old_entry_address_tells_nobody_whether_a_form_exists(sample, cast, path):
    """The old address answers a form someone may not see as it answers a form that does
    not exist (the same redirect, by the id alone); the new address then hides it (404)."""
    missing = sample.pk + 1000
    for name in ["other_staff", "other_reviewer", "staff"]:
        client = client_for(cast, name)
        for pk in (sample.pk, missing):
            old = client.get(f"/admin/evaluations/evaluation/{pk}/{path}")
            assert (old.status_code, old["Location"]) == (301, f"/evaluations/{pk}/{path}")
    stranger = client_for(cast, "other_staff")
    for pk in (sample.pk, missing):
        response = stranger.get(f"/admin/evaluations/evaluation/{pk}/{path}", follow=True)
        assert response.status_code == (404 if path == "entry/" else 405)


def test_the_old_entry_address_keeps_a_post_and_the_query(staff_client, sample):
    """A page drawn before the move posts to the old address: the browser is told to post
    the same body again to the new one (308), the query string kept."""
    response = staff_client.post(
        f"/admin/evaluations/evaluation/{sample.pk}/entry/?x=1", {"a": "b"}
    )
    assert response.status_code == 308
    assert response["Location"] == reverse("evaluation_entry", args=[sample.pk]) + "?x=1"


def project_template_line(year: int) -> IndicatorTemplate:
    return IndicatorTemplate.objects.create(
        form_kind=Evaluation.Kind.PROJECT,
        year=year,
        group_name="满意度指标",
        group_weight=Decimal("10"),
        category_name="服务对象满意度指标",
        name="居民满意度",
        points=Decimal("10"),
        default_target="≥90.00(%)",
    )


# The project pages, on one of the sample unit's project forms (a targets draft):
# name: (method, url builder, expected per user in USERS order). CREATED is a redirect
# after which the form or project exists; for everyone else nothing is written.
CREATED = "created"
PROJECT_PAGES = {
    "project table": ("get", lambda form: reverse("evaluation_table", args=[form.pk]),
                      [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "project pdf": ("get", lambda form: reverse("evaluation_pdf", args=[form.pk]),
                    [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "project workbook": ("get", lambda form: reverse("evaluation_workbook", args=[form.pk]),
                         [LOGIN, 200, 404, 200, 200, 404, 200, 200, 200, 404]),
    "project entry": ("get", lambda form: reverse("evaluation_entry",
                                                  args=[form.pk]),
                      [LOGIN, 200, 404, 403, 403, 404, 200, 200, 403, 404]),
    "project overview": ("get", lambda form: reverse("overview") + "?kind=project",
                         [LOGIN, 403, 403, 403, 200, 200, 200, 200, 403, 403]),
    "start a year, confirm": ("get", lambda form: reverse("start_year_confirm")
                              + f"?unit={form.unit_id}&year=2024&source=template",
                              [LOGIN, 200, 404, 404, 403, 403, 200, 200, 403, 403]),
    "start a project form": ("post", lambda form: reverse("start_project_form",
                                                         args=[form.project_id]),
                             [LOGIN, CREATED, 404, 403, 403, 404, CREATED, CREATED, 403, 404]),
    "add a project": ("post", lambda form: reverse("add_project"),
                      [LOGIN, CREATED, 404, 403, 403, 404, 403, 403, 403, 404]),
}  # fmt: skip


class TestProjectMatrix:
    """The project pages for every user: a project form is seen by exactly those who
    see its unit's overall form, and started or added by those who fill it."""

    @pytest.mark.parametrize("page", sorted(PROJECT_PAGES))
    @pytest.mark.parametrize("user_name", USERS)
    def test_project_permission_matrix(
        self, shared_sample_and_cast, db, page, user_name, settings, tmp_path, monkeypatch
    ):
        sample, cast = shared_sample_and_cast
        settings.EXPORT_ROOT = tmp_path
        monkeypatch.setattr("evaluations.pdf.render_pdf", lambda evaluation: b"%PDF-1.7\n")
        form = make_project_form(sample.unit)
        sample.unit.district.units_add_projects = True
        sample.unit.district.save()
        project_template_line(2024)
        method, url_of, expected = PROJECT_PAGES[page]
        client = client_for(cast, user_name)
        data = {"year": "2024", "unit": sample.unit_id, "code": "P-NEW", "name": "新增项目"}
        data["first_year"] = "2024"
        url = url_of(form)
        response = client.post(url, data) if method == "post" else client.get(url)
        expectation = expected[USERS.index(user_name)]
        made = (
            Evaluation.objects.filter(project=form.project, year=2024).exists()
            or Evaluation.objects.filter(year=2024).exists()
        )
        added = Project.objects.filter(code="P-NEW").exists()
        if expectation == LOGIN:
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")
        elif expectation == CREATED:
            assert response.status_code == 302
            assert made or added
        else:
            assert response.status_code == expectation
        if expectation != CREATED:
            assert not made and not added


@pytest.mark.parametrize(
    "user_name,sees_a,sees_b",
    [
        ("staff", True, False),
        ("other_staff", False, True),
        ("parent_staff", True, False),
        ("reviewer", True, True),
        ("other_reviewer", False, False),
        ("admin", True, True),
        ("manager", True, True),
    ],
)
def test_home_lists_only_what_the_user_may_see(sample, cast, other_unit, user_name, sees_a, sees_b):
    other = make_evaluation(other_unit)
    page = client_for(cast, user_name).get(reverse("home")).content.decode()
    assert (reverse("evaluation_table", args=[sample.pk]) in page) is sees_a
    assert (reverse("evaluation_table", args=[other.pk]) in page) is sees_b
    assert ("上海市闵行区浦锦街道城市运行管理中心" in page) is sees_a


def test_the_queryset_is_the_one_road(sample, cast, other_unit):
    other = make_evaluation(other_unit)
    visible = {
        name: set(Evaluation.objects.for_user(user).values_list("pk", flat=True))
        for name, user in cast.items()
    }
    assert visible == {
        "staff": {sample.pk},
        "other_staff": {other.pk},
        "parent_staff": {sample.pk},
        "reviewer": {sample.pk, other.pk},
        "other_reviewer": set(),
        "admin": {sample.pk, other.pk},
        "manager": {sample.pk, other.pk},
    }


def test_an_inactive_user_sees_nothing(sample, staff):
    staff.is_active = False
    staff.save()
    assert not Evaluation.objects.for_user(staff).exists()


def test_staff_without_the_role_may_look_but_not_submit(sample, staff):
    staff.groups.clear()
    client = client_for({"staff": staff}, "staff")
    assert client.get(reverse("evaluation_table", args=[sample.pk])).status_code == 200
    assert client.post(reverse("submit_evaluation", args=[sample.pk])).status_code == 403


@pytest.mark.parametrize(
    "name", ["submit_evaluation", "return_evaluation", "approve_evaluation", "reopen_evaluation"]
)
def test_transitions_are_post_only(staff_client, sample, name):
    assert staff_client.get(reverse(name, args=[sample.pk])).status_code == 405


def test_transitions_need_the_csrf_token(sample, staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(reverse("submit_evaluation", args=[sample.pk])).status_code == 403
    sample.refresh_from_db()
    assert sample.status == "draft"


def test_the_page_offers_only_what_the_user_may_do(sample, cast):
    url = reverse("evaluation_table", args=[sample.pk])
    forms = {
        name: [
            action
            for action in ["submit", "approve", "return", "reopen"]
            if reverse(f"{action}_evaluation", args=[sample.pk])
            in client_for(cast, name).get(url).content.decode()
        ]
        for name in ["staff", "parent_staff", "reviewer", "manager"]
    }
    assert forms == {"staff": ["submit"], "parent_staff": [], "reviewer": [], "manager": []}
    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="submitted")
    page = client_for(cast, "reviewer").get(url).content.decode()
    assert reverse("approve_evaluation", args=[sample.pk]) in page
    assert reverse("return_evaluation", args=[sample.pk]) in page
    assert "再复核" in page


def test_admin_shows_an_approved_evaluation_read_only(sample, cast):
    Evaluation.objects.filter(pk=sample.pk).update(phase="results", status="approved")
    client = client_for(cast, "manager")
    page = client.get(reverse("admin:evaluations_evaluation_change", args=[sample.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    # A POST is refused and changes nothing.
    response = client.post(
        reverse("admin:evaluations_evaluation_change", args=[sample.pk]), {"result_text": "x"}
    )
    assert response.status_code == 403
    sample.refresh_from_db()
    assert sample.result_text != "x"


@pytest.mark.parametrize(
    "phase,status",
    [("targets", "draft"), ("targets", "submitted"), ("results", "draft"), ("results", "approved")],
)
def test_admin_pages_follow_the_phase(sample, manager, phase, status):
    Evaluation.objects.filter(pk=sample.pk).update(phase=phase, status=status)
    client = client_for({"manager": manager}, "manager")
    category = IndicatorCategory.objects.filter(group__evaluation=sample).first()
    for url in [
        reverse("admin:evaluations_evaluation_add"),
        reverse("admin:evaluations_evaluation_change", args=[sample.pk]),
        reverse("admin:indicators_indicatorgroup_change", args=[category.group_id]),
        reverse("admin:indicators_indicatorcategory_change", args=[category.pk]),
    ]:
        assert client.get(url).status_code == 200, url
    page = client.get(reverse("admin:indicators_indicatorcategory_change", args=[category.pk]))
    editable = 'name="indicators-0-points"' in page.content.decode()
    assert editable is (phase == "targets" and status == "draft")
    results_editable = 'name="indicators-0-score"' in page.content.decode()
    assert results_editable is (phase == "results" and status == "draft")
