"""SVG badges and rank-history charts, as plain functions of their inputs.

Nothing here knows about Flask or the database, so the views can cache on the output and
the tests can parse it. Badges are sized from measured glyph advances (``badge_metrics``), since an
SVG cannot size a box to its text: a guessed width either clips Japanese labels or leaves
English ones floating in a wide box.

Every text that reaches the SVG goes through `_escape`, after `_xml_safe` has removed what
XML 1.0 cannot carry; nothing else may write user text into the markup.
"""

import hashlib
import html
import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Final

from service.rankings.badge_metrics import (
    FONT_SIZE,
    FULL_WIDTH_ADVANCE,
    HALF_WIDTH_ADVANCE,
    LATIN_ADVANCE_WIDTHS,
    text_width,
)
from service.sites.local_time import in_zone

__all__ = [
    "BANNER_SIZES",
    "FONT_FAMILY",
    "FONT_SIZE",
    "FULL_WIDTH_ADVANCE",
    "HALF_WIDTH_ADVANCE",
    "LATIN_ADVANCE_WIDTHS",
    "fit_text",
    "render_badge",
    "render_banner",
    "render_history",
    "render_not_found",
    "text_width",
]

FONT_FAMILY: Final = (
    "Verdana,Geneva,DejaVu Sans,'Hiragino Sans','Noto Sans CJK JP','Yu Gothic',Meiryo,sans-serif"
)
# The Latin faces only, first the one the PNG renderer ships (service/rankings/badge_png.py).
LATIN_FONT_FAMILY: Final = "'Ranklet Sans',Verdana,Geneva,DejaVu Sans,sans-serif"
PADDING: Final = 6.0
BADGE_HEIGHT: Final = 20
LABEL_COLOR: Final = "#555"
NOT_FOUND_COLOR: Final = "#9f9f9f"

_SPACE_CONTROLS: Final = frozenset("\t\n\v\f\r\x85")


def _is_xml_forbidden(code: int) -> bool:
    """Lone surrogates cannot be encoded as UTF-8; U+FFFE/U+FFFF are outside XML 1.0."""
    return 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF)


def _xml_safe(text: str) -> str:
    """Drop what XML 1.0 forbids; line breaks and tabs become spaces (badges are one line).

    Other C0 controls would make the document unparseable (XML 1.0 has no escape for
    them) and C1 controls are invisible noise, so they are removed, not escaped.
    """
    kept = []
    for ch in text:
        code = ord(ch)
        if ch in _SPACE_CONTROLS:
            kept.append(" ")
        elif not (code < 0x20 or 0x7F <= code <= 0x9F or _is_xml_forbidden(code)):
            kept.append(ch)
    return "".join(kept)


def _escape(text: str) -> str:
    """Escape for both element content and quoted attributes: the one way text gets in."""
    return html.escape(_xml_safe(text), quote=True)


