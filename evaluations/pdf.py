"""The official table as a PDF, the document of record, drawn by WeasyPrint from the
same `build_table` structure as the page.

A page break must not cut a 二级 block, and WeasyPrint draws a rowspan that crosses a
page break badly. So this drawing never lets one cross: the indicator rows are drawn as
segments, each one `<tbody>` with `break-inside: avoid`, and a segment starts as a whole
一级 group. The indicator table follows the goals on the same page. WeasyPrint moves a
group that does not fit to the next page by itself — but it lays out the first tbody
after the header rows as if it stood at a page top, and splits it. So an empty tbody
comes first, and the first group may not break from it: when that group does not fit,
the whole table moves on, header rows included, in the same layout. Only when a
segment still runs over a page end — a group longer than a page — are the pages
planned from the row heights of that layout: groups cut before a 二级 block, or inside
a 二级 block that alone is longer than a page, the part after a cut repeating its
labels marked （续）; and the document is laid out again.

A table approved in the results phase prints as the official form; any other carries
its status on the first page and in every footer, and 草稿 across every page.
"""

import logging
import mimetypes
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

# Before WeasyPrint: its native libraries, loaded without the slow look-ups.
from . import pdf_libraries  # noqa: F401

# isort: split
import cssselect2
from weasyprint import CSS, HTML, Document
from weasyprint.html import UA_STYLESHEET as WEASYPRINT_UA_STYLESHEET
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from . import pdf_fonts
from .evidence import evidence_of
from .models import Evaluation
from .table import CategoryBlock, GroupBlock, Row, build_table

# One layout when every 一级 group fits on a page, two when the pages are planned; more
# only when a planned layout still ran over.
MAX_LAYOUTS = 5
# Planned pages are filled short of the measured page body by this much (CSS px), and
# by as much again whenever a plan, laid out, still ran over: the labels marked （续）
# and the borders of a new tbody make a part a little taller than its rows were.
SLACK = 6.0
FONT_NAME = re.compile(r"[\w \-]+")
# The empty lead tbody (see above) only for a first group surely shorter than a page:
# WeasyPrint cannot place a longer one after it at all. Estimated in mm from the text,
# generously (pdf.css: 9 pt text, 1.3 line height; a page body is 267 mm, the header
# rows take about 17 mm of it).
SURELY_FITS_MM = 180
LINE_MM = 4.2
ROW_PADDING_MM = 2.2
# Characters per line of the text columns (a CJK character counts 1, ASCII ½).
NAME_CHARACTERS, REASON_CHARACTERS = 7, 13

# WeasyPrint's warning for a character no font of the list (nor any other installed
# font) has; the character is drawn as an empty box.
MISSING_GLYPH = ".notdef glyph rendered"

# Fontconfig's font list and the faces Pango has opened live in this object; made once
# per process, so only the first PDF of a process pays for loading the CJK fonts.
FONT_CONFIG = FontConfiguration()


class StaticFilesFetcher(URLFetcher):
    """Lets the PDF load the project's own static files and nothing else: no other file
    of the machine, no network. Rich text is cleaned when saved, but a reference that
    slips through must fetch nothing."""

    def __init__(self):
        # `fetch` below opens no address; the HTTPS context of WeasyPrint's own
        # fetching is one that connects nowhere and costs no read of the certificates.
        super().__init__(ssl_context=pdf_libraries.no_network_context())

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        path = static_file_path(url)
        if path is None:
            raise ValueError(f"PDF 只能引用本系统的静态文件，已拒绝：{url}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})


URL_FETCHER = StaticFilesFetcher()


class MissingGlyphs(ValueError):
    """The PDF would print an empty box for these characters: none of the installed
    fonts has them. A document of record must not lose a character silently, so no
    PDF is made."""

    def __init__(self, characters: list[str]):
        self.characters = characters
        named = "、".join(f"“{character}”（U+{ord(character):04X}）" for character in characters)
        super().__init__(
            f"未生成 PDF：已安装的字体中没有 {named}，打印出来会是空白方框。"
            "请安装含有这些字的字体并加入 PDF_FONT_FAMILIES，或核对录入的文字。"
        )


class _GlyphWatch(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.characters: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith(MISSING_GLYPH) and record.args:
            character = record.args[0]
            if character not in self.characters:
                self.characters.append(character)


def write_pdf(document: Document) -> bytes:
    """The PDF of a laid-out document; raises `MissingGlyphs` rather than print a box."""
    watch = _GlyphWatch()
    logger = logging.getLogger("weasyprint")
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):  # a deployment quietened it: still watch
        logger.setLevel(logging.WARNING)
    logger.addHandler(watch)
    try:
        content = document.write_pdf()
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)
    if watch.characters:
        raise MissingGlyphs(watch.characters)
    return content


