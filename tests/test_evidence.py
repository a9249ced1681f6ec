"""佐证材料: attaching, removing and downloading evidence, the rows that need it at
submission, the sealed PDF, the 附件清单 of the PDF and the bulk export."""

import io
import subprocess
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from pypdf import PdfReader

from evaluations import evidence
from evaluations.bulk_export import open_archive, render_item, start_export, store_evaluation_pdf
from evaluations.models import Attachment, Evaluation, ReviewEvent
from evaluations.table import build_table
from indicators.models import EvidenceRules, Indicator, IndicatorTemplate

from .conftest import make_evaluation, open_results
from .evidence_files import EXE, HTML, SVG, office, pdf, png, upload

BOUNDARY = "----evidence-test-boundary"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.MEDIA_ROOT


def stored_files(media: Path) -> list[Path]:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def rows(evaluation: Evaluation) -> list[Indicator]:
    return list(
        Indicator.objects.filter(category__group__evaluation=evaluation)
        .select_related("category__group")
        .order_by("category__group__position", "category__position", "position", "pk")
    )


def post_file(client, evaluation, file, **fields):
    data = {"category": "results", "title": "", **fields}
    if file is not None:
        data["file"] = file
    return client.post(reverse("upload_evidence", args=[evaluation.pk]), data)


