"""Measure glyph advance widths for the badge renderer in a real browser.

`service/rankings/badge_svg.py` sizes badges from a table of advance widths instead of asking a
font at run time (the service must not depend on fonts being installed). This script
regenerates that table: it loads a page in headless Chromium that measures every
printable ASCII and Latin-1 character with `CanvasRenderingContext2D.measureText` at
11px in DejaVu Sans (what the badge's font stack resolves to on Linux, and metrically
close to Verdana), and a sample of kana, ideographs and full-width forms in Noto Sans CJK JP.

Needs `chromium` and the Debian packages fonts-dejavu-core and fonts-noto-cjk:

    apt-get install -y chromium fonts-dejavu-core fonts-noto-cjk
    python bench/measure_glyphs.py            # prints the table to paste into the module
    python bench/measure_glyphs.py --check    # compares with the committed table
    python bench/measure_glyphs.py --fonts    # compares with the fonts the PNG is drawn with

`--fonts` needs no browser: it reads the advances of the packaged fonts
(service/static/fonts, built by scripts/subset_fonts.py) with fontTools, so the widths the
SVG is laid out with are checked against the glyphs the PNG badge draws.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

FONT_SIZE = 11
LATIN_FONT = "DejaVu Sans"
CJK_FONT = "Noto Sans CJK JP"
LATIN_CHARS = [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0xA0, 0x100)]
CJK_SAMPLE = (
    "位最高順コンサルタントランキング経営マーケティングあいうアイウ日本語（）＃１２３、。・ー"
)
HALF_WIDTH_SAMPLE = "ｱｲｳｶｷｸﾗﾝｷﾝｸﾞｰ｡､"

PAGE = """<!doctype html><meta charset="utf-8"><body><pre id="out"></pre><script>
const ctx = document.createElement('canvas').getContext('2d');
function measure(font, chars) {
  ctx.font = font;
  // [code point, width] pairs: object keys would be reordered and the DOM dump would
  // turn some characters into entities.
  return chars.map((ch) => [ch.codePointAt(0), ctx.measureText(ch).width]);
}
const latin = measure("%(size)spx '%(latin_font)s'", %(latin)s);
const cjk = measure("%(size)spx '%(cjk_font)s'", %(cjk)s);
const half = measure("%(size)spx '%(cjk_font)s'", %(half)s);
document.getElementById('out').textContent = JSON.stringify({latin, cjk, half});
</script>"""


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("headless Chromium is needed: apt-get install -y chromium")


def measure() -> dict[str, dict[str, float]]:
    """Run the measuring page in Chromium: {"latin"|"cjk"|"half": {char: width}}."""
    page = PAGE % {
        "size": FONT_SIZE,
        "latin_font": LATIN_FONT,
        "cjk_font": CJK_FONT,
        "latin": json.dumps(LATIN_CHARS),
        "cjk": json.dumps(list(CJK_SAMPLE)),
        "half": json.dumps(list(HALF_WIDTH_SAMPLE)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        html = pathlib.Path(tmp, "measure.html")
        html.write_text(page, encoding="utf-8")
        result = subprocess.run(
            [
                find_chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp}/profile",
                "--dump-dom",
                html.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    start = result.stdout.index('<pre id="out">') + len('<pre id="out">')
    end = result.stdout.index("</pre>", start)
    raw = result.stdout[start:end]
    pairs = json.loads(raw)
    return {
        script: {chr(code): float(width) for code, width in pairs[script]}
        for script in ("latin", "cjk", "half")
    }


def python_literal(ch: str) -> str:
    """A double-quoted literal that keeps letters readable and escapes invisible ones."""
    if ch in ('"', "\\"):
        return f'"\\{ch}"'
    if ch == " " or (ch.isprintable() and not ch.isspace() and ord(ch) != 0xAD):
        return f'"{ch}"'
    return f'"\\x{ord(ch):02x}"'


def format_table(latin: dict[str, float]) -> str:
    lines = ["# fmt: off", "LATIN_ADVANCE_WIDTHS: Final[dict[str, float]] = {"]
    items = [f"{python_literal(ch)}: {round(width, 2)}," for ch, width in latin.items()]
    line = "   "
    for item in items:
        if len(line) + 1 + len(item) > 92:
            lines.append(line)
            line = "   "
        line += " " + item
    lines.append(line)
    lines.append("}")
    lines.append("# fmt: on")
    return "\n".join(lines)


def font_advances() -> dict[str, dict[str, float]]:
    """{"latin"|"cjk": {char: advance at FONT_SIZE}} of the packaged PNG fonts."""
    from fontTools.ttLib import TTFont

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    from service.rankings.badge_png import FONT_FILES

    found = {}
    for name, path in zip(("latin", "cjk"), FONT_FILES, strict=True):
        font = TTFont(path)
        scale = FONT_SIZE / font["head"].unitsPerEm
        metrics = font["hmtx"]
        found[name] = {
            chr(code): metrics[glyph][0] * scale for code, glyph in font.getBestCmap().items()
        }
    return found


def check_fonts() -> int:
    """Print where the committed table and the packaged fonts disagree; 1 if they do."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    import unicodedata

    from service.rankings import badge_svg

    fonts = font_advances()
    latin, cjk = fonts["latin"], fonts["cjk"]
    # The soft hyphen is invisible inside a word: the table's 0 is right, the font's
    # advance is that of the hyphen it shows at a line break (badges have none).
    off = {
        ch: (width, latin[ch])
        for ch, width in badge_svg.LATIN_ADVANCE_WIDTHS.items()
        if ch != "\xad" and abs(latin[ch] - width) > 0.01
    }
    expected = {"W": badge_svg.FULL_WIDTH_ADVANCE, "F": badge_svg.FULL_WIDTH_ADVANCE}
    expected["H"] = badge_svg.HALF_WIDTH_ADVANCE
    wide = {
        ch: (expected[unicodedata.east_asian_width(ch)], width)
        for ch, width in cjk.items()
        if ch not in latin
        and unicodedata.east_asian_width(ch) in expected
        and abs(width - expected[unicodedata.east_asian_width(ch)]) > 0.01
    }
    print(f"Latin table vs {pathlib.Path(FONT_FILE_NAMES[0]).name}: {len(off)} differ {off}")
    print(f"full/half-width vs {pathlib.Path(FONT_FILE_NAMES[1]).name}: {len(wide)} differ {wide}")
    return 1 if off or wide else 0


