"""Build the two small fonts the PNG badges are rasterized with (service/static/fonts).

The PNG must look like the SVG and must not depend on fonts installed on the server, so
the package ships its own: a Latin subset of DejaVu Sans (whose advances are the ones in
`service.badge_svg.LATIN_ADVANCE_WIDTHS`) and a Japanese subset of IPAGothic (every kana,
ideograph and full-width form 1em, half-width katakana 0.5em: the table's CJK advances).

Coverage of the Japanese font is all kana, JIS X 0208 rows 1-8 (punctuation, kana, full-width Latin,
Greek, Cyrillic, box drawing) and level 1 kanji (rows 16-47, the 2,965 common ones), plus
half-width katakana. Labels are user-defined, so this is a trade-off: level 2 kanji too
would roughly double the file; a rarer kanji renders as the font's missing-glyph box in the
PNG only (the SVG uses the reader's fonts). `--level2` builds the larger variant.

Both licences ask for a modified font to be renamed, so the subsets are named
"Ranklet Sans" and "Ranklet Gothic"; the licences are copied next to them.

Needs fontTools and the Debian packages fonts-dejavu-core and fonts-ipafont-gothic:

    python scripts/subset_fonts.py [--level2]
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

from fontTools import subset
from fontTools.ttLib import TTFont

DEJAVU = pathlib.Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
IPAGOTHIC = pathlib.Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf")
LICENCES = {
    "LICENSE-DejaVu.txt": pathlib.Path("/usr/share/doc/fonts-dejavu-core/copyright"),
    "LICENSE-IPA.txt": pathlib.Path("/usr/share/doc/fonts-ipafont-gothic/copyright"),
}
OUT = pathlib.Path(__file__).resolve().parent.parent / "service" / "static" / "fonts"


def latin_codepoints() -> set[int]:
    """ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, punctuation and symbols.

    Whatever DejaVu Sans has of these, a browser draws with it (it comes before any
    Japanese font in the badge's font stack), so the PNG must take them from it too.
    """
    return (
        set(range(0x20, 0x7F))
        | set(range(0xA0, 0x180))
        | set(range(0x370, 0x500))
        | set(range(0x2000, 0x2070))  # general punctuation
        | set(range(0x2100, 0x2150))  # letterlike: ℃ Å №
        | set(range(0x2190, 0x2300))  # arrows, mathematical operators
        | set(range(0x25A0, 0x2600))  # geometric shapes
        | {0x2605, 0x2606, 0x2640, 0x2642, 0x266A, 0x266D, 0x266F}
    )


def jis_codepoints(level2: bool) -> set[int]:
    """Every character of the JIS X 0208 rows asked for, through the EUC-JP codec."""
    rows = list(range(1, 9)) + list(range(16, 85 if level2 else 48))
    found: set[int] = set()
    for row in rows:
        for cell in range(1, 95):
            try:
                ch = bytes([0xA0 + row, 0xA0 + cell]).decode("euc_jp")
            except UnicodeDecodeError:
                continue
            found.add(ord(ch))
    half_width_katakana = set(range(0xFF61, 0xFFA0))
    full_width_forms = set(range(0xFF01, 0xFF5F))
    kana = set(range(0x3040, 0x3100)) | set(range(0x31F0, 0x3200))
    return found | kana | half_width_katakana | full_width_forms | {0x3000, 0x301C}


def rename(font: TTFont, family: str) -> None:
    """Give the subset its own family name (IDs 1, 4, 6, 16), as both licences require."""
    postscript = family.replace(" ", "")
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = family
        elif record.nameID == 6:
            record.string = postscript
        elif record.nameID == 3:
            record.string = f"{postscript};subset"


def build(source: pathlib.Path, codepoints: set[int], family: str, target: str) -> int:
    options = subset.Options()
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 16, 17]
    options.name_languages = [0x409]
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codepoints)
    subsetter.subset(font)
    rename(font, family)
    path = OUT / target
    font.save(path)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level2", action="store_true", help="include JIS level 2 kanji")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    sans = build(DEJAVU, latin_codepoints(), "Ranklet Sans", "RankletSans.ttf")
    gothic = build(IPAGOTHIC, jis_codepoints(args.level2), "Ranklet Gothic", "RankletGothic.ttf")
    for name, source in LICENCES.items():
        shutil.copyfile(source, OUT / name)
    print(f"RankletSans.ttf {sans / 1024:.0f} KiB, RankletGothic.ttf {gothic / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
