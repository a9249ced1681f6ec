"""The PDF's own cut of its main CJK font, made once per machine.

WeasyPrint subsets every font it embeds, but it keeps each glyph at its place in the
font (HarfBuzz's retain-gids: its text drawing writes the font's glyph ids), so the
embedded font has as many glyph slots as the highest glyph id the text uses. Noto
Serif CJK holds 65,535 glyphs, the characters of Simplified Chinese spread over all of
them: the sample used glyphs up to 63,163, and its font, mostly the empty slots' offsets
and widths, took 227 KB of its 244 KB (drawn from the cut below: 119 KB of 136 KB).

So the PDF draws the common characters — GB 2312's 7,445 characters, ASCII, Latin-1 and
the usual symbol and punctuation blocks — from a cut of the same font holding only
those, about 8,100 glyphs: slots beyond 8,100 cannot occur. The cut is the same
outlines, names its family `CUT_FAMILY` so that fontconfig never takes it for the whole
font, and stands in the font list right before the whole font, which still draws every
character the cut lacks (and 花園明朝 after it what Noto lacks). The cut keeps the
layout features of horizontal text; those for vertical text and for the Japanese,
Korean and traditional forms (`locl`), which a `zh-CN` text never uses, go, and with
them the 5,500 glyphs they reach.

The cut is made with HarfBuzz's subsetter (libharfbuzz-subset0, which the PDF needs
anyway) in about 0.3 s, the first time a PDF is drawn, and kept in `PDF_FONT_CACHE`
under a name that changes with the source font file and with this recipe: a new
version of the font, or of the recipe, makes a new cut. Should it fail, the PDF is drawn
from the installed fonts as they are, only bigger.
"""

import hashlib
import logging
import os
import tempfile
from functools import cache
from io import BytesIO
from pathlib import Path

import cffi
from django.conf import settings

logger = logging.getLogger(__name__)

SOURCE_FAMILY = "Noto Serif CJK SC"
CUT_FAMILY = "Noto Serif CJK SC GB2312"
# Part of the cached file's name: change it when what goes into the cut changes.
RECIPE = "1"

# Besides GB 2312's characters: the blocks a form's text and numbers draw from.
BLOCKS = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1: ×, ÷, °, ±
    (0x2000, 0x206F),  # general punctuation: ‰, —, “”
    (0x2100, 0x218F),  # letterlike symbols and number forms: ℃, №, Ⅻ
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators: ≥, ≤, ≠
    (0x2460, 0x24FF),  # enclosed numbers: ①
    (0x2500, 0x257F),  # box drawing
    (0x25A0, 0x25FF),  # geometric shapes: ○, ■
    (0x3000, 0x303F),  # CJK symbols and punctuation: 、。《》【】
    (0xFF00, 0xFFEF),  # full-width forms: （），％
]
# OpenType features a horizontal zh-CN text is shaped with; the glyphs only others
# reach (vertical forms, other regions' forms) stay out of the cut.
FEATURES = ["ccmp", "liga", "clig", "calt", "rlig", "rclt", "kern", "mark", "mkmk"]
# Vertical metrics: the PDF draws horizontal text only.
DROPPED_TABLES = ["vhea", "vmtx", "VORG"]

# Fontconfig finds the source font in every process that draws a PDF; HarfBuzz's
# subsetter only when the cut is made. Each declaration cffi parses costs
# time (its C parser is written in Python), so the subsetter's are parsed only then.
ffi = cffi.FFI()
ffi.cdef(
    """
    typedef struct _FcPattern FcPattern;
    typedef struct _FcConfig FcConfig;
    typedef int FcBool;
    typedef int FcResult;
    typedef unsigned char FcChar8;
    FcPattern *FcNameParse(const FcChar8 *name);
    FcBool FcConfigSubstitute(FcConfig *config, FcPattern *p, int kind);
    void FcDefaultSubstitute(FcPattern *pattern);
    FcPattern *FcFontMatch(FcConfig *config, FcPattern *p, FcResult *result);
    FcResult FcPatternGetString(const FcPattern *p, const char *object, int n, FcChar8 **s);
    FcResult FcPatternGetInteger(const FcPattern *p, const char *object, int n, int *i);
    void FcPatternDestroy(FcPattern *p);
    """
)


@cache
def subset_ffi() -> cffi.FFI:
    subset = cffi.FFI()
    subset.cdef(
        """
        typedef struct hb_blob_t hb_blob_t;
        typedef struct hb_face_t hb_face_t;
        typedef struct hb_set_t hb_set_t;
        typedef struct hb_subset_input_t hb_subset_input_t;
        typedef uint32_t hb_codepoint_t;
        typedef uint32_t hb_tag_t;
        hb_blob_t *hb_blob_create_from_file_or_fail(const char *file_name);
        void hb_blob_destroy(hb_blob_t *blob);
        const char *hb_blob_get_data(hb_blob_t *blob, unsigned int *length);
        hb_face_t *hb_face_create(hb_blob_t *blob, unsigned int index);
        hb_blob_t *hb_face_reference_blob(hb_face_t *face);
        void hb_face_destroy(hb_face_t *face);
        hb_tag_t hb_tag_from_string(const char *str, int len);
        void hb_set_add(hb_set_t *set, hb_codepoint_t codepoint);
        void hb_set_add_range(hb_set_t *set, hb_codepoint_t first, hb_codepoint_t last);
        void hb_set_clear(hb_set_t *set);
        hb_subset_input_t *hb_subset_input_create_or_fail(void);
        void hb_subset_input_destroy(hb_subset_input_t *input);
        hb_set_t *hb_subset_input_unicode_set(hb_subset_input_t *input);
        hb_set_t *hb_subset_input_set(hb_subset_input_t *input, int set_type);
        hb_face_t *hb_subset_or_fail(hb_face_t *source, const hb_subset_input_t *input);
        """
    )
    return subset