def raw_post(client, evaluation, file_name: str, content: bytes, **fields):
    """A multipart body written by hand: the test client (like browsers) would drop
    the path parts of a name before sending it."""
    parts = []
    for name, value in {"category": "results", **fields}.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return client.post(
        reverse("upload_evidence", args=[evaluation.pk]),
        body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def said(response) -> list[str]:
    """What the response told (this request's messages only: the unread ones of
    earlier requests are dropped with the cookie that carries them)."""
    told = [str(message) for message in get_messages(response.wsgi_request)]
    response.client.cookies.pop("messages", None)
    return told


def attach(evaluation, user, name="报告.pdf", content=None, indicator=None, **fields):
    return evidence.attach(
        evaluation,
        upload(name, content if content is not None else pdf(name)),
        by=user,
        category=fields.pop("category", "results"),
        indicator_id=indicator.pk if indicator else None,
        **fields,
    ).attachment


# ---------------------------------------------------------------------------
# Attaching and downloading


def test_staff_attach_a_file_to_a_row_and_everyone_who_sees_the_form_opens_it(
    sample, staff_client, staff, cast, client, media
):
    row = rows(sample)[0]
    name = "浦锦街道城市运行管理中心2023年度绩效目标申报表（盖章）.pdf"
    content = pdf("targets")
    response = post_file(
        staff_client,
        sample,
        upload(name, content),
        indicator=row.pk,
        category="targets",
        title="绩效目标申报表",
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#evidence-indicator-{row.pk}")
    attachment = Attachment.objects.get()
    assert (attachment.indicator, attachment.file_name, attachment.title) == (
        row,
        name,
        "绩效目标申报表",
    )
    assert (attachment.size, attachment.content_type, attachment.uploaded_by) == (
        len(content),
        "application/pdf",
        staff,
    )
    assert attachment.phase == "targets"
    # Stored under a random name, never the uploader's.
    assert name not in attachment.file.name and attachment.file.name.startswith("evidence/")

    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    url = reverse("download_evidence", args=[sample.pk, attachment.pk])
    assert url in page and "绩效目标申报表" in page and name in page
    for user in ("staff", "parent_staff", "reviewer", "manager"):
        client.force_login(cast[user])
        response = client.get(url)
        assert response.status_code == 200, user
        assert b"".join(response.streaming_content) == content
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("inline; filename")
        assert "filename*=utf-8''" in response["Content-Disposition"]
        assert response["X-Content-Type-Options"] == "nosniff"
    for user in ("other_staff", "other_reviewer"):
        client.force_login(cast[user])
        assert client.get(url).status_code == 404, user


def test_pictures_open_in_the_browser_and_office_files_download(sample, staff, staff_client):
    picture = attach(sample, staff, "现场照片.png", png())
    document = attach(sample, staff, "整改报告.docx", office())
    shown = staff_client.get(reverse("download_evidence", args=[sample.pk, picture.pk]))
    assert (shown["Content-Type"], shown["Content-Disposition"][:6]) == ("image/png", "inline")
    saved = staff_client.get(reverse("download_evidence", args=[sample.pk, document.pk]))
    assert saved["Content-Type"] == evidence.DOCX.content_type
    assert saved["Content-Disposition"].startswith("attachment; filename")


def test_attachments_of_the_whole_form_and_of_every_kind_of_form(project_form, staff, staff_client):
    response = post_file(staff_client, project_form, upload("项目合同.pdf", pdf()))
    assert response["Location"].endswith("#evidence")
    attachment = Attachment.objects.get()
    assert (attachment.evaluation, attachment.indicator, attachment.title) == (
        project_form,
        None,
        "项目合同",
    )
    page = staff_client.get(reverse("evaluation_table", args=[project_form.pk])).content.decode()
    assert "整表材料" in page and "项目合同.pdf" in page


# ---------------------------------------------------------------------------
# Bad input: refused in Chinese, nothing stored


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("发票.pdf", EXE, "不是允许的文件类型"),
        ("现场照片.jpg", HTML, "不是允许的文件类型"),
        ("示意图.svg", SVG, "不是允许的文件类型"),
        ("示意图.png", SVG, "不是允许的文件类型"),
        ("带宏的报告.docx", office(macros=True), "不是允许的文件类型"),
        ("伪装.zip", office(main_part="other/part.xml"), "不是允许的文件类型"),
        ("照片.jpg", png(), "与文件名后缀“.jpg”不符"),
        ("报告", pdf(), "与文件名后缀“（无）”不符"),
        ("空文件.pdf", b"", "空文件（0 字节）"),
    ],
)
def test_a_file_is_judged_by_its_content(sample, staff_client, media, name, content, expected):
    response = post_file(staff_client, sample, upload(name, content))
    assert response.status_code == 302
    assert any(expected in message for message in said(response)), said(response)
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_a_file_over_the_limit_is_refused_while_it_streams(
    sample, staff_client, media, monkeypatch
):
    # The handler stops counting at the limit: a 2 MB limit here keeps the test quick.
    monkeypatch.setattr(evidence, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    content = pdf() + b"\0" * (2 * 1024 * 1024)
    response = post_file(staff_client, sample, upload("大文件.pdf", content))
    assert said(response) == ["“大文件.pdf”超过单个文件 2 MB 的上限，未保存。"]
    assert not Attachment.objects.exists() and stored_files(media) == []
    # Just under it passes.
    response = post_file(staff_client, sample, upload("刚好.pdf", content[: 2 * 1024 * 1024]))
    assert Attachment.objects.count() == 1, said(response)


def test_the_limit_is_twenty_megabytes(sample, staff_client):
    assert evidence.MAX_FILE_BYTES == 20 * 1024 * 1024
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "单个文件不超过 20 MB" in page


@pytest.mark.parametrize(
    "file_name,expected",
    [
        ("../../config/settings.pdf", "含有路径"),
        ("C:\\\\Users\\\\报告.pdf", "含有路径"),
        ("报告\x07.pdf", "控制字符"),
        ("发票\u202efdp.exe", "不可见的格式字符"),
        ("..", "文件名为空"),
    ],
)
def test_a_name_with_path_parts_or_control_characters_is_refused(
    sample, staff_client, media, file_name, expected
):
    response = raw_post(staff_client, sample, file_name, pdf())
    assert any(expected in message for message in said(response)), said(response)
    assert not Attachment.objects.exists() and stored_files(media) == []


def test_chinese_names_are_kept_as_they_are(sample, staff_client):
    name = "2023年度 满意度调查（汇总）·第1批.pdf"
    raw_post(staff_client, sample, name, pdf())
    assert Attachment.objects.get().file_name == name


def test_a_form_holds_at_most_its_limit_of_files(sample, staff, staff_client, media, monkeypatch):
    monkeypatch.setattr(evidence, "MAX_FILES_PER_FORM", 3)
    for number in range(3):
        attach(sample, staff, f"材料{number}.pdf")
    before = len(stored_files(media))
    response = post_file(staff_client, sample, upload("第四个.pdf", pdf("4")))
    assert said(response) == [
        "每张自评表最多 3 个佐证材料，已达上限，未保存。请先删除不需要的材料。"
    ]
    assert Attachment.objects.count() == 3 and len(stored_files(media)) == before
    # A removed file no longer counts.
    evidence.remove(sample, Attachment.objects.first().pk, by=staff)
    post_file(staff_client, sample, upload("第四个.pdf", pdf("4")))
    assert Attachment.objects.filter(removed_at__isnull=True).count() == 3


def test_nobody_uploads_to_another_units_form(sample, other_unit, cast, client, media):
    other = make_evaluation(other_unit)
    client.force_login(cast["other_staff"])
    assert post_file(client, sample, upload("a.pdf", pdf())).status_code == 404
    client.force_login(cast["staff"])
    assert post_file(client, other, upload("a.pdf", pdf())).status_code == 404
    for user in ("parent_staff", "reviewer", "manager"):
        client.force_login(cast[user])
        assert post_file(client, sample, upload("a.pdf", pdf())).status_code == 403, user
    assert not Attachment.objects.exists() and stored_files(media) == []


@pytest.mark.parametrize(
    "phase,status,expected",
    [
        ("targets", "submitted", "佐证材料暂不能增加或删除"),
        ("results", "submitted", "佐证材料暂不能增加或删除"),
        ("results", "approved", "该自评表已审核定稿，佐证材料不能再增加或删除"),
    ],
)
def test_nothing_is_attached_while_submitted_or_after_approval(
    sample, staff_client, media, phase, status, expected
):
    Evaluation.objects.filter(pk=sample.pk).update(phase=phase, status=status)
    response = post_file(staff_client, sample, upload("a.pdf", pdf()), indicator=rows(sample)[0].pk)
    assert any(expected in message for message in said(response)), said(response)
    assert not Attachment.objects.exists() and stored_files(media) == []
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "上传附件" not in page


def test_the_same_file_twice_is_noticed(sample, staff, staff_client):
    first, second = rows(sample)[:2]
    content = pdf("same")
    attach(sample, staff, "调查报告.pdf", content, indicator=first, title="调查报告")
    response = post_file(
        staff_client, sample, upload("调查报告（副本）.pdf", content), indicator=first.pk
    )
    assert any("内容相同，未重复保存" in message for message in said(response))
    assert Attachment.objects.count() == 1
    # On another row it may support that row too: stored, with a notice.
    response = post_file(
        staff_client, sample, upload("调查报告（副本）.pdf", content), indicator=second.pk
    )
    assert Attachment.objects.count() == 2
    assert f"注意：该文件与“{first.label}”中的“调查报告”内容相同。" in said(response)


def test_a_title_or_category_that_cannot_be_kept_is_refused(sample, staff_client):
    response = post_file(staff_client, sample, upload("a.pdf", pdf()), category="sealed")
    assert said(response) == ["请选择佐证材料的类别。"]
    response = post_file(staff_client, sample, upload("a.pdf", pdf()), title="x" * 101)
    assert said(response) == ["标题最多 100 个字（现有 101 个）。"]
    response = post_file(staff_client, sample, None)
    assert said(response) == ["请选择要上传的文件。"]
    response = post_file(staff_client, sample, upload("a.pdf", pdf()), indicator="99999999")
    assert said(response) == ["该指标行不存在（可能已被删除），未保存。"]
    assert not Attachment.objects.exists()


def test_uploads_need_the_csrf_token(sample, staff, media):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert post_file(client, sample, upload("a.pdf", pdf())).status_code == 403
    assert not Attachment.objects.exists() and stored_files(media) == []


@pytest.mark.parametrize("name", ["upload_evidence", "remove_evidence", "download_evidence"])
def test_wrong_methods(staff_client, sample, staff, name):
    attachment = attach(sample, staff)
    args = [sample.pk] if name == "upload_evidence" else [sample.pk, attachment.pk]
    if name == "download_evidence":
        assert staff_client.post(reverse(name, args=args)).status_code == 405
    else:
        assert staff_client.get(reverse(name, args=args)).status_code == 405


# ---------------------------------------------------------------------------
# Removing: logged, not silent; under the phase rules


def test_removal_is_logged_and_the_file_kept(sample, staff, staff_client, media):
    attachment = attach(sample, staff, "错传的文件.pdf", indicator=rows(sample)[0])
    response = staff_client.post(reverse("remove_evidence", args=[sample.pk, attachment.pk]))
    assert response.status_code == 302
    attachment.refresh_from_db()
    assert attachment.removed_by == staff and attachment.removed_at is not None
    assert len(stored_files(media)) == 1
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "已删除或被替换的材料（1）" in page and "浦锦填报人 于" in page
    # A removed file is no longer served, nor listed.
    url = reverse("download_evidence", args=[sample.pk, attachment.pk])
    assert staff_client.get(url).status_code == 404
    assert url not in page


def test_evidence_of_approved_targets_stays(sample, staff, staff_client):
    attachment = attach(sample, staff, "目标文件.pdf", category="targets")
    open_results(sample)
    response = staff_client.post(reverse("remove_evidence", args=[sample.pk, attachment.pk]))
    assert said(response) == ["“目标文件”是年初目标阶段上传的，该阶段已审核，不能删除。"]
    attachment.refresh_from_db()
    assert attachment.removed_at is None
    # New results evidence can still be added, and removed.
    later = attach(sample, staff, "结果.pdf")
    evidence.remove(sample, later.pk, by=staff)


def test_nobody_else_removes(sample, staff, cast, client, other_unit):
    attachment = attach(sample, staff)
    url = reverse("remove_evidence", args=[sample.pk, attachment.pk])
    for user, status in [
        ("other_staff", 404),
        ("other_reviewer", 404),
        ("parent_staff", 403),
        ("reviewer", 403),
        ("manager", 403),
    ]:
        client.force_login(cast[user])
        assert client.post(url).status_code == status, user
    # An attachment of another form is not reached through this one.
    other = make_evaluation(other_unit)
    client.force_login(cast["staff"])
    assert (
        client.post(reverse("remove_evidence", args=[other.pk, attachment.pk])).status_code == 404
    )
    assert (
        client.get(reverse("download_evidence", args=[other.pk, attachment.pk])).status_code == 404
    )
    attachment.refresh_from_db()
    assert attachment.removed_at is None


# ---------------------------------------------------------------------------
# Rows that need evidence, at submission


def needing_rows(evaluation):
    table = build_table(Evaluation.objects.with_table().get(pk=evaluation.pk))
    return [fault.anchor for fault in evidence.missing_evidence(evaluation, table)]


def test_submission_lists_the_rows_still_missing_evidence(sample, staff, staff_client):
    open_results(sample)
    EvidenceRules.objects.create(form_kind="overall", year=2023)
    indicators = {row.pk: row for row in rows(sample)}
    below = [row for row in indicators.values() if row.score is not None and row.score < row.points]
    satisfaction = [row for row in indicators.values() if "满意度" in row.category.group.name]
    assert below and satisfaction
    expected = {row.pk for row in below + satisfaction}
    assert needing_rows(sample) == [
        f"evidence-indicator-{pk}" for pk in indicators if pk in expected
    ]

    response = staff_client.post(reverse("submit_evaluation", args=[sample.pk]), follow=True)
    sample.refresh_from_db()
    assert sample.status == "draft"
    messages = [str(message) for message in response.context["messages"]]
    assert messages[0] == (
        f"有 {len(expected)} 行须上传佐证材料而尚未上传，未提交。请在各行上传后再提交。"
    )
    first = below[0]
    assert f"“{first.label}”（得分低于分值）须上传佐证材料，尚未上传。" in messages
    page = response.content.decode()
    # At their rows in the 佐证材料 section.
    assert f'<tr id="evidence-indicator-{first.pk}" class="missing">' in page
    assert "须附佐证材料（满意度指标）：尚未上传" in page

    for row in below + satisfaction:
        attach(sample, staff, f"{row.pk}.pdf", pdf(str(row.pk)), indicator=row)
    assert needing_rows(sample) == []
    staff_client.post(reverse("submit_evaluation", args=[sample.pk]))
    sample.refresh_from_db()
    assert sample.status == "submitted"


def test_the_targets_need_no_evidence_and_years_without_rules_ask_only_for_marked_rows(
    sample, staff
):
    EvidenceRules.objects.create(form_kind="overall", year=2023)
    assert needing_rows(sample) == []  # targets
    open_results(sample)
    EvidenceRules.objects.all().delete()
    assert needing_rows(sample) == []
    marked = rows(sample)[3]
    Indicator.objects.filter(pk=marked.pk).update(evidence_required=True)
    assert needing_rows(sample) == [f"evidence-indicator-{marked.pk}"]
    # A removed file leaves the row without evidence again.
    attachment = attach(sample, staff, indicator=marked)
    assert needing_rows(sample) == []
    evidence.remove(sample, attachment.pk, by=staff)
    assert needing_rows(sample) == [f"evidence-indicator-{marked.pk}"]


def test_the_rules_can_be_turned_off_one_by_one(sample):
    open_results(sample)
    EvidenceRules.objects.create(
        form_kind="overall", year=2023, below_points=False, satisfaction=True
    )
    needed = {int(anchor.rsplit("-", 1)[1]) for anchor in needing_rows(sample)}
    assert needed == {row.pk for row in rows(sample) if "满意度" in row.category.group.name}


def test_the_template_mark_is_copied_to_a_new_years_rows(unit, staff):
    from evaluations.years import start_from_template

    IndicatorTemplate.objects.create(
        year=2024,
        group_name="满意度指标",
        group_weight=Decimal("100"),
        category_name="服务对象满意度指标",
        name="群众满意度",
        points=Decimal("100"),
        default_target="≥90.00(%)",
        evidence_required=True,
    )
    evaluation = start_from_template(unit, 2024, by=staff)
    assert [row.evidence_required for row in rows(evaluation)] == [True]


# ---------------------------------------------------------------------------
# The sealed PDF


def approve(evaluation):
    Evaluation.objects.filter(pk=evaluation.pk).update(phase="results", status="approved")
    evaluation.refresh_from_db()


def seal(client, evaluation, content, name="盖章版.pdf"):
    return client.post(
        reverse("upload_evidence", args=[evaluation.pk]),
        {"sealed": "1", "file": upload(name, content)},
    )


def test_the_sealed_pdf_comes_after_approval(sample, staff_client, reviewer, client, media):
    response = seal(staff_client, sample, pdf("sealed"))
    assert said(response) == ["盖章版只能在年末自评审核通过后上传。"]
    approve(sample)
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "盖章版：尚未上传" in page and "上传盖章版" in page
    response = seal(staff_client, sample, png(), "盖章版.png")
    assert said(response) == ["盖章版须为 PDF 文件，“盖章版.png”是PNG 图片。"]
    assert not Attachment.objects.exists()

    seal(staff_client, sample, pdf("sealed"))
    sealed = Attachment.objects.get()
    assert (sealed.category, sealed.title, sealed.indicator) == ("sealed", "盖章版自评表", None)
    client.force_login(reviewer)
    page = client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "盖章版：已上传" in page
    assert reverse("download_evidence", args=[sample.pk, sealed.pk]) in page
    assert "sealed-upload" not in page  # the reviewer does not upload it
    overview = client.get(reverse("overview"), {"year": 2023}).content.decode()
    assert "（已上传盖章版）" in overview


def test_a_new_sealed_pdf_replaces_the_old_one_which_is_kept(sample, staff_client, staff):
    approve(sample)
    seal(staff_client, sample, pdf("first"), "第一版.pdf")
    response = seal(staff_client, sample, pdf("first"), "第一版.pdf")
    assert any("内容相同，未重复保存" in message for message in said(response))
    seal(staff_client, sample, pdf("second"), "第二版.pdf")
    first, second = Attachment.objects.order_by("pk")
    assert first.removed_by == staff and second.removed_at is None
    assert evidence.evidence_of(sample, build_table(sample)).sealed == second


def test_the_overview_says_when_the_sealed_pdf_is_missing(sample, reviewer, client):
    approve(sample)
    client.force_login(reviewer)
    overview = client.get(reverse("overview"), {"year": 2023}).content.decode()
    assert "（未上传盖章版）" in overview


# ---------------------------------------------------------------------------
# The PDF of record and the bulk export


def test_the_pdf_ends_with_the_list_of_attachments(sample, staff):
    from evaluations.pdf import render_pdf

    row = rows(sample)[0]
    first = store_evaluation_pdf(Evaluation.objects.with_table().get(pk=sample.pk), timeout=0)
    attach(sample, staff, "绩效目标申报表.pdf", indicator=row, title="绩效目标申报表")
    attach(sample, staff, "年度工作总结.docx", office(), title="年度工作总结", category="other")
    evaluation = Evaluation.objects.with_table().get(pk=sample.pk)
    # The list is part of what the stored PDF is kept by: it is drawn again.
    second = store_evaluation_pdf(evaluation, timeout=0)
    assert first[1] != second[1] and second[2] is False
    reader = PdfReader(io.BytesIO(render_pdf(evaluation)))
    last = reader.pages[-1].extract_text()
    assert "附件清单" in last
    for text in (row.label, "绩效目标申报表", "年度工作总结.docx", "整表材料", "浦锦填报人"):
        assert text in last.replace("\n", ""), text


def test_the_bulk_export_holds_the_evidence_and_the_sealed_pdf(sample, staff, settings):
    row = rows(sample)[0]
    photo = png(4, 4)
    attach(sample, staff, "现场照片.png", photo, indicator=row, title="现场照片")
    attach(sample, staff, "合同.pdf", pdf("contract"), title="合同")
    removed = attach(sample, staff, "错传.pdf", pdf("wrong"))
    evidence.remove(sample, removed.pk, by=staff)
    approve(sample)
    sealed_content = pdf("sealed")
    evidence.attach(sample, upload("盖章.pdf", sealed_content), by=staff, sealed=True)

    job = start_export(year=2023)
    # What a worker does with each item (the worker itself is tested in test_bulk_export).
    for item_id in job.items.values_list("pk", flat=True):
        render_item(item_id)
    job.refresh_from_db()
    assert job.status == "done", job.error
    with open_archive(job) as file, zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        stem = f"{sample.unit.code}_{sample.unit.name}"
        assert f"{stem}.pdf" in names
        assert archive.read(f"{stem}_盖章版.pdf") == sealed_content
        assert archive.read(f"{stem}_佐证材料/01_{row.label}_现场照片.png") == photo
        assert f"{stem}_佐证材料/02_整表材料_合同.pdf" in names
        assert not any("错传" in name for name in names)


def test_the_storage_is_chosen_by_setting_alone():
    """FILE_STORAGE=s3 puts files in an S3-compatible store (django-storages), the bulk
    export's too."""
    code = (
        "import django; django.setup();"
        "from django.core.files.storage import storages;"
        "s = storages['default'];"
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.default_acl);"
        "e = storages['exports'];"
        "print(type(e).__name__, e.bucket_name, e.location, e.default_acl, e.file_overwrite)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FILE_STORAGE": "s3",
            "S3_BUCKET": "jixiao-evidence",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "S3_PREFIX": "minhang",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.stdout.split() == [
        "S3Storage",
        "jixiao-evidence",
        "http://127.0.0.1:9000",
        "private",
        # The bulk export's PDFs and zips: the same store, beside the evidence.
        "S3Storage",
        "jixiao-evidence",
        "minhang/exports",
        "private",
        "True",
    ]


def test_nothing_of_a_review_is_written_by_evidence(sample, staff):
    attach(sample, staff)
    assert not ReviewEvent.objects.exists()
    sample.refresh_from_db()
    # Attaching leaves the form's version alone: an open entry page stays valid.
    assert sample.version == 1


def test_a_reopened_form_says_its_sealed_pdf_is_of_the_earlier_version(sample, staff, staff_client):
    approve(sample)
    evidence.attach(sample, upload("盖章.pdf", pdf("sealed")), by=staff, sealed=True)
    Evaluation.objects.filter(pk=sample.pk).update(status="returned")
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert "本表已重新打开：下面的盖章版是此前定稿时上传的" in page
    job = start_export(year=2023)
    for item_id in job.items.values_list("pk", flat=True):
        render_item(item_id)
    job.refresh_from_db()
    with open_archive(job) as file, zipfile.ZipFile(file) as archive:
        assert not any(name.endswith("_盖章版.pdf") for name in archive.namelist())


def test_the_project_forms_pdf_ends_with_the_list_too(project_form, staff):
    from evaluations.pdf import render_pdf

    row = rows(project_form)[0]
    attach(project_form, staff, "验收报告.pdf", indicator=row, title="验收报告")
    reader = PdfReader(
        io.BytesIO(render_pdf(Evaluation.objects.with_table().get(pk=project_form.pk)))
    )
    last = reader.pages[-1].extract_text().replace("\n", "")
    assert "附件清单" in last and "验收报告.pdf" in last and row.label in last


def test_the_cached_table_page_follows_the_evidence(sample, staff, staff_client):
    url = reverse("evaluation_table", args=[sample.pk])
    assert "现场照片.png" not in staff_client.get(url).content.decode()
    attachment = attach(sample, staff, "现场照片.png", png(), indicator=rows(sample)[0])
    assert "现场照片.png" in staff_client.get(url).content.decode()
    evidence.remove(sample, attachment.pk, by=staff)
    page = staff_client.get(url).content.decode()
    assert reverse("download_evidence", args=[sample.pk, attachment.pk]) not in page
    assert "已删除或被替换的材料（1）" in page
