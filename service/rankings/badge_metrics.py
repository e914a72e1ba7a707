"""Text widths for the badges: an SVG cannot size a box to its text, so every width is
measured here from glyph advances (a guessed width either clips Japanese labels or leaves
English ones floating in a wide box). The PNG renderer's fonts share these advances."""

import unicodedata
from typing import Final

FONT_SIZE: Final = 11.0

# Advance widths in px at FONT_SIZE (11px), measured by bench/measure_glyphs.py: headless
# Chromium 156, canvas measureText with "11px 'DejaVu Sans'" (DejaVu Sans 2.37, which the
# font stack resolves to on Linux and which is metrically close to Verdana). The <text>
# elements also carry textLength, so a viewer whose font differs slightly still fits the box.
# The PNG badges are drawn with a subset of that very font (service/rankings/badge_png.py), and
# `bench/measure_glyphs.py --fonts` checks the table against it.
# fmt: off
LATIN_ADVANCE_WIDTHS: Final[dict[str, float]] = {
    " ": 3.5, "!": 4.41, "\"": 5.06, "#": 9.22, "$": 7.0, "%": 10.45, "&": 8.58, "'": 3.02,
    "(": 4.29, ")": 4.29, "*": 5.5, "+": 9.22, ",": 3.5, "-": 3.97, ".": 3.5, "/": 3.71,
    "0": 7.0, "1": 7.0, "2": 7.0, "3": 7.0, "4": 7.0, "5": 7.0, "6": 7.0, "7": 7.0,
    "8": 7.0, "9": 7.0, ":": 3.71, ";": 3.71, "<": 9.22, "=": 9.22, ">": 9.22, "?": 5.84,
    "@": 11.0, "A": 7.52, "B": 7.55, "C": 7.68, "D": 8.47, "E": 6.95, "F": 6.33, "G": 8.52,
    "H": 8.27, "I": 3.24, "J": 3.24, "K": 7.21, "L": 6.13, "M": 9.49, "N": 8.23, "O": 8.66,
    "P": 6.63, "Q": 8.66, "R": 7.64, "S": 6.98, "T": 6.72, "U": 8.05, "V": 7.52, "W": 10.88,
    "X": 7.54, "Y": 6.72, "Z": 7.54, "[": 4.29, "\\": 3.71, "]": 4.29, "^": 9.22, "_": 5.5,
    "`": 5.5, "a": 6.74, "b": 6.98, "c": 6.05, "d": 6.98, "e": 6.77, "f": 3.87, "g": 6.98,
    "h": 6.97, "i": 3.06, "j": 3.06, "k": 6.37, "l": 3.06, "m": 10.72, "n": 6.97, "o": 6.73,
    "p": 6.98, "q": 6.98, "r": 4.52, "s": 5.73, "t": 4.31, "u": 6.97, "v": 6.51, "w": 9.0,
    "x": 6.51, "y": 6.51, "z": 5.77, "{": 7.0, "|": 3.71, "}": 7.0, "~": 9.22, "\xa0": 3.5,
    "¡": 4.41, "¢": 7.0, "£": 7.0, "¤": 7.0, "¥": 7.0, "¦": 3.71, "§": 5.5, "¨": 5.5,
    "©": 11.0, "ª": 5.18, "«": 6.73, "¬": 9.22, "\xad": 0.0, "®": 11.0, "¯": 5.5, "°": 5.5,
    "±": 9.22, "²": 4.41, "³": 4.41, "´": 5.5, "µ": 7.0, "¶": 7.0, "·": 3.5, "¸": 5.5,
    "¹": 4.41, "º": 5.18, "»": 6.73, "¼": 10.66, "½": 10.66, "¾": 10.66, "¿": 5.84,
    "À": 7.52, "Á": 7.52, "Â": 7.52, "Ã": 7.52, "Ä": 7.52, "Å": 7.52, "Æ": 10.72, "Ç": 7.68,
    "È": 6.95, "É": 6.95, "Ê": 6.95, "Ë": 6.95, "Ì": 3.24, "Í": 3.24, "Î": 3.24, "Ï": 3.24,
    "Ð": 8.52, "Ñ": 8.23, "Ò": 8.66, "Ó": 8.66, "Ô": 8.66, "Õ": 8.66, "Ö": 8.66, "×": 9.22,
    "Ø": 8.66, "Ù": 8.05, "Ú": 8.05, "Û": 8.05, "Ü": 8.05, "Ý": 6.72, "Þ": 6.65, "ß": 6.93,
    "à": 6.74, "á": 6.74, "â": 6.74, "ã": 6.74, "ä": 6.74, "å": 6.74, "æ": 10.8, "ç": 6.05,
    "è": 6.77, "é": 6.77, "ê": 6.77, "ë": 6.77, "ì": 3.06, "í": 3.06, "î": 3.06, "ï": 3.06,
    "ð": 6.73, "ñ": 6.97, "ò": 6.73, "ó": 6.73, "ô": 6.73, "õ": 6.73, "ö": 6.73, "÷": 9.22,
    "ø": 6.73, "ù": 6.97, "ú": 6.97, "û": 6.97, "ü": 6.97, "ý": 6.51, "þ": 6.98, "ÿ": 6.51,
}
# fmt: on

# Noto Sans CJK JP, same measurement: every kana, ideograph and full-width form sampled
# advances exactly 1em, half-width katakana exactly 0.5em; so do all of them in the
# IPAGothic subset the PNG badges are drawn with.
FULL_WIDTH_ADVANCE: Final = 11.0
HALF_WIDTH_ADVANCE: Final = 5.5
# The mean DejaVu Sans advance over A-Z and a-z: for scripts the table does not cover.
FALLBACK_ADVANCE: Final = 6.8

_ZERO_WIDTH_CATEGORIES: Final = frozenset({"Mn", "Me", "Cf", "Cc"})


# Beyond Latin-1: the ellipsis banners cut long labels with is 1em in DejaVu Sans and in
# IPAGothic alike (read from both fonts' hmtx tables).
OTHER_ADVANCE_WIDTHS: Final[dict[str, float]] = {"…": 11.0}


def _char_advance(ch: str) -> float:
    width = LATIN_ADVANCE_WIDTHS.get(ch) or OTHER_ADVANCE_WIDTHS.get(ch)
    if width is not None:
        return width
    east_asian = unicodedata.east_asian_width(ch)
    if east_asian in ("W", "F"):
        return FULL_WIDTH_ADVANCE
    if east_asian == "H":
        return HALF_WIDTH_ADVANCE
    if unicodedata.category(ch) in _ZERO_WIDTH_CATEGORIES:
        return 0.0
    # Accented letters outside Latin-1 (ő, č, ẞ) are as wide as their base letter.
    base = unicodedata.normalize("NFD", ch)[0]
    return LATIN_ADVANCE_WIDTHS.get(base, FALLBACK_ADVANCE)


def text_width(text: str, font_size: float = FONT_SIZE) -> float:
    """Estimate the rendered width in px, since SVG boxes cannot grow to fit their text."""
    return sum(_char_advance(ch) for ch in text) * font_size / FONT_SIZE
