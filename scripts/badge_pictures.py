"""Regenerate the README's badge pictures in ``docs/badges/``: one PNG per layout.

Draws the free-width badge and each banner size (`service.badge_svg.BANNER_SIZES`) in
Japanese and English with the same functions the ``.png`` route uses, at scale 1, so the
pictures are what a mail client shows. No server or database is needed.

    python scripts/badge_pictures.py            # writes docs/badges/*.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.rankings.badge_png import render_png  # noqa: E402
from service.rankings.badge_svg import BANNER_SIZES, render_badge, render_banner  # noqa: E402

EXAMPLES = {
    "ja": ("コンサルタントランキング", "9位（最高順位 4位）"),
    "en": ("Consulting ranking", "#9 (best #4)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "badges")
    parser.add_argument("--scale", type=int, default=1, choices=(1, 2, 3))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for lang, (label, value) in EXAMPLES.items():
        svgs = {"free": render_badge(label, value)}
        svgs.update({size: render_banner(label, value, size) for size in BANNER_SIZES})
        for name, svg in svgs.items():
            path = args.out / f"{name}-{lang}.png"
            path.write_bytes(render_png(svg, args.scale))
            print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
