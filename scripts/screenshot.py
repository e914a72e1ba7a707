"""Regenerate ``docs/screenshot.png``: the demo blog page as a reader sees it.

Starts ``ranklet demo`` (``python -m service.cli demo``) on a free 127.0.0.1 port with a
temporary instance folder (SQLite, the seeded demo site), opens ``/demo/`` in Debian's
Chromium with Playwright at 1200 px wide in the light colour scheme, waits until the
badges, the thread and the comment counts have rendered and the fonts are loaded, saves a
full-page PNG and stops the server (also on errors and Ctrl-C).

    apt-get install -y chromium fonts-noto-cjk && pip install -e '.[test]'
    python scripts/screenshot.py                          # writes docs/screenshot.png
    python scripts/screenshot.py --out /tmp/dark.png --theme dark

``bench/bench_embed_size.py`` reuses ``demo_server`` and ``launch_chromium``; the server
is started, awaited and stopped by ``bench/serving.py``, as in every bench.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from serving import clean_env, ranklet_server, running  # noqa: E402

CHROMIUM = os.environ.get("RANKLET_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COUNTS_FILLED = """() => [...document.querySelectorAll('[data-ranklet-count]')]
  .every((el) => /^\\d+$/.test(el.textContent.trim()))"""


@contextlib.contextmanager
def demo_server(workers: int = 1) -> Iterator[str]:
    """``ranklet demo`` in a throw-away instance folder; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="ranklet-demo-") as folder:
        demo = ranklet_server(clean_env(folder), Path(folder) / "server.log", "demo", workers)
        with running(demo) as server:
            yield server.base


@contextlib.contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (its own browser download cannot work here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_rendered(page: Any) -> None:
    """Badges, the thread with its comments, every count, and the web fonts."""
    page.locator(".ranklet-badge").first.wait_for()
    page.locator(".ranklet-thread .ranklet-comment").first.wait_for()
    page.wait_for_function(COUNTS_FILLED)
    page.evaluate("() => document.fonts.ready.then(() => true)")


def console_error(message: Any) -> bool:
    """An error in the console, other than the favicon the demo does not have."""
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


def take(out: Path, width: int, theme: str) -> None:
    with demo_server() as base, launch_chromium() as browser:
        page = browser.new_page(
            viewport={"width": width, "height": 900}, color_scheme=theme, reduced_motion="reduce"
        )
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: console_error(m) and problems.append(m.text))
        page.goto(base + "/demo/", wait_until="networkidle")
        wait_rendered(page)
        if problems:
            raise RuntimeError(f"the demo page reported errors: {problems}")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True, animations="disabled")
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1200, help="viewport width in CSS px")
    parser.add_argument("--theme", choices=["light", "dark"], default="light")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    take(args.out, args.width, args.theme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
