"""The official table as a PDF: every figure, the pages, the fonts, what it may fetch,
and how a long table breaks across pages."""

import io
import logging
import os
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pdfplumber
import pypdf
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops
from weasyprint.text import ffi

from evaluations import pdf, pdf_fonts
from evaluations.bulk_export import store_pdf
from evaluations.demo import sample_data
from evaluations.models import BudgetLine, Evaluation
from evaluations.pdf import (
    URL_FETCHER,
    MissingGlyphs,
    font_families,
    lay_out,
    render_pdf,
    static_file_path,
)
from indicators.models import Indicator, IndicatorCategory

from .conftest import make_evaluation, make_unit, synthetic_data, targets_only_data

COLUMN_HEADS = "一级指标 权重 二级指标 三级指标 年度指标值 全年完成值 分值 得分 偏差及原因分析"
RARE = "䶮堃𠮷㈠"


def pdf_of(evaluation: Evaluation) -> bytes:
    return render_pdf(Evaluation.objects.with_table().get(pk=evaluation.pk))


def page_texts(content: bytes) -> list[str]:
    with pdfplumber.open(io.BytesIO(content)) as document:
        return [page.extract_text() or "" for page in document.pages]


def image_count(content: bytes) -> int:
    count = 0
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for xobject in page["/Resources"].get("/XObject", {}).values():
            count += xobject.get_object()["/Subtype"] == "/Image"
    return count


def weasyprint_warnings(caplog) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("weasyprint") and record.levelno >= logging.WARNING
    ]


def goal_text(marker: str) -> str:
    sentence = "街道围绕“高效处置一件事”的工作要求，做实处置网格，提升基层治理能力。"
    return "<p>" + (sentence * 100)[: 3000 - len(marker)] + marker + "</p>"


def test_holds_every_figure_of_the_sample(sample):
    text = "\n".join(page_texts(pdf_of(sample)))
    for figure in [
        "《部门（单位）整体支出绩效自评表》",
        "(2023年度)",
        "上海市闵行区浦锦街道城市运行管理中心",
        "8,278,261.03",
        "8,275,824.74",
        "99.97",
        "3,444,197.01",
        "3,441,760.72",
        "99.92",
        "4,834,064.02",
        "100.00",
        "0.00 0.00 0.00",  # 其他资金
        "年初设定目标 全年完成情况",
        "提升",
        "健全",
        "达成指标",
        "2023年，街道新增一个居委",  # the rest of the cell is on the next line
    ]:
        assert figure in text, figure
    assert re.search(r"合计 100 96\n", text)
    rows = [
        row
        for group in sample_data()["groups"]
        for category in group["categories"]
        for row in category["indicators"]
    ]
    # Quantitative targets only: a word such as 提升 also occurs in the goal texts.
    for target in {row["target"] for row in rows if row["target"] and row["target"][0] in "=≥≤><"}:
        assert text.count(target) == sum(row["target"] == target for row in rows), target
    for row in rows:
        assert row["actual"] in text
    for points, score in [
        ("7.50", "7.50"),
        ("10.20", "10.20"),
        ("2.00", "1.00"),
        ("10.00", "8.00"),
    ]:
        assert f"{points} {score}" in text
    assert "【问题】" not in text  # the sample is consistent
    assert "{#" not in text and "#}" not in text  # no template comment leaked into the page


def test_pages_footer_title_status_and_size(sample):
    content = pdf_of(sample)
    pages = page_texts(content)
    # The head and 年度总体目标; then every indicator and the total: no page holding
    # only 满意度 and 合计.
    assert len(pages) == 2
    for number, text in enumerate(pages, start=1):
        assert f"第 {number} 页 共 2 页" in text
        assert "状态：草稿" in text
    assert re.search(r"状态：草稿\s生成时间：\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", pages[0])
    reader = pypdf.PdfReader(io.BytesIO(content))
    assert reader.metadata.title == (
        "上海市闵行区浦锦街道城市运行管理中心 2023年度 部门（单位）整体支出绩效自评表"
    )
    # Subset fonts (a whole CJK font would be tens of megabytes), drawn from a cut of
    # few glyph slots (pdf_fonts.py).
    assert len(content) <= 200_000


