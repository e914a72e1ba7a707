"""PNG badges for mail clients that show no SVG: the SVG badge, rasterized with resvg.

The fonts come with the package (service/static/fonts, built by scripts/subset_fonts.py),
never from the system: "Ranklet Sans" is DejaVu Sans, whose advances are the table in
`service.badge_svg`, and "Ranklet Gothic" is IPAGothic, whose kana and ideographs are 1em
wide as the table assumes. So the widths the SVG is laid out with are the widths drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import resvg_py

FONT_DIR: Final = Path(__file__).resolve().parent.parent / "static" / "fonts"
FONT_FILES: Final = [str(FONT_DIR / "RankletSans.ttf"), str(FONT_DIR / "RankletGothic.ttf")]
# Overrides the SVG's font-family attribute (CSS beats presentation attributes), so the
# markup stays the one the browsers get. Latin glyphs come from the first font, the rest
# fall back to the second.
STYLE: Final = "text { font-family: 'Ranklet Sans', 'Ranklet Gothic'; }"
SCALES: Final = (1, 2, 3)


def render_png(svg: str, scale: int) -> bytes:
    """Rasterize `svg` at `scale` device pixels per CSS pixel."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}: {scale!r}")
    return bytes(
        resvg_py.svg_to_bytes(
            svg_string=svg,
            zoom=scale,
            skip_system_fonts=True,
            font_files=FONT_FILES,
            sans_serif_family="Ranklet Sans",
            style_sheet=STYLE,
            text_rendering="optimize_legibility",
        )
    )