def static_roots() -> list[Path]:
    """The folders `collectstatic` gathers from, and where it puts them."""
    roots = [Path(settings.STATIC_ROOT)] if settings.STATIC_ROOT else []
    for finder in finders.get_finders():
        roots.extend(Path(storage.location) for storage in getattr(finder, "storages", {}).values())
    return [root.resolve() for root in roots]


def static_file_path(url: str) -> Path | None:
    """The file a `file://` URL names, if it is one of the project's static files."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    # resolve() follows `..` and symbolic links before the check, not after.
    path = Path(url2pathname(parts.path)).resolve()
    if not path.is_file():
        return None
    if any(path.is_relative_to(root) for root in static_roots()):
        return path
    return None


def static_base_url() -> str:
    """Relative references in the PDF's HTML resolve against the project's static folder."""
    return Path(settings.STATICFILES_DIRS[0]).resolve().as_uri() + "/"


def font_families() -> SafeString:
    """`PDF_FONT_FAMILIES` as a CSS font list. Names come from the environment and end
    up inside a `<style>`: only letters, digits, spaces, `-` and `_` pass. The cut of
    the main CJK font (pdf_fonts.py) stands right before the whole font."""
    names = []
    for name in settings.PDF_FONT_FAMILIES:
        if not FONT_NAME.fullmatch(name):
            continue
        if name == pdf_fonts.SOURCE_FAMILY and cut_font_stylesheet() is not None:
            names.append(pdf_fonts.CUT_FAMILY)
        names.append(name)
    return mark_safe(", ".join([f'"{name}"' for name in names] + ["serif"]))


class FontFileFetcher(URLFetcher):
    """Serves the one font file of an `@font-face` rule, and nothing else."""

    def __init__(self, path: Path):
        super().__init__(ssl_context=pdf_libraries.no_network_context())
        self.path = path

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url != self.path.as_uri():
            raise ValueError(f"PDF 只能加载本系统的字体文件，已拒绝：{url}")
        return URLFetcherResponse(url, self.path.read_bytes(), {"Content-Type": "font/otf"})


@cache
def cut_font_stylesheet() -> CSS | None:
    """The `@font-face` of the cut, registered once per process with `FONT_CONFIG`."""
    path = pdf_fonts.cut_font_path()
    if path is None:
        return None
    rule = f'@font-face {{ font-family: "{pdf_fonts.CUT_FAMILY}"; src: url("{path.as_uri()}"); }}'
    return CSS(string=rule, font_config=FONT_CONFIG, url_fetcher=FontFileFetcher(path))


@dataclass
class Segment:
    """Indicator rows of one 一级 group drawn as one `<tbody>` that stays on one page."""

    group: GroupBlock
    categories: list[CategoryBlock]
    # The group, or its first 二级 block, began on an earlier page: labels say （续）.
    continues_group: bool = False
    continues_category: bool = False
    starts_page: bool = False

    @property
    def rows(self) -> list[Row]:
        return [row for category in self.categories for row in category.rows]

    @property
    def rowspan(self) -> int:
        return len(self.rows)


def render_pdf(evaluation: Evaluation) -> bytes:
    """Expects an evaluation from `Evaluation.objects.with_table()`."""
    table = build_table(evaluation)
    segments = [Segment(group, list(group.categories)) for group in table.groups if group.rows]
    context = {
        "table": table,
        "document_title": table.document_title,
        "generated_at": timezone.localtime(),
        "font_families": font_families(),
        # The 附件清单 at the end (evaluations.evidence).
        "attachments": evidence_of(evaluation, table).listed,
        # The approved table is the document of record and looks like the printed form;
        # any other is marked as a draft on every page.
        "final": evaluation.phase == Evaluation.Phase.RESULTS
        and evaluation.status == Evaluation.Status.APPROVED,
    }
    slack = SLACK
    lead = bool(segments) and estimated_height(segments[0]) <= SURELY_FITS_MM
    for _ in range(MAX_LAYOUTS):
        document = lay_out(
            render_to_string(
                table.layout.pdf_template, context | {"segments": segments, "lead": lead}
            )
        )
        # A planned layout places its first segment itself.
        lead = False
        planned = plan_pages(document, segments, slack)
        # The plan was laid out and still ran over: plan again with more room to spare.
        while planned == segments and slack < 10 * SLACK:
            slack += SLACK
            planned = plan_pages(document, segments, slack)
        # Nothing ran over; or it still does with all the slack we allow, and another
        # layout of the same plan would run over again.
        if planned is None or planned == segments:
            break
        segments = planned
    return write_pdf(document)


def estimated_height(segment: Segment) -> float:
    """A generous estimate of a segment's height in mm, from its text alone."""

    def lines(text: str, per_line: int) -> int:
        width = sum(0.5 if character.isascii() else 1 for character in text)
        return max(1, -(-int(width + 0.5) // per_line))

    total = 0.0
    for category in segment.categories:
        rows = sum(
            ROW_PADDING_MM
            + LINE_MM
            * max(
                lines(row.name, NAME_CHARACTERS),
                lines(row.deviation_reason + "".join(row.faults), REASON_CHARACTERS),
            )
            for row in category.rows
        )
        total += max(rows, ROW_PADDING_MM + LINE_MM * lines(category.name, NAME_CHARACTERS))
    return total * 1.3


def lay_out(html: str) -> Document:
    stylesheet = cut_font_stylesheet()
    return FormHTML(string=html, base_url=static_base_url(), url_fetcher=URL_FETCHER).render(
        stylesheets=[stylesheet] if stylesheet is not None else None, font_config=FONT_CONFIG
    )


# Pseudo-elements of footnotes and notes: the form has none.
NOTE_PSEUDO_ELEMENTS = {
    "footnote-call",
    "footnote-marker",
    "note-call",
    "note-marker",
    "note-callback",
}


@cache
def user_agent_stylesheet() -> CSS:
    """WeasyPrint's HTML stylesheet without its rules for every element's ::marker,
    footnote and note pseudo-elements: the form has no footnotes or notes, and only a
    list item draws a marker. Styles are computed for every pseudo-element a rule
    names, so these rules made four styles of each element's one: about a tenth of
    a render.

    Made from the selectors WeasyPrint compiled when it was imported rather than by
    parsing its text again (a quarter of a second of a process's first PDF): the same
    rules, less those of footnotes and notes, and `::marker` matched on `li` alone,
    as the rule `li::marker` would (its specificity one element more)."""
    source = WEASYPRINT_UA_STYLESHEET.matcher

    def without_notes(entries: list) -> list:
        # An entry is (test, specificity, order, pseudo-element, declarations).
        return [entry for entry in entries if entry[3] not in NOTE_PSEUDO_ELEMENTS]

    matcher = cssselect2.Matcher()
    matcher.order = source.order
    buckets = (
        "id_selectors",
        "class_selectors",
        "lower_local_name_selectors",
        "namespace_selectors",
    )
    for name in buckets:
        rules = {key: without_notes(value) for key, value in getattr(source, name).items()}
        setattr(matcher, name, rules)
    matcher.lang_attr_selectors = without_notes(source.lang_attr_selectors)
    for test, (a, b, c), order, pseudo, declarations in without_notes(source.other_selectors):
        if pseudo == "marker":  # `::marker`, as if it read `li::marker`
            rule = (test, (a, b, c + 1), order, pseudo, declarations)
            matcher.lower_local_name_selectors.setdefault("li", []).append(rule)
        else:
            matcher.other_selectors.append((test, (a, b, c), order, pseudo, declarations))
    return CSS(
        string="",
        url_fetcher=URL_FETCHER,
        matcher=matcher,
        page_rules=WEASYPRINT_UA_STYLESHEET.page_rules,
        layers=WEASYPRINT_UA_STYLESHEET.layers,
    )


class FormHTML(HTML):
    def _ua_stylesheets(self, forms=False):
        return [user_agent_stylesheet()]


@dataclass
class Placement:
    first_page: int
    last_page: int
    # How far the row begins below the top of its first page's body: 0 for the first
    # row of a page that holds only indicator rows.
    offset: float
    height: float


def row_placements(document: Document) -> tuple[dict[str, Placement], float]:
    """Where each indicator row landed: its first page, where on it, and its height
    (summed over pages when the row itself was split); and how tall a page's body is
    below the repeated header rows."""
    placements: dict[str, Placement] = {}
    page_body = 0.0
    for page_number, page in enumerate(document.pages):
        # `_page_box` is WeasyPrint's laid-out tree: private, hence the pinned major version.
        page_box = page._page_box
        # Where rows would begin on a page that holds nothing else: below the header rows.
        body_top = page_box.content_box_y()
        for box in page_box.descendants():
            if getattr(box, "is_header", False):
                body_top = page_box.content_box_y() + box.margin_height()
                page_body = max(page_body, page_box.height - box.margin_height())
            if box.element_tag != "tr" or box.element is None:
                continue
            anchor = box.element.get("data-row")
            if anchor is None:
                continue
            if anchor in placements:
                placements[anchor].last_page = page_number
                placements[anchor].height += box.margin_height()
            else:
                placements[anchor] = Placement(
                    page_number, page_number, box.position_y - body_top, box.margin_height()
                )
    return placements, page_body


def plan_pages(document: Document, segments: list[Segment], slack: float) -> list[Segment] | None:
    """The segments, moved and cut so that none runs over a page end, planned from the
    row heights of `document`; None when none runs over. A list equal to `segments`
    means the layout ran over although its rows, as measured, fit: the caller plans
    again with more slack.

    From the first segment that crosses a page end on, segments are packed onto pages:
    a 一级 group that fits on the rest of the page stays; one that fits on a page
    starts a new page, whole; a longer one is cut before each 二级 block that would
    cross a page end, and a 二级 block longer than a page is cut between its rows.
    The plan sets each page break itself rather than leave it to `break-inside: avoid`,
    so that a second layout follows it."""
    placements, page_body = row_placements(document)
    first = next(
        (
            index
            for index, segment in enumerate(segments)
            if crosses(segment, placements, page_body)
        ),
        None,
    )
    if first is None:
        return None
    page_body -= slack
    planned = segments[:first]
    used = placements[segments[first].rows[0].anchor].offset
    for segment in segments[first:]:
        if segment.starts_page:
            used = 0.0
        total = height(segment.rows, placements)
        if used + total <= page_body:
            planned.append(segment)
            used += total
        elif total <= page_body:
            planned.append(replace(segment, starts_page=used > 0 or segment.starts_page))
            used = total
        else:
            parts, used = cut_to_pages(segment, used, page_body, placements)
            planned.extend(parts)
    return planned


def cut_to_pages(
    segment: Segment, used: float, page_body: float, placements: dict[str, Placement]
) -> tuple[list[Segment], float]:
    """Cuts a segment longer than a page, starting `used` below the top of a page body."""
    parts = [replace(segment, categories=[])]
    for category in segment.categories:
        block = height(category.rows, placements)
        if used + block <= page_body:
            parts[-1].categories.append(category)
            used += block
            continue
        if block <= page_body:
            # The 二级 block fits on a page of its own: it begins the next one.
            if parts[-1].categories:
                parts.append(Segment(segment.group, [], continues_group=True))
            parts[-1].starts_page = parts[-1].starts_page or used > 0
            parts[-1].categories.append(category)
            used = block
            continue
        # A 二级 block longer than the rest of the page and than a whole page: cut its rows.
        rows: list[Row] = []
        for row in category.rows:
            row_height = placements[row.anchor].height
            if used + row_height > page_body and (rows or parts[-1].categories):
                if rows:
                    parts[-1].categories.append(CategoryBlock(category.category, rows))
                parts.append(
                    Segment(
                        segment.group,
                        [],
                        continues_group=True,
                        continues_category=bool(rows),
                        starts_page=True,
                    )
                )
                rows, used = [], 0.0
            rows.append(row)
            used += row_height
        parts[-1].categories.append(CategoryBlock(category.category, rows))
    return [part for part in parts if part.categories], used


def crosses(segment: Segment, placements: dict[str, Placement], page_body: float) -> bool:
    """Whether a segment's rows run onto a later page than the one it begins on. A
    segment holding a row longer than a page always does; no cut helps it, and it is
    left to WeasyPrint."""
    rows = [placements[row.anchor] for row in segment.rows]
    if any(row.height > page_body for row in rows):
        return False
    return any(row.last_page > rows[0].first_page for row in rows)


def height(rows: list[Row], placements: dict[str, Placement]) -> float:
    return sum(placements[row.anchor].height for row in rows)


def pdf_filename(evaluation: Evaluation) -> str:
    # 整体支出绩效自评表, 项目支出绩效自评表: the title without the overall form's 部门（单位）.
    title = evaluation.layout.title.removeprefix("部门（单位）")
    return f"{evaluation.subject}{evaluation.year}年度{title}.pdf"