FONT_FILE_NAMES = ("RankletSans.ttf", "RankletGothic.ttf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="diff against the committed table")
    parser.add_argument("--fonts", action="store_true", help="diff against the packaged fonts")
    args = parser.parse_args()
    if args.fonts:
        sys.exit(check_fonts())

    widths = measure()
    latin, cjk, half = widths["latin"], widths["cjk"], widths["half"]
    cjk_values = sorted({round(w, 2) for w in cjk.values()})
    half_values = sorted({round(w, 2) for w in half.values()})
    letters = [latin[ch] for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]

    if args.check:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
        from service.rankings import badge_svg

        worst = max(abs(badge_svg.LATIN_ADVANCE_WIDTHS[ch] - width) for ch, width in latin.items())
        print(f"largest difference from the committed Latin table: {worst:.3f}px")
        print(f"full-width: measured {cjk_values}, committed {badge_svg.FULL_WIDTH_ADVANCE}")
        print(f"half-width: measured {half_values}, committed {badge_svg.HALF_WIDTH_ADVANCE}")
        return

    print(f"# Measured with {find_chromium()} canvas measureText, {FONT_SIZE}px.")
    print(f"# {LATIN_FONT}: {len(latin)} characters; average letter {sum(letters) / 52:.2f}px")
    print(f"# {CJK_FONT}: distinct full-width advances over the sample: {cjk_values}")
    print(f"# {CJK_FONT}: distinct half-width katakana advances: {half_values}")
    print(format_table(latin))


if __name__ == "__main__":
    main()