FC_MATCH_PATTERN = 0
FC_RESULT_MATCH = 0
HB_SUBSET_SETS_DROP_TABLE_TAG = 3
HB_SUBSET_SETS_LAYOUT_FEATURE_TAG = 6


def cut_characters() -> list[int]:
    """GB 2312's characters and the blocks above, as code points."""
    characters = set()
    for first, last in BLOCKS:
        characters.update(range(first, last + 1))
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                characters.add(ord(bytes([high, low]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return sorted(characters)


def source_font(family: str = SOURCE_FAMILY) -> tuple[Path, int] | None:
    """The file and face index fontconfig draws `family` from; None when it is not
    installed (fontconfig would offer another family in its place)."""
    fontconfig = ffi.dlopen("libfontconfig.so.1")
    pattern = fontconfig.FcNameParse(family.encode())
    fontconfig.FcConfigSubstitute(ffi.NULL, pattern, FC_MATCH_PATTERN)
    fontconfig.FcDefaultSubstitute(pattern)
    result = ffi.new("FcResult *")
    match = fontconfig.FcFontMatch(ffi.NULL, pattern, result)
    fontconfig.FcPatternDestroy(pattern)
    if match == ffi.NULL:
        return None
    try:
        value = ffi.new("FcChar8 **")
        families = []
        while fontconfig.FcPatternGetString(match, b"family", len(families), value) == 0:
            families.append(ffi.string(value[0]).decode())
        if family not in families:
            return None
        fontconfig.FcPatternGetString(match, b"file", 0, value)
        path = Path(os.fsdecode(ffi.string(value[0])))
        index = ffi.new("int *")
        fontconfig.FcPatternGetInteger(match, b"index", 0, index)
        return path, index[0]
    finally:
        fontconfig.FcPatternDestroy(match)


def cut_font(source: Path, index: int) -> bytes:
    """The cut of face `index` of `source`, named `CUT_FAMILY`."""
    hb_ffi = subset_ffi()
    harfbuzz = hb_ffi.dlopen("libharfbuzz.so.0")
    subset = hb_ffi.dlopen("libharfbuzz-subset.so.0")
    blob = harfbuzz.hb_blob_create_from_file_or_fail(os.fsencode(source))
    if blob == hb_ffi.NULL:
        raise OSError(f"cannot read {source}")
    face = harfbuzz.hb_face_create(blob, index)
    harfbuzz.hb_blob_destroy(blob)
    plan = subset.hb_subset_input_create_or_fail()
    try:
        unicodes = subset.hb_subset_input_unicode_set(plan)
        for character in cut_characters():
            harfbuzz.hb_set_add(unicodes, character)
        dropped = subset.hb_subset_input_set(plan, HB_SUBSET_SETS_DROP_TABLE_TAG)
        for tag in DROPPED_TABLES:
            harfbuzz.hb_set_add(dropped, harfbuzz.hb_tag_from_string(tag.encode(), -1))
        features = subset.hb_subset_input_set(plan, HB_SUBSET_SETS_LAYOUT_FEATURE_TAG)
        harfbuzz.hb_set_clear(features)
        for tag in FEATURES:
            harfbuzz.hb_set_add(features, harfbuzz.hb_tag_from_string(tag.encode(), -1))
        cut = subset.hb_subset_or_fail(face, plan)
    finally:
        subset.hb_subset_input_destroy(plan)
        harfbuzz.hb_face_destroy(face)
    if cut == hb_ffi.NULL:
        raise OSError(f"HarfBuzz could not subset {source}")
    cut_blob = harfbuzz.hb_face_reference_blob(cut)
    length = hb_ffi.new("unsigned int *")
    data = hb_ffi.buffer(harfbuzz.hb_blob_get_data(cut_blob, length), length[0])[:]
    harfbuzz.hb_blob_destroy(cut_blob)
    harfbuzz.hb_face_destroy(cut)
    return renamed(data, CUT_FAMILY)


def renamed(font: bytes, family: str) -> bytes:
    """The font with its family (and full and PostScript names) changed to `family`."""
    from fontTools.ttLib import TTFont

    ttfont = TTFont(BytesIO(font), lazy=True)
    values = {
        1: family,
        16: family,
        4: f"{family} Regular",
        6: family.replace(" ", "") + "-Regular",
    }
    names = ttfont["name"]
    for record in list(names.names):
        if record.nameID in values:
            names.setName(
                values[record.nameID],
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
    output = BytesIO()
    ttfont.save(output)
    return output.getvalue()


def cached_name(source: Path, index: int) -> str:
    status = source.stat()
    key = f"{RECIPE}|{source.resolve()}|{index}|{status.st_size}|{status.st_mtime_ns}"
    return f"{CUT_FAMILY.replace(' ', '')}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.otf"


@cache
def cut_font_path() -> Path | None:
    """The cached cut of the installed `SOURCE_FAMILY`, made when missing; None when
    the family is not installed or the cut cannot be made."""
    try:
        source = source_font()
        if source is None:
            return None
        path = Path(settings.PDF_FONT_CACHE) / cached_name(*source)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            content = cut_font(*source)
            # Written under another name and renamed: processes drawing at the same
            # time read a whole file or none.
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as part:
                part.write(content)
            # Web and worker processes may run as different users.
            os.chmod(part.name, 0o644)
            os.replace(part.name, path)
        return path
    except OSError as error:
        logger.warning("PDF 字体子集未生成，改用完整字体（PDF 会更大）：%s", error)
        return None