def _num(value: float) -> str:
    """Format a coordinate compactly: one decimal at most, no trailing '.0', no '-0'."""
    rounded = round(value, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"


def _valid_color(color: str) -> str:
    """Accept only '#rgb'/'#rrggbb'-style colours, as colour is spliced into attributes."""
    digits = color[1:]
    if (
        color.startswith("#")
        and len(digits) in (3, 4, 6, 8)
        and all(c in "0123456789abcdefABCDEF" for c in digits)
    ):
        return color
    raise ValueError(f"not a hex colour: {color!r}")


def _element_id(kind: str, *parts: str) -> str:
    """Derive ids from the content so two different inline SVGs never share a clip path."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()[:10]
    return f"ranklet-{kind}-{digest}"


def _svg_open(width: float, height: float, title: str) -> str:
    escaped = _escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" '
        f'height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'role="img" aria-label="{escaped}"><title>{escaped}</title>'
    )


def _badge_text(text: str, center_x: float, width: float) -> str:
    """Shadow plus text, both squeezed/stretched to the measured width via textLength."""
    escaped = _escape(text)
    fit = f' textLength="{_num(width)}"' if width > 0 else ""
    x = _num(center_x)
    return (
        f'<text x="{x}" y="15" fill="#010101" fill-opacity=".3" aria-hidden="true"{fit}>'
        f"{escaped}</text>"
        f'<text x="{x}" y="14"{fit}>{escaped}</text>'
    )


def render_badge(
    label: str, value: str, *, title: str | None = None, color: str = "#2f6fbd"
) -> str:
    """Draw a flat two-part badge that needs neither JavaScript nor web fonts to read."""
    label = _xml_safe(label)
    value = _xml_safe(value)
    title = _xml_safe(title) if title is not None else f"{label} | {value}"
    color = _valid_color(color)

    label_text_width = text_width(label)
    value_text_width = text_width(value)
    # Whole pixels keep the seam between the two parts crisp and make the sum exact.
    label_width = math.ceil(label_text_width + 2 * PADDING)
    value_width = math.ceil(value_text_width + 2 * PADDING)
    width = label_width + value_width

    gradient_id = _element_id("s", label, value, color)
    clip_id = _element_id("r", label, value, color)
    return (
        _svg_open(width, BADGE_HEIGHT, title)
        + f'<linearGradient id="{gradient_id}" x2="0" y2="100%">'
        '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="{clip_id}">'
        f'<rect width="{width}" height="{BADGE_HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#{clip_id})">'
        f'<rect class="label" width="{label_width}" height="{BADGE_HEIGHT}" '
        f'fill="{LABEL_COLOR}"/>'
        f'<rect class="value" x="{label_width}" width="{value_width}" '
        f'height="{BADGE_HEIGHT}" fill="{color}"/>'
        f'<rect width="{width}" height="{BADGE_HEIGHT}" fill="url(#{gradient_id})"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}" '
        f'font-size="{_num(FONT_SIZE)}">'
        + _badge_text(label, label_width / 2, label_text_width)
        + _badge_text(value, label_width + value_width / 2, value_text_width)
        + "</g></svg>"
    )


# Banner slots of the portals, (width, height) in CSS px: label over value, each on a band
# of its own, the font shrunk to fit and, below the smallest readable size, the text cut
# with an ellipsis (the full text stays in <title> and aria-label).
BANNER_SIZES: Final[dict[str, tuple[int, int]]] = {
    "88x31": (88, 31),
    "110x31": (110, 31),
    "200x40": (200, 40),
}
BANNER_PADDING: Final = 4.0
BANNER_MIN_FONT: Final = 7.0
_ELLIPSIS: Final = "…"


def fit_text(text: str, width: float, max_font: float) -> tuple[str, float]:
    """The text and font size (in 0.5px steps) that fit `width`: shrink, then cut.

    Uses the same advance table as every other width here, which the PNG's fonts share.
    """
    natural = text_width(text)
    font = max_font if natural <= 0 else min(max_font, width / natural * FONT_SIZE)
    font = math.floor(font * 2) / 2
    if font >= BANNER_MIN_FONT:
        return text, font
    cut = text
    while cut and text_width(cut.rstrip() + _ELLIPSIS, BANNER_MIN_FONT) > width:
        cut = cut[:-1]
    return cut.rstrip() + _ELLIPSIS, BANNER_MIN_FONT


def _banner_line(text: str, top: float, band: float, width: int, max_font: float) -> str:
    fitted, font = fit_text(text, width - 2 * BANNER_PADDING, max_font)
    # Centre the em box: the baseline sits about 0.35em below the band's middle.
    y = _num(top + band / 2 + 0.35 * font)
    size = _num(font)
    if fitted == text:
        measured = text_width(fitted, font)
        fit = f' textLength="{_num(measured)}"' if measured > 0 else ""
        return f'<text x="{_num(width / 2)}" y="{y}" font-size="{size}"{fit}>{_escape(text)}</text>'
    # A cut text and its ellipsis are two texts: the ellipsis in the Latin faces, or a
    # renderer may take it from the Japanese font before it (a mid-height one), and a
    # <tspan> inside a textLength run is spaced differently by resvg and by browsers.
    kept = fitted[: -len(_ELLIPSIS)]
    kept_width = text_width(kept, font)
    start = width / 2 - (kept_width + text_width(_ELLIPSIS, font)) / 2
    fit = f' textLength="{_num(kept_width)}"' if kept_width > 0 else ""
    return (
        f'<text x="{_num(start)}" y="{y}" font-size="{size}" text-anchor="start"{fit}>'
        f"{_escape(kept)}</text>"
        f'<text x="{_num(start + kept_width)}" y="{y}" font-size="{size}" text-anchor="start" '
        f'font-family="{LATIN_FONT_FAMILY}" aria-hidden="true">{_ELLIPSIS}</text>'
    )


def render_banner(
    label: str,
    value: str,
    size: str,
    *,
    title: str | None = None,
    color: str = "#2f6fbd",
) -> str:
    """Lay a badge out for a fixed banner slot (`BANNER_SIZES`): label over value."""
    width, height = BANNER_SIZES[size]
    label = _xml_safe(label)
    value = _xml_safe(value)
    title = _xml_safe(title) if title is not None else f"{label} | {value}"
    color = _valid_color(color)
    top_band = height // 2
    bottom_band = height - top_band
    max_font = 12.0 if height >= 40 else 10.0
    clip_id = _element_id("b", size, label, value, color)
    return (
        _svg_open(width, height, title) + f'<clipPath id="{clip_id}">'
        f'<rect width="{width}" height="{height}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#{clip_id})">'
        f'<rect class="label" width="{width}" height="{top_band}" fill="{LABEL_COLOR}"/>'
        f'<rect class="value" y="{top_band}" width="{width}" height="{bottom_band}" '
        f'fill="{color}"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}">'
        + _banner_line(label, 0, top_band, width, max_font)
        + _banner_line(value, top_band, bottom_band, width, max_font)
        + "</g></svg>"
    )


def render_not_found(message: str, size: str | None = None) -> str:
    """Answer a 404 with an image too, so an embed shows why instead of a broken icon."""
    if size is not None:
        return render_banner("ranklet", message, size, color=NOT_FOUND_COLOR)
    return render_badge("ranklet", message, color=NOT_FOUND_COLOR)


# History chart layout, in px. The left margin holds the best/worst position labels.
_CHART_FONT_SIZE: Final = 10.0
_CHART_TOP: Final = 16.0
_CHART_BOTTOM: Final = 18.0  # room for the time axis
_CHART_RIGHT: Final = 8.0
# Bold glyphs run up to ~15% wider than the regular advances the table measures.
_BOLD_FACTOR: Final = 1.15
_EDGE_GAP: Final = 4.0
_CHART_MIN_LEFT: Final = 8.0
_LINE_COLOR: Final = "#2f6fbd"
_BEST_COLOR: Final = "#d48806"


def _empty_history(title: str, width: int, height: int, empty_text: str) -> str:
    return (
        _svg_open(width, height, title)
        + f'<rect width="{width}" height="{height}" rx="4" fill="#fff" stroke="#ddd"/>'
        f'<text x="{_num(width / 2)}" y="{_num(height / 2 + 4)}" text-anchor="middle" '
        f'fill="#767676" font-family="{FONT_FAMILY}" font-size="{_num(_CHART_FONT_SIZE)}">'
        f"{_escape(empty_text)}</text></svg>"
    )


def render_history(
    points: Sequence[tuple[datetime, int]],
    *,
    best: tuple[datetime, int] | None,
    title: str,
    width: int = 300,
    height: int = 80,
    best_text: str | None = None,
    empty_text: str = "No ranking history yet",
    zone: tzinfo | None = None,
) -> str:
    """Draw positions over time with better ranks higher, as readers expect of a ranking.

    The dates under the axis are days in ``zone`` (the site's), so the chart ends on the
    day the admin above it names, not on a UTC day.

    `best` may lie outside the drawn period (the history is limited to recent entries), so
    it is always shown as a dashed level line with its label, and as a dot when it falls
    inside the period. `best_text` defaults to "#N"; the badges pass the site's own wording,
    e.g. "4位（最高順位）".
    """
    if not points:
        return _empty_history(title, width, height, empty_text)

    ordered = sorted(points, key=lambda point: point[0])
    positions = [position for _, position in ordered]
    if best is not None:
        positions.append(best[1])
    top_position, bottom_position = min(positions), max(positions)

    font = _CHART_FONT_SIZE
    axis_labels = (f"{top_position}", f"{bottom_position}")
    left = max(_CHART_MIN_LEFT, max(text_width(t, font) for t in axis_labels) + 8)
    plot_width = width - left - _CHART_RIGHT
    plot_height = height - _CHART_TOP - _CHART_BOTTOM
    start, end = ordered[0][0], ordered[-1][0]
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        if span <= 0:
            return left + plot_width / 2
        return left + (moment - start).total_seconds() / span * plot_width

    def y_of(position: int) -> float:
        if bottom_position == top_position:
            return _CHART_TOP + plot_height / 2
        share = (position - top_position) / (bottom_position - top_position)
        return _CHART_TOP + share * plot_height

    parts = [
        _svg_open(width, height, title),
        f'<rect width="{width}" height="{height}" rx="4" fill="#fff" stroke="#ddd"/>',
        f'<g font-family="{FONT_FAMILY}" font-size="{_num(font)}" fill="#767676" '
        'text-anchor="end">',
        f'<text class="axis-best" x="{_num(left - 4)}" y="{_num(y_of(top_position) + 3.5)}">'
        f"{top_position}</text>",
    ]
    if bottom_position != top_position:
        parts.append(
            f'<text class="axis-worst" x="{_num(left - 4)}" '
            f'y="{_num(y_of(bottom_position) + 3.5)}">{bottom_position}</text>'
        )
    first_day, last_day = ((in_zone(m, zone) if zone else m).date() for m in (start, end))
    parts.append(
        f'<text class="axis-start" x="{_num(left)}" y="{_num(height - 5)}" '
        f'text-anchor="start">{first_day.isoformat()}</text>'
    )
    if last_day != first_day:
        parts.append(
            f'<text class="axis-end" x="{_num(left + plot_width)}" y="{_num(height - 5)}">'
            f"{last_day.isoformat()}</text>"
        )
    parts.append("</g>")

    coordinates = [(x_of(moment), y_of(position)) for moment, position in ordered]
    if len(coordinates) > 1:
        polyline = " ".join(f"{_num(x)},{_num(y)}" for x, y in coordinates)
        parts.append(
            f'<polyline class="history" points="{polyline}" fill="none" '
            f'stroke="{_LINE_COLOR}" stroke-width="1.5" stroke-linejoin="round" '
            'stroke-linecap="round"/>'
        )
    last_x, last_y = coordinates[-1]
    parts.append(
        f'<circle class="current" cx="{_num(last_x)}" cy="{_num(last_y)}" r="2.5" '
        f'fill="{_LINE_COLOR}"/>'
    )

    if best is not None:
        best_moment, best_position = best
        best_y = y_of(best_position)
        label = best_text if best_text is not None else f"#{best_position}"
        parts.append(
            f'<line class="best-level" x1="{_num(left)}" y1="{_num(best_y)}" '
            f'x2="{_num(left + plot_width)}" y2="{_num(best_y)}" stroke="{_BEST_COLOR}" '
            'stroke-width="1" stroke-dasharray="3 3" stroke-opacity=".6"/>'
        )
        if start <= best_moment <= end:
            label_x = x_of(best_moment)
            parts.append(
                f'<circle class="best" cx="{_num(label_x)}" cy="{_num(best_y)}" r="3.5" '
                f'fill="{_BEST_COLOR}" stroke="#fff" stroke-width="1"/>'
            )
        else:
            label_x = left + plot_width
        # Keep the label inside the frame: above the best level, or below it at the top.
        half = text_width(_xml_safe(label), font) * _BOLD_FACTOR / 2
        label_x = min(max(label_x, left + half), width - _EDGE_GAP - half)
        label_y = best_y - 6 if best_y - 6 - 0.75 * font >= 0 else best_y + font + 4
        parts.append(
            f'<text class="best-label" x="{_num(label_x)}" y="{_num(label_y)}" '
            f'text-anchor="middle" fill="{_BEST_COLOR}" font-family="{FONT_FAMILY}" '
            f'font-size="{_num(font)}" font-weight="bold">{_escape(label)}</text>'
        )

    parts.append("</svg>")
    return "".join(parts)
