"""Contract §3, PNG badges and banner sizes: pixel sizes, fit, caching, errors, Chromium."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageStat
from support import CHROMIUM, UNKNOWN_BADGES, chromium_available, need, record_at_minute

from service.rankings.badge_metrics import (
    FONT_SIZE,
    FULL_WIDTH_ADVANCE,
    HALF_WIDTH_ADVANCE,
    LATIN_ADVANCE_WIDTHS,
    text_width,
)
from service.rankings.badge_png import FONT_FILES, render_png
from service.rankings.badge_svg import BANNER_PADDING, BANNER_SIZES, render_not_found

SVG = "{http://www.w3.org/2000/svg}"
SIZES = [None, *BANNER_SIZES]
LONG_LABELS = {
    "ja": "中小企業診断士・経営コンサルタント・事業承継アドバイザー",
    "en": "Small business management consulting and succession advisory",
}


def url(key: str, ext: str, **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return f"/badge/blog/{key}.{ext}" + (f"?{query}" if query else "")


def svg_size(answer: Any) -> tuple[int, int]:
    root = ElementTree.fromstring(answer.get_data())
    return int(root.get("width")), int(root.get("height"))


def png_of(answer: Any) -> Image.Image:
    assert answer.mimetype == "image/png"
    image = Image.open(io.BytesIO(answer.get_data()))
    assert image.format == "PNG"
    return image.convert("RGBA")


@pytest.fixture
def ranked(client: Any, site: Any) -> Any:
    """Consulting 4th at best and 9th now; a category with long labels at 1234th, best 1000th."""
    answer = client.put(
        "/api/v1/sites/blog/categories/long",
        json={"labels": LONG_LABELS},
        headers=site.auth,
    )
    assert answer.status_code == 201
    record_at_minute(client, site, {"consulting": 4, "long": 1000}, 0)
    record_at_minute(client, site, {"consulting": 9, "long": 1234}, 1)
    return site


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_png_has_the_svg_size_times_scale(client, ranked, lang):
    for size in SIZES:
        svg = client.get(url("consulting", "svg", lang=lang, size=size))
        assert svg.status_code == 200
        width, height = svg_size(svg)
        if size is not None:
            assert f"{width}x{height}" == size
        for scale in (1, 2, 3):
            answer = client.get(url("consulting", "png", lang=lang, size=size, scale=scale))
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == "image/png"
            image = png_of(answer)
            assert image.size == (width * scale, height * scale)
            # Not blank: both the label's grey and white text are drawn.
            colours = {colour[:3] for _, colour in image.getcolors(1 << 24)}
            assert (0x55, 0x55, 0x55) in colours
            assert max(min(colour) for colour in colours) > 230


def test_png_default_scale_is_one(client, ranked):
    image = png_of(client.get(url("consulting", "png")))
    assert image.size == svg_size(client.get(url("consulting", "svg")))


def test_png_is_the_svg_rasterized(client, ranked):
    """The route's PNG is the route's SVG through `render_png`, byte for byte."""
    for size in SIZES:
        svg = client.get(url("long", "svg", size=size, show="both")).get_data(as_text=True)
        png = client.get(url("long", "png", size=size, show="both", scale=2)).get_data()
        assert png == render_png(svg, 2)


def test_png_caching_etag_and_304(client, ranked):
    svg = client.get(url("consulting", "svg"))
    tags = {"svg": svg.headers["ETag"]}
    for scale in (1, 2, 3):
        answer = client.get(url("consulting", "png", scale=scale))
        assert answer.headers["Cache-Control"] == svg.headers["Cache-Control"]
        tags[f"png{scale}"] = answer.headers["ETag"]
    tags["banner"] = client.get(url("consulting", "png", size="88x31")).headers["ETag"]
    assert len(set(tags.values())) == len(tags)
    again = client.get(url("consulting", "png", scale=2), headers={"If-None-Match": tags["png2"]})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == tags["png2"]
    # A new position is a new image and a new tag.
    record_at_minute(client, ranked, {"consulting": 2}, 2)
    changed = client.get(url("consulting", "png", scale=2), headers={"If-None-Match": tags["png2"]})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tags["png2"]
    assert changed.get_data() != client.get(url("consulting", "png", scale=3)).get_data()


@pytest.mark.parametrize(
    ("query", "message", "size"),
    [
        ({"size": "100x100"}, "sizeの値が不正です", None),
        ({"size": "88x31", "scale": "4"}, "scaleの値が不正です", "88x31"),
        ({"scale": "0", "lang": "en"}, "invalid scale", None),
        ({"scale": "1.5"}, "scaleの値が不正です", None),
        ({"show": "bogus", "lang": "xx"}, "show、langの値が不正です", None),
    ],
)
def test_bad_parameters_are_a_422_png_that_says_so(client, ranked, query, message, size):
    answer = client.get(url("consulting", "png", **query))
    assert answer.status_code == 422
    png_of(answer)
    scale = int(query["scale"]) if query.get("scale") in ("1", "2", "3") else 1
    assert answer.get_data() == render_png(render_not_found(message, size), scale)


def test_bad_size_is_a_422_svg_too(client, ranked):
    answer = client.get(url("consulting", "svg", size="31x88"))
    assert answer.status_code == 422
    assert b"size\xe3\x81\xae" in answer.get_data()  # 「sizeの値が不正です」


@pytest.mark.parametrize(("path", "query", "message"), UNKNOWN_BADGES)
def test_unknown_site_or_category_is_a_404_png(client, site, path, query, message):
    answer = client.get(f"/badge/{path}.png?scale=2" + (f"&{query}" if query else ""))
    assert answer.status_code == 404
    png_of(answer)
    assert answer.get_data() == render_png(render_not_found(message), 2)


# --- fit: text within the box, by the glyph table and by the pixels ------------------------


def drawn_texts(svg: str) -> list[tuple[str, float, float]]:
    """(text, font size, textLength) of every visible line."""
    root = ElementTree.fromstring(svg)
    found = []
    for text in root.iter(f"{SVG}text"):
        if text.get("aria-hidden"):
            continue
        font = float(text.get("font-size") or 11)
        found.append(("".join(text.itertext()), font, float(text.get("textLength") or 0)))
    return found


def text_pixels(image: Image.Image) -> set[tuple[int, int]]:
    """White-ish pixels on the opaque part of the badge: the text."""
    width, height = image.size
    data = image.load()
    return {
        (x, y)
        for x in range(width)
        for y in range(height)
        if data[x, y][3] == 255 and min(data[x, y][:3]) > 150
    }


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", list(BANNER_SIZES))
def test_banner_fits_long_labels_and_four_digit_positions(client, ranked, lang, size):
    width, height = BANNER_SIZES[size]
    for show in ("best", "current", "both"):
        svg = client.get(url("long", "svg", lang=lang, size=size, show=show))
        body = svg.get_data(as_text=True)
        assert svg_size(svg) == (width, height)
        root = ElementTree.fromstring(body)
        title = root.find(f"{SVG}title").text
        assert title.startswith(LONG_LABELS[lang][:8])  # the full text stays for people
        assert ("1000" if show == "best" else "1234") in title
        for text, font, length in drawn_texts(body):
            assert text_width(text, font) <= width - 2 * BANNER_PADDING
            assert length == pytest.approx(text_width(text, font), abs=0.06)
            assert font >= 7
        for scale in (1, 2, 3):
            image = png_of(
                client.get(url("long", "png", lang=lang, size=size, show=show, scale=scale))
            )
            assert image.size == (width * scale, height * scale)
            pixels = text_pixels(image)
            assert pixels
            xs = [x for x, _ in pixels]
            ys = [y for _, y in pixels]
            margin = 2 * scale  # no text pixel within 2 CSS px of an edge
            assert min(xs) >= margin and max(xs) < width * scale - margin, (size, lang, show)
            assert min(ys) >= margin and max(ys) < height * scale - margin, (size, lang, show)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("position", [1, 12, 123, 1234])
def test_free_badge_grows_with_its_text_and_keeps_it_inside(client, site, lang, position):
    record_at_minute(client, site, {"consulting": position}, 0)
    svg = client.get(url("consulting", "svg", lang=lang, show="both"))
    width, height = svg_size(svg)
    root = ElementTree.fromstring(svg.get_data())
    rects = {r.get("class"): r for r in root.iter(f"{SVG}rect") if r.get("class")}
    parts = [float(rects["label"].get("width")), float(rects["value"].get("width"))]
    for (text, font, _), part in zip(drawn_texts(svg.get_data(as_text=True)), parts, strict=True):
        assert text_width(text, font) <= part - 2 * 6 + 1
    for scale in (1, 3):
        image = png_of(client.get(url("consulting", "png", lang=lang, show="both", scale=scale)))
        assert image.size == (width * scale, height * scale)
        xs = [x for x, _ in text_pixels(image)]
        assert min(xs) >= 3 * scale
        assert max(xs) < width * scale - 3 * scale


# --- the PNG against Chromium's rendering of the SVG ----------------------------------------


@pytest.fixture(scope="module")
def chromium(playwright: Any) -> Iterator[Any]:
    """Through pytest-playwright's one Playwright of the session: a second sync_playwright()
    inside it refuses to start."""
    need(chromium_available(), f"Chromium at {CHROMIUM}")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"],
    )
    yield browser
    browser.close()


def chromium_shot(browser: Any, svg: bytes, width: int, height: int, scale: int) -> Image.Image:
    """The SVG as an <img> in Chromium at `scale` device pixels per CSS pixel, on white."""
    context = browser.new_context(
        device_scale_factor=scale, viewport={"width": width + 20, "height": height + 20}
    )
    try:
        page = context.new_page()
        source = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
        page.set_content(
            '<body style="margin:0;background:#fff">'
            f'<img id="b" src="{source}" width="{width}" height="{height}" '
            'style="display:block"></body>'
        )
        page.wait_for_function("document.getElementById('b').complete")
        shot = page.screenshot(clip={"x": 0, "y": 0, "width": width, "height": height})
    finally:
        context.close()
    return Image.open(io.BytesIO(shot)).convert("RGBA")


def on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, image)


def text_box(image: Image.Image, opaque: Image.Image) -> tuple[int, int, int, int]:
    mask = [(x, y) for x, y in text_pixels(opaque) if min(image.getpixel((x, y))[:3]) > 150]
    xs = [x for x, _ in mask]
    ys = [y for _, y in mask]
    return min(xs), min(ys), max(xs), max(ys)


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", SIZES)
def test_png_matches_chromium_rendering_of_the_svg(client, ranked, chromium, lang, size):
    for scale in (1, 2):
        svg = client.get(url("consulting", "svg", lang=lang, size=size, show="both"))
        width, height = svg_size(svg)
        png = png_of(
            client.get(url("consulting", "png", lang=lang, size=size, show="both", scale=scale))
        )
        shot = chromium_shot(chromium, svg.get_data(), width, height, scale)
        assert shot.size == png.size
        flat = on_white(png)
        difference = ImageChops.difference(flat.convert("RGB"), shot.convert("RGB"))
        mean = sum(ImageStat.Stat(difference).mean) / 3
        assert mean < 12, (size, lang, scale, mean)
        # Where the text is: the boxes of the white text pixels agree within 2 CSS px.
        ours = text_box(png, png)
        theirs = text_box(shot, png)
        for a, b in zip(ours, theirs, strict=True):
            assert abs(a - b) <= 2 * scale, (size, lang, scale, ours, theirs)


def test_fonts_are_packaged_and_small():
    names = [Path(path).name for path in FONT_FILES]
    assert names == ["RankletSans.ttf", "RankletGothic.ttf"]
    assert sum(Path(path).stat().st_size for path in FONT_FILES) < 1_200_000
    for licence in ("LICENSE-DejaVu.txt", "LICENSE-IPA.txt"):
        assert (Path(FONT_FILES[0]).parent / licence).stat().st_size > 1000


def advances(path: str) -> dict[str, float]:
    font = TTFont(path)
    scale = FONT_SIZE / font["head"].unitsPerEm
    return {chr(c): font["hmtx"][g][0] * scale for c, g in font.getBestCmap().items()}


def test_the_width_table_is_the_packaged_fonts_advances():
    """What the SVG is laid out with is what the PNG draws: the crispness and fit of both."""
    latin, gothic = (advances(path) for path in FONT_FILES)
    for ch, width in LATIN_ADVANCE_WIDTHS.items():
        if ch != "\xad":  # invisible inside a word; the font's advance is the visible one
            assert latin[ch] == pytest.approx(width, abs=0.01), ch
    for ch in "位最高順コンサルタントランキング経営（）＃１、。ー日本語漢字":
        assert ch not in latin
        assert gothic[ch] == pytest.approx(FULL_WIDTH_ADVANCE) == text_width(ch)
    assert gothic["ｱ"] == pytest.approx(HALF_WIDTH_ADVANCE) == text_width("ｱ")
    assert latin["…"] == pytest.approx(text_width("…"))
    # Coverage: every kana and the JIS level 1 kanji.
    kana = [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]
    assert all(ch in gothic for ch in kana)
    level1 = [
        bytes([0xA0 + row, 0xA0 + cell]).decode("euc_jp", "replace")
        for row in range(16, 48)
        for cell in range(1, 95)
    ]
    assert sum(ch in gothic for ch in level1) >= 2965


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_history_best_label_is_clear_of_the_right_edge_in_pixels(client, site, lang):
    """The best at the latest point puts 「1位（最高順位）」 at the right: drawn, not clipped."""
    for minute, position in enumerate([1234, 40, 7, 1]):
        record_at_minute(client, site, {"consulting": position}, minute)
    svg = client.get(f"/badge/blog/consulting/history.svg?lang={lang}").get_data(as_text=True)
    label = "1位（最高順位）" if lang == "ja" else "#1 (best)"
    assert label in svg
    for scale in (1, 3):
        image = on_white(Image.open(io.BytesIO(render_png(svg, scale))).convert("RGBA"))
        width, height = image.size
        orange = [
            x
            for x in range(width)
            for y in range(height // 3)
            if (lambda r, g, b, a: r > 180 and 100 < g < 170 and b < 80)(*image.getpixel((x, y)))
        ]
        assert orange, "the best label is drawn"
        assert max(orange) < width - 3 * scale