def embedded_fonts(content: bytes) -> dict[str, int]:
    """The PDF's embedded fonts by name, each with its number of glyph slots."""
    fonts = {}
    for page in pypdf.PdfReader(io.BytesIO(content)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            program = descriptor.get("/FontFile3") or descriptor["/FontFile2"]
            name = str(font["/BaseFont"]).split("+", 1)[1]
            fonts[name] = len(TTFont(io.BytesIO(program.get_object().get_data())).getGlyphOrder())
    return fonts


def test_the_sample_is_drawn_from_the_cut_of_few_glyph_slots(sample):
    # The whole Noto Serif CJK embedded with 63,164 slots, most of them empty: 227 KB.
    fonts = embedded_fonts(pdf_of(sample))
    assert list(fonts) == ["Noto-Serif-CJK-SC-GB2312"]
    assert fonts["Noto-Serif-CJK-SC-GB2312"] <= 8_200


def png_pages(content: bytes, folder: Path, name: str) -> list[Image.Image]:
    (folder / f"{name}.pdf").write_bytes(content)
    subprocess.run(
        ["pdftoppm", "-r", "100", "-png", folder / f"{name}.pdf", folder / name], check=True
    )
    return [Image.open(path).convert("RGB") for path in sorted(folder.glob(f"{name}-*.png"))]


def test_the_cut_draws_the_sample_exactly_as_the_whole_font(sample, monkeypatch, tmp_path):
    Evaluation.objects.filter(pk=sample.pk).update(  # approved: no time of drawing printed
        phase=Evaluation.Phase.RESULTS, status=Evaluation.Status.APPROVED
    )
    cut = pdf_of(sample)
    monkeypatch.setattr(pdf, "cut_font_stylesheet", lambda: None)
    whole = pdf_of(sample)
    assert list(embedded_fonts(whole)) == ["Noto-Serif-CJK-SC"]
    pages = png_pages(cut, tmp_path, "cut")
    assert len(pages) == 2
    for page, other in zip(pages, png_pages(whole, tmp_path, "whole"), strict=True):
        assert ImageChops.difference(page, other).getbbox() is None


def test_the_stylesheet_without_pseudo_element_rules_draws_as_weasyprints_own(
    district, monkeypatch, tmp_path
):
    data = sample_data()
    data["target_text"] = (
        "<p>目标：</p><ul><li>做实处置网格</li></ul><ol><li>提升治理能力</li></ol>"
    )
    evaluation = make_evaluation(make_unit("LIST", "列表测试单位", district), data=data)
    Evaluation.objects.filter(pk=evaluation.pk).update(  # approved: no time of drawing printed
        phase=Evaluation.Phase.RESULTS, status=Evaluation.Status.APPROVED
    )
    ours = pdf_of(evaluation)
    assert "• 做实处置网格" in page_texts(ours)[0] and "1. 提升治理能力" in page_texts(ours)[0]
    monkeypatch.setattr(pdf, "FormHTML", pdf.HTML)
    weasyprints = pdf_of(evaluation)
    pages = png_pages(ours, tmp_path, "ours")
    assert len(pages) == 2
    for page, other in zip(pages, png_pages(weasyprints, tmp_path, "weasyprint"), strict=True):
        assert ImageChops.difference(page, other).getbbox() is None


FIRST_PDF_OF_A_PROCESS = """
import ssl
import sys

import django

django.setup()
reads = []
load_default_certs = ssl.SSLContext.load_default_certs


def counted(self, *args, **kwargs):
    reads.append(1)
    return load_default_certs(self, *args, **kwargs)


ssl.SSLContext.load_default_certs = counted
from django.template.loader import get_template

from evaluations import pdf

get_template("evaluations/pdf.html")
pdf.write_pdf(pdf.lay_out("<p>测试</p>"))
print([name for name in ("evaluations.entry", "openpyxl") if name in sys.modules], len(reads))
"""


def test_a_process_draws_its_first_pdf_without_the_entry_page_or_the_certificates(settings):
    # The template engine imports every tag library; the entry page's must not bring
    # its forms and openpyxl along. And WeasyPrint's URL fetchers, which the PDF never
    # lets open an address, must not read the machine's certificate store.
    result = subprocess.run(
        [sys.executable, "-c", FIRST_PDF_OF_A_PROCESS],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split("\n")[0] == "[] 0"


def test_characters_outside_the_cut_come_from_the_whole_font(district, caplog):
    # 堃 and 䶮 are not GB 2312 characters: the whole font draws them.
    unit = make_unit("RARE", f"上海市{RARE}街道城市运行管理中心", district)
    caplog.set_level(logging.WARNING, logger="weasyprint")

    content = pdf_of(make_evaluation(unit))

    assert weasyprint_warnings(caplog) == []
    assert f"上海市{RARE}街道" in page_texts(content)[0]
    fonts = embedded_fonts(content)
    assert {"Noto-Serif-CJK-SC-GB2312", "Noto-Serif-CJK-SC"} <= set(fonts), fonts


def test_the_cut_holds_gb2312_and_its_own_family(settings):
    path = pdf_fonts.cut_font_path()
    assert path is not None and path.is_relative_to(settings.PDF_FONT_CACHE)
    font = TTFont(path)
    assert font["name"].getDebugName(1) == "Noto Serif CJK SC GB2312"
    cmap = font.getBestCmap()
    for character in "部门单位整体支出绩效自评表（续）≥≤％0123456789.①、。":
        assert ord(character) in cmap, character
    assert ord("堃") not in cmap
    assert "vmtx" not in font  # horizontal text only
    # Its family in the PDF's list stands right before the whole font's.
    assert pdf.font_families() == (
        '"Noto Serif CJK SC GB2312", "Noto Serif CJK SC", "Noto Sans CJK SC", '
        '"HanaMinA", "HanaMinB", serif'
    )


def test_the_cut_is_made_again_for_another_version_of_the_font(tmp_path):
    source = tmp_path / "font.ttc"
    source.write_bytes(b"one")
    first = pdf_fonts.cached_name(source, 2)
    assert pdf_fonts.cached_name(source, 2) == first
    assert pdf_fonts.cached_name(source, 1) != first
    source.write_bytes(b"another")
    assert pdf_fonts.cached_name(source, 2) != first


def test_no_cut_without_the_font_it_is_cut_from():
    assert pdf_fonts.source_font("No Such Font Family") is None
    path, index = pdf_fonts.source_font()
    assert path.is_file() and index >= 0


def test_harfbuzz_subsetting_is_loaded():
    # Without libharfbuzz-subset0 WeasyPrint falls back to fontTools: ten times slower.
    assert ffi.harfbuzz_subset is not None


def test_rare_characters_have_glyphs(district, caplog):
    unit = make_unit("RARE", f"上海市{RARE}街道城市运行管理中心", district)
    data = sample_data()
    data["target_text"] = f"<p>目标：{RARE}</p>"
    data["result_text"] = f"<p>完成：{RARE}</p>"
    data["groups"][1]["categories"][0]["name"] = f"数量{RARE}"
    data["groups"][1]["categories"][0]["indicators"][0]["deviation_reason"] = f"原因{RARE}"
    evaluation = make_evaluation(unit, data=data)
    caplog.set_level(logging.WARNING, logger="weasyprint")

    text = "\n".join(page_texts(pdf_of(evaluation)))

    assert weasyprint_warnings(caplog) == []
    assert f"上海市{RARE}街道" in text and f"原因{RARE}" in text


def test_a_missing_glyph_would_be_caught(caplog):
    # The check above is only worth something if WeasyPrint does warn: a private-use
    # character no installed font has.
    caplog.set_level(logging.WARNING, logger="weasyprint")
    lay_out('<html lang="zh-CN"><body><p>\U000f0001</p></body></html>').write_pdf()
    assert any("glyph" in message for message in weasyprint_warnings(caplog))


def test_font_list_comes_from_settings(sample, settings):
    settings.PDF_FONT_FAMILIES = ['Bad"; } body { color: red', "Noto Sans CJK SC"]
    assert font_families() == '"Noto Sans CJK SC", serif'
    reader = pypdf.PdfReader(io.BytesIO(pdf_of(sample)))
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("Noto-Sans-CJK-SC" in font for font in fonts)


def test_fetcher_serves_static_files_only(tmp_path):
    app_css = settings.BASE_DIR / "static" / "css" / "app.css"
    assert static_file_path(app_css.as_uri()) == app_css.resolve()
    assert URL_FETCHER.fetch(app_css.as_uri()).read() == app_css.read_bytes()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in [
        "file:///etc/passwd",
        outside.as_uri(),
        (settings.BASE_DIR / "static").as_uri() + "/../manage.py",
        (settings.BASE_DIR / "static").as_uri() + "/css/missing.css",
        "http://127.0.0.1/static/css/app.css",
        "https://example.org/a.png",
        "data:text/plain,secret",
        "ftp://example.org/a.png",
    ]:
        assert static_file_path(url) is None, url
        with pytest.raises(ValueError):
            URL_FETCHER.fetch(url)


@pytest.fixture
def http_server():
    """A server on this machine that records every request: none may arrive."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", requests
    server.shutdown()
    server.server_close()


def test_html_references_fetch_nothing_but_static_files(http_server, tmp_path, settings):
    origin, requests = http_server
    static = tmp_path / "static"
    static.mkdir()
    Image.new("RGB", (4, 4), "red").save(static / "seal.png")
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "private.png")
    settings.STATICFILES_DIRS = [static]
    html = f"""<html lang="zh-CN"><head>
      <link rel="stylesheet" href="{origin}/style.css">
      <style>@import url("{origin}/import.css"); p {{ background: url("{origin}/bg.png"); }}</style>
      </head><body><p>正文</p>
      <img src="file:///etc/passwd"><img src="{(tmp_path / "private.png").as_uri()}">
      <img src="{origin}/image.png"><img src="../../../../etc/passwd">
      <img src="seal.png">
      </body></html>"""

    content = lay_out(html).write_pdf()

    assert requests == []
    assert image_count(content) == 1  # seal.png, a static file
    assert "正文" in page_texts(content)[0]


def test_rich_text_references_fetch_nothing(sample, http_server):
    origin, requests = http_server
    # Written around save(), as a raw import might: the drawing must still be safe.
    Evaluation.objects.filter(pk=sample.pk).update(
        target_text=f'<p>目标<img src="file:///etc/passwd">甲</p><img src="{origin}/a.png">',
        result_text=f'<p style="background: url({origin}/b.png)">完成乙</p>',
    )
    content = pdf_of(sample)
    assert requests == []
    assert image_count(content) == 0
    text = page_texts(content)[0]
    assert "目标甲" in text and "完成乙" in text


def indicator_pages(pages: list[str]) -> dict[str, set[int]]:
    """The pages each 三级 row of a synthetic evaluation appears on."""
    found: dict[str, set[int]] = {}
    for number, text in enumerate(pages):
        for name in re.findall(r"三级指标\d+-\d+(?!\d)", text):
            found.setdefault(name, set()).add(number)
    return found


def assert_header_before_rows(pages: list[str], row_pattern: str) -> None:
    for text in pages:
        first_row = re.search(row_pattern, text)
        if first_row:
            assert COLUMN_HEADS in text[: first_row.start()]


def test_long_evaluation_breaks_between_blocks(district):
    data = synthetic_data(80)
    data["target_text"] = goal_text("①")
    data["result_text"] = goal_text("②")
    for group in data["groups"]:
        for category in group["categories"]:
            for row in category["indicators"]:
                row["deviation_reason"] = "偏差说明：受外部因素影响，部分工作顺延至下一年度完成。"
    evaluation = make_evaluation(make_unit("LONG", "长表单位", district), data=data)

    pages = page_texts(pdf_of(evaluation))

    assert len(pages) >= 5
    text = "\n".join(pages)
    assert "①" in text and "②" in text  # the last characters of both goal texts
    for number, page in enumerate(pages, start=1):
        assert f"第 {number} 页 共 {len(pages)} 页" in page
    assert_header_before_rows(pages, r"三级指标\d")
    rows = indicator_pages(pages)
    assert len(rows) == 80
    for group in data["groups"]:
        group_pages = set()
        for category in group["categories"]:
            names = [row["name"] for row in category["indicators"]]
            # a 二级 block of five rows fits on a page: all on one page, with its name
            (page,) = set.union(*(rows[name] for name in names))
            assert category["name"] in pages[page]
            group_pages.add(page)
        # and so does each 一级 group of twenty
        assert len(group_pages) == 1
    assert "（续）" not in text
    assert re.search(r"合计 100 100\n", text)


def with_a_long_block(reason: str = "") -> dict:
    """A consistent evaluation whose first 一级 is one 二级 of 60 rows: longer than a page."""
    data = synthetic_data(8)
    data["groups"][0]["categories"] = [
        {
            "name": "超长二级",
            "indicators": [
                {
                    "name": f"三级指标9-{number}",
                    "target": "≥90.00(%)",
                    "actual": "95.00(%)",
                    "points": "0.50",
                    "score": "0.50",
                    "deviation_reason": reason,
                }
                for number in range(1, 61)
            ],
        }
    ]
    return data


def test_block_longer_than_a_page_repeats_its_labels(district):
    data = with_a_long_block(reason="说明文字较长，需要在本格内换行显示。" * 2)
    data["groups"][0]["name"] = "投入管理"
    evaluation = make_evaluation(make_unit("HUGE", "超长单位", district), data=data)

    pages = page_texts(pdf_of(evaluation))

    rows = indicator_pages(pages)
    block_pages = sorted(set.union(*(rows[f"三级指标9-{n}"] for n in range(1, 61))))
    assert len(block_pages) >= 2
    assert all(len(rows[f"三级指标9-{n}"]) == 1 for n in range(1, 61))  # no row cut
    assert "超长二级" in pages[block_pages[0]]
    for page in block_pages[1:]:
        assert "超长二级" in pages[page] and "投入管理" in pages[page]
        assert pages[page].count("（续）") == 2  # the 一级 and the 二级 label
    assert_header_before_rows(pages, r"三级指标\d")


def test_a_group_with_one_note_cell_repeats_it_with_continued(district):
    data = sample_data()
    # 投入管理, its 三级 column one merged note, made longer than a page.
    investment = data["groups"][0]
    investment["categories"] = [
        {**investment["categories"][0], "name": f"预算管理{number}"} for number in range(60)
    ]
    unit = make_unit("NOTE", "长投入管理测试单位", district)

    pages = page_texts(pdf_of(make_evaluation(unit, data=data)))

    continued = [text for text in pages[2:] if "预算管理" in text]
    assert continued
    for text in continued:
        # Text extraction interleaves the two cells; each ends in its own （续）.
        assert text.count("（续）") == 2, text
        assert "根据沪财预" in text


def test_a_plan_that_still_runs_over_is_planned_again_with_more_slack(district, monkeypatch):
    data = with_a_long_block()
    evaluation = make_evaluation(make_unit("OVER", "超页单位", district), data=data)
    # Forces the overrun: the measurement claims a page holds one row more than it
    # does (as when the parts of a cut grow), so the plan made with the first slack runs
    # over when laid out, and planning from that layout gives the same plan again.
    measure = pdf.row_placements

    def generous(document):
        placements, page_body = measure(document)
        row = max(placement.height for placement in placements.values())
        return placements, (page_body // row + 1) * row + pdf.SLACK + 0.5

    slacks = []
    plan = pdf.plan_pages

    def recording(document, segments, slack):
        slacks.append(slack)
        return plan(document, segments, slack)

    monkeypatch.setattr(pdf, "row_placements", generous)
    monkeypatch.setattr(pdf, "plan_pages", recording)

    pages = page_texts(pdf_of(evaluation))

    assert slacks[:3] == [pdf.SLACK, pdf.SLACK, 2 * pdf.SLACK]
    rows = indicator_pages(pages)
    block_pages = sorted(set.union(*(rows[f"三级指标9-{n}"] for n in range(1, 61))))
    assert len(block_pages) >= 2
    assert all(len(rows[f"三级指标9-{n}"]) == 1 for n in range(1, 61))
    # Every page of the block begins with its labels: no part was left to run over.
    for page in block_pages[1:]:
        assert "超长二级" in pages[page] and pages[page].count("（续）") == 2


def pdf_url(evaluation) -> str:
    return reverse("evaluation_pdf", args=[evaluation.pk])


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    """Downloads store their PDFs here, not in the project's exports/."""
    settings.EXPORT_ROOT = tmp_path / "exports"
    return settings.EXPORT_ROOT


@pytest.fixture
def renders(monkeypatch) -> list:
    """Counts the PDFs drawn (the real drawing still runs)."""
    drawn = []

    def counting(evaluation):
        drawn.append(evaluation.pk)
        return render_pdf(evaluation)

    monkeypatch.setattr("evaluations.pdf.render_pdf", counting)
    return drawn


def test_download_wrong_method(staff_client, sample):
    assert staff_client.post(pdf_url(sample)).status_code == 405


def test_download_unknown_evaluation_is_404(staff_client, sample):
    assert staff_client.get(reverse("evaluation_pdf", args=[sample.pk + 999])).status_code == 404


def test_download(staff_client, sample):
    page = staff_client.get(reverse("evaluation_table", args=[sample.pk])).content.decode()
    assert f'href="{pdf_url(sample)}"' in page

    response = staff_client.get(pdf_url(sample))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    assert "2023" in response["Content-Disposition"]
    content = response.getvalue()
    assert content.startswith(b"%PDF-")
    assert "8,278,261.03" in page_texts(content)[0]


def test_an_unchanged_form_is_drawn_once(staff_client, reviewer, sample, renders):
    reviewer_client = Client()
    reviewer_client.force_login(reviewer)
    first = staff_client.get(pdf_url(sample)).getvalue()
    assert renders == [sample.pk]

    # Again, and by another user: served from storage.
    assert staff_client.get(pdf_url(sample)).getvalue() == first
    assert reviewer_client.get(pdf_url(sample)).getvalue() == first
    assert renders == [sample.pk]


def test_a_changed_form_is_drawn_again(staff_client, sample, renders):
    staff_client.get(pdf_url(sample))
    Evaluation.objects.filter(pk=sample.pk).update(target_text="新的年度目标")

    content = staff_client.get(pdf_url(sample)).getvalue()

    assert renders == [sample.pk, sample.pk]
    assert "新的年度目标" in "\n".join(page_texts(content))


def test_the_download_and_the_bulk_export_share_the_file(staff_client, sample, renders):
    staff_client.get(pdf_url(sample))
    path, _, reused = store_pdf(sample.pk)
    assert reused and renders == [sample.pk]

    Evaluation.objects.filter(pk=sample.pk).update(target_text="批量导出先生成")
    store_pdf(sample.pk)
    staff_client.get(pdf_url(sample))
    assert renders == [sample.pk, sample.pk]


def test_a_download_over_its_time_limit_says_so(staff_client, sample, settings, monkeypatch):
    settings.PDF_REQUEST_TIMEOUT = 0.2
    drawn = []

    def slow_render(evaluation):
        time.sleep(5)
        drawn.append(evaluation)

    monkeypatch.setattr("evaluations.pdf.render_pdf", slow_render)

    response = staff_client.get(pdf_url(sample), follow=True)

    assert drawn == []  # interrupted, not waited for
    assert response.redirect_chain[-1][0] == reverse("evaluation_table", args=[sample.pk])
    assert "生成 PDF 超过 0.2 秒，已中止。请稍后再试" in response.content.decode()
    assert not list(Path(settings.EXPORT_ROOT).glob("pdf/*/*.pdf"))


def test_export_command_writes_the_pdf(sample, tmp_path):
    output = tmp_path / "table.pdf"
    call_command(
        "export_evaluation", unit="310112-PJ-CSYX", year=2023, format="pdf", output=str(output)
    )
    reader = pypdf.PdfReader(output)
    assert "2023年度" in reader.metadata.title
    assert "99.92" in reader.pages[0].extract_text()


def test_export_command_reuses_the_pdf_drawn_for_this_version(sample, tmp_path, settings, renders):
    settings.EXPORT_ROOT = tmp_path / "exports"
    outputs = [tmp_path / "first.pdf", tmp_path / "second.pdf", tmp_path / "changed.pdf"]

    def export(output):
        call_command(
            "export_evaluation", unit=sample.unit.code, year=2023, format="pdf", output=str(output)
        )

    export(outputs[0])
    export(outputs[1])
    assert renders == [sample.pk]
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    Evaluation.objects.filter(pk=sample.pk).update(subordinate_unit_count=3)
    export(outputs[2])
    assert renders == [sample.pk, sample.pk]
    assert "下属单位个数 3" in page_texts(outputs[2].read_bytes())[0]


def test_weasyprint_loads_its_libraries_without_running_programs():
    # ctypes.util.find_library runs ldconfig, gcc and ld for every library name that
    # does not load as given: a third of a second of every process that draws a PDF.
    count = (
        "import sys; runs = []; "
        "sys.addaudithook(lambda event, args: runs.append(args) if event == 'subprocess.Popen' else None); "
        "import {module}; from weasyprint.text import ffi; "
        "assert ffi.pango and ffi.harfbuzz_subset; print(len(runs))"
    )

    def programs_run(module: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", count.format(module=module)],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        return int(result.stdout)

    assert programs_run("weasyprint") > 0
    assert programs_run("evaluations.pdf_libraries") == 0


def test_faults_are_printed(sample):
    category = IndicatorCategory.objects.get(group__evaluation=sample, name="数量指标")
    Indicator.objects.filter(category=category, name="设备使用率").update(score="1.50")
    text = "\n".join(page_texts(pdf_of(sample)))
    assert "【问题】“设备使用率”" in text


EXTENSION_B = "\U00021484"  # 𡒄, CJK Extension B: not in Noto CJK


def test_an_extension_b_character_in_a_unit_name_is_printed(district, caplog):
    unit = make_unit("EXTB", f"上海市{EXTENSION_B}城街道城市运行管理中心", district)
    evaluation = make_evaluation(unit)
    caplog.set_level(logging.WARNING, logger="weasyprint")

    content = pdf_of(evaluation)

    assert weasyprint_warnings(caplog) == []
    assert f"上海市{EXTENSION_B}城街道" in page_texts(content)[0]
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in pypdf.PdfReader(io.BytesIO(content)).pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("HanaMinB" in font for font in fonts), fonts


def test_a_character_no_installed_font_has_stops_the_pdf(district, staff_client, sample):
    # A private-use character stands for a name character no font on the machine has.
    missing = "\U000f0001"
    sample.unit.name = f"上海市{missing}街道城市运行管理中心"
    sample.unit.save()

    with pytest.raises(MissingGlyphs) as refused:
        pdf_of(sample)
    assert "U+F0001" in str(refused.value) and "未生成 PDF" in str(refused.value)

    response = staff_client.get(pdf_url(sample), follow=True)
    assert response.redirect_chain[-1][0] == reverse("evaluation_table", args=[sample.pk])
    assert "未生成 PDF：已安装的字体中没有" in response.content.decode()

    with pytest.raises(CommandError, match="U\\+F0001"):
        call_command(
            "export_evaluation", unit=sample.unit.code, year=2023, format="pdf", output="/dev/null"
        )


def form_xobjects(content: bytes) -> list[int]:
    """Per page, how many drawings (the watermark is one) the page shows."""
    return [
        sum(
            xobject.get_object()["/Subtype"] == "/Form"
            for xobject in page["/Resources"].get("/XObject", {}).values()
        )
        for page in pypdf.PdfReader(io.BytesIO(content)).pages
    ]


def test_a_draft_is_marked_on_every_page(sample):
    content = pdf_of(sample)
    assert all(count > 0 for count in form_xobjects(content))  # 草稿 across the page
    for text in page_texts(content):
        assert "状态：草稿" in text  # and in the footer
    assert "草稿" not in page_texts(content)[1].replace("状态：草稿", "")  # no text


def test_an_approved_table_prints_as_the_form(sample):
    Evaluation.objects.filter(pk=sample.pk).update(
        phase=Evaluation.Phase.RESULTS, status=Evaluation.Status.APPROVED
    )
    content = pdf_of(sample)
    pages = page_texts(content)
    assert form_xobjects(content) == [0] * len(pages)
    for text in pages:
        assert "状态" not in text and "生成时间" not in text and "草稿" not in text
    assert pages[0].startswith("《部门（单位）整体支出绩效自评表》\n(2023年度)\n部门（单位）名称")
    assert re.search(r"合计 100 96\n", pages[-1])


def test_no_subordinate_units_leaves_the_count_blank(sample):
    head = page_texts(pdf_of(sample))[0].splitlines()
    assert "部门（单位）名称 上海市闵行区浦锦街道城市运行管理中心 下属单位个数" in head
    Evaluation.objects.filter(pk=sample.pk).update(subordinate_unit_count=3)
    head = page_texts(pdf_of(sample))[0].splitlines()
    assert "部门（单位）名称 上海市闵行区浦锦街道城市运行管理中心 下属单位个数 3" in head


def test_the_indicator_table_follows_short_goals_on_the_first_page(district):
    data = synthetic_data(40)
    data["target_text"] = "<p>做实处置网格，提升基层治理能力。</p>"
    data["result_text"] = "<p>全年目标均已完成。</p>"
    evaluation = make_evaluation(make_unit("SHORT", "短目标单位", district), data=data)

    pages = page_texts(pdf_of(evaluation))

    # Before, the table always began on page 2 and left page 1 three quarters blank.
    assert "分解目标自评" in pages[0] and "三级指标1-1" in pages[0]
    assert len(pages) == 2
    rows = indicator_pages(pages)
    assert rows["三级指标1-1"] == {0}
    for group in data["groups"]:  # each 一级 group of ten still on one page
        names = [row["name"] for category in group["categories"] for row in category["indicators"]]
        assert len(set.union(*(rows[name] for name in names))) == 1


def test_the_sample_is_laid_out_once(sample, monkeypatch):
    # The first group does not fit under the goals: it moves to page 2 whole, with the
    # header rows, in the first layout (no second layout, no orphaned header rows).
    import evaluations.pdf

    layouts = []
    monkeypatch.setattr(
        evaluations.pdf,
        "lay_out",
        lambda html, real=evaluations.pdf.lay_out: layouts.append(1) or real(html),
    )
    pages = page_texts(pdf_of(sample))
    assert len(layouts) == 1
    assert "分解目标自评" not in pages[0] and "预算编审管理" in pages[1]


def test_a_budget_line_fault_is_printed_in_the_budget_block(sample):
    BudgetLine.objects.filter(evaluation=sample, kind="other").update(
        budget_amount=Decimal("2000.00"), executed_amount=Decimal("3000.00")
    )
    BudgetLine.objects.filter(evaluation=sample, kind="basic").update(
        budget_amount=Decimal("3446197.01"), executed_amount=Decimal("3444760.72")
    )
    first_page = page_texts(pdf_of(sample))[0]
    budget_block = first_page[: first_page.index("年初设定目标")]
    assert "【问题】整体支出规模·其他资金：全年执行数 3,000.00 超过全年预算数" in budget_block


def test_a_bulk_export_item_names_the_missing_character():
    from evaluations.bulk_export import describe_error

    assert describe_error(MissingGlyphs(["\U000f0001"])).startswith(
        "未生成 PDF：已安装的字体中没有 “\U000f0001”（U+F0001）"
    )


def test_a_missing_character_is_caught_with_weasyprint_quietened(district):
    unit = make_unit("QUIET", "上海市\U000f0001街道", district)
    quiet = logging.getLogger("weasyprint")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with pytest.raises(MissingGlyphs):
            pdf_of(make_evaluation(unit))
    finally:
        quiet.setLevel(level)


def test_a_form_of_targets_only_has_no_total_score(staff_client, unit):
    evaluation = make_evaluation(unit, data=targets_only_data())

    response = staff_client.get(pdf_url(evaluation))

    text = "\n".join(page_texts(b"".join(response.streaming_content)))
    assert re.search(r"合计 100 —\n", text)
    assert "合计 100 0" not in text
