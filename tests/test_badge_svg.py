"""The badge and history SVGs: well-formed, escaped, and sized from measured glyphs."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.rankings.badge_metrics import text_width
from service.rankings.badge_svg import (
    BANNER_MIN_FONT,
    BANNER_PADDING,
    BANNER_SIZES,
    FONT_FAMILY,
    fit_text,
    render_badge,
    render_banner,
    render_history,
    render_not_found,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)

HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "' onmouseover='alert(1)",
    "&amp; &lt; & <",
    "]]>",
    "<![CDATA[x]]>",
    "<!-- -->",
    "a\x00b\x01c\x08d\x0be\x1ff\x7f",
    "<?xml-stylesheet href='x'?>",
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def title_of(root: ET.Element) -> str | None:
    title = root.find(f"{SVG}title")
    assert title is not None
    return title.text


def expected_clean(text: str) -> str:
    """The documented stripping, written independently of the module."""
    out = []
    for ch in text:
        code = ord(ch)
        forbidden = code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF
        if ch in "\t\n\v\f\r\x85":
            out.append(" ")
        elif not forbidden and ch not in "\ufffe\uffff":
            out.append(ch)
    return "".join(out)


def visible_texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text") if el.get("aria-hidden") is None]


def assert_no_active_content(root: ET.Element) -> None:
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1].lower()
        assert local not in {"script", "foreignobject", "iframe", "a", "use", "image"}
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            if "href" in name.lower():
                raise AssertionError(f"unexpected link attribute {name}={value}")


def badge_widths(root: ET.Element) -> tuple[float, float, float]:
    label = root.find(f".//{SVG}rect[@class='label']")
    value = root.find(f".//{SVG}rect[@class='value']")
    assert label is not None and value is not None
    assert float(value.get("x", "nan")) == float(label.get("width", "nan"))
    return float(root.get("width", "nan")), float(label.get("width")), float(value.get("width"))


# --- text_width -------------------------------------------------------------------------


def test_text_width_uses_measured_latin_and_full_width_advances() -> None:
    assert text_width("4") == pytest.approx(7.0)
    assert text_width("4位") == pytest.approx(18.0)
    assert text_width("最高順位") == pytest.approx(44.0)
    assert text_width("#4 (best)") == pytest.approx(
        sum(text_width(ch) for ch in "#4 (best)"), abs=1e-9
    )
    assert text_width("") == 0
    assert text_width("il") < text_width("mw")


def test_text_width_scales_with_font_size() -> None:
    assert text_width("4位", font_size=22) == pytest.approx(2 * text_width("4位"))


def test_text_width_half_width_kana_and_fallbacks() -> None:
    assert text_width("ｱ") == pytest.approx(5.5)
    assert text_width("（") == pytest.approx(11.0)
    assert text_width("ő") == pytest.approx(text_width("o"))
    assert text_width("e\u0301") == pytest.approx(text_width("e"))
    assert 5 < text_width("Ж") < 9
    assert text_width("\u200b") == 0


def test_full_width_glyphs_are_about_twice_latin_letters() -> None:
    japanese = "コンサルタント"
    latin = "Consult"
    assert len(japanese) == len(latin)
    assert 1.4 < text_width(japanese) / text_width(latin) < 2.2


# --- render_badge -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "value"),
    [("コンサルタントランキング", "4位（最高順位）"), ("Consulting ranking", "#4 (best)")],
)
def test_badge_structure(label: str, value: str) -> None:
    root = parse(render_badge(label, value))
    text = f"{label} | {value}"
    assert root.get("role") == "img"
    assert root.get("aria-label") == text
    assert title_of(root) == text
    assert root.get("height") == "20"
    groups = [g for g in root.iter(f"{SVG}g") if g.get("font-family")]
    assert groups and groups[0].get("font-family") == FONT_FAMILY
    assert groups[0].get("font-size") == "11"
    assert visible_texts(root) == [label, value]
    clip = root.find(f".//{SVG}clipPath/{SVG}rect")
    assert clip is not None and clip.get("rx")


def test_badge_width_is_the_sum_of_its_parts_with_padding() -> None:
    root = parse(render_badge("Consulting ranking", "#4 (best)"))
    total, label, value = badge_widths(root)
    assert total == label + value
    assert label == pytest.approx(text_width("Consulting ranking") + 12, abs=1)
    assert value == pytest.approx(text_width("#4 (best)") + 12, abs=1)


def test_texts_are_centred_in_their_parts_and_fitted_to_the_measure() -> None:
    root = parse(render_badge("経営", "#12"))
    _, label, value = badge_widths(root)
    shown = [el for el in root.iter(f"{SVG}text") if el.get("aria-hidden") is None]
    assert float(shown[0].get("x")) == pytest.approx(label / 2, abs=0.05)
    assert float(shown[1].get("x")) == pytest.approx(label + value / 2, abs=0.05)
    assert float(shown[0].get("textLength")) == pytest.approx(22.0)
    assert float(shown[1].get("textLength")) == pytest.approx(text_width("#12"), abs=0.05)


def test_japanese_badge_is_wider_than_latin_badge_of_same_length() -> None:
    _, ja_label, ja_value = badge_widths(parse(render_badge("コンサルタント", "最高順位")))
    _, en_label, en_value = badge_widths(parse(render_badge("Consult", "bestpos")))
    # Padding (12px) is the same for both; compare the glyph runs alone.
    ratio = (ja_label + ja_value - 24) / (en_label + en_value - 24)
    assert 1.4 < ratio < 2.3


def test_badge_custom_title_and_color() -> None:
    root = parse(render_badge("a", "b", title="Rank: 4", color="#4c1"))
    assert title_of(root) == "Rank: 4"
    assert root.get("aria-label") == "Rank: 4"
    value = root.find(f".//{SVG}rect[@class='value']")
    assert value is not None and value.get("fill") == "#4c1"


@pytest.mark.parametrize("color", ['red" onload="x', "url(#x)", "#12345g", "", "#"])
def test_badge_rejects_colours_that_are_not_hex(color: str) -> None:
    with pytest.raises(ValueError, match="hex colour"):
        render_badge("a", "b", color=color)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_escaped_everywhere(hostile: str) -> None:
    svg = render_badge(hostile, hostile, title=hostile)
    root = parse(svg)
    clean = expected_clean(hostile)
    assert title_of(root) == clean
    assert root.get("aria-label") == clean
    assert visible_texts(root) == [clean, clean]
    assert_no_active_content(root)
    assert "<script" not in svg
    if any(special in hostile for special in "<>&\"'"):
        assert hostile not in svg


def test_lone_surrogates_and_non_characters_are_dropped() -> None:
    svg = render_badge("a\ud800b", "c\uffffd")
    svg.encode("utf-8")
    assert visible_texts(parse(svg)) == ["ab", "cd"]


def test_default_title_escapes_both_parts() -> None:
    root = parse(render_badge("<b>", '"&"'))
    assert title_of(root) == '<b> | "&"'
    assert_no_active_content(root)


def test_control_characters_are_stripped_and_line_breaks_become_spaces() -> None:
    root = parse(render_badge("a\x00b\x1bc", "line\nbreak\ttab\r"))
    assert visible_texts(root) == ["abc", "line break tab "]
    assert title_of(root) == "abc | line break tab "


def test_same_input_gives_identical_output_for_etags() -> None:
    assert render_badge("a", "b") == render_badge("a", "b")
    ids_a = {el.get("id") for el in parse(render_badge("a", "b")).iter() if el.get("id")}
    ids_c = {el.get("id") for el in parse(render_badge("a", "c")).iter() if el.get("id")}
    assert ids_a and not ids_a & ids_c


@given(st.text(max_size=60), st.text(max_size=60))
def test_any_text_gives_a_parseable_badge_titled_with_it(label: str, value: str) -> None:
    svg = render_badge(label, value)
    svg.encode("utf-8")
    root = parse(svg)
    expected = f"{expected_clean(label)} | {expected_clean(value)}"
    assert title_of(root) == expected
    assert root.get("aria-label") == expected
    assert_no_active_content(root)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_custom_title_round_trips(title: str) -> None:
    root = parse(render_badge("l", "v", title=title))
    assert (title_of(root) or "") == expected_clean(title)


# --- render_not_found -------------------------------------------------------------------


def test_not_found_badge_is_a_small_grey_badge() -> None:
    root = parse(render_not_found("site not found"))
    assert title_of(root) == "ranklet | site not found"
    assert visible_texts(root) == ["ranklet", "site not found"]
    value = root.find(f".//{SVG}rect[@class='value']")
    assert value is not None and value.get("fill") == "#9f9f9f"
    total, label, value_width = badge_widths(root)
    assert total == label + value_width


def test_not_found_escapes_its_message() -> None:
    root = parse(render_not_found("<script>x</script>"))
    assert visible_texts(root)[1] == "<script>x</script>"
    assert_no_active_content(root)


# --- render_history ---------------------------------------------------------------------


def points_of(root: ET.Element) -> list[tuple[float, float]]:
    line = root.find(f"{SVG}polyline")
    assert line is not None
    pairs = [pair.split(",") for pair in line.get("points", "").split()]
    return [(float(x), float(y)) for x, y in pairs]


def test_history_draws_better_ranks_higher() -> None:
    history = [(T0 + timedelta(days=i), pos) for i, pos in enumerate([12, 9, 4, 6, 5])]
    root = parse(render_history(history, best=(T0 + timedelta(days=2), 4), title="History"))
    assert title_of(root) == "History"
    assert root.get("aria-label") == "History"
    assert root.get("role") == "img"
    assert (root.get("width"), root.get("height")) == ("300", "80")
    coords = points_of(root)
    assert len(coords) == 5
    xs = [x for x, _ in coords]
    assert xs == sorted(xs)
    ys = dict(zip([pos for _, pos in history], [y for _, y in coords], strict=True))
    assert ys[4] < ys[5] < ys[6] < ys[9] < ys[12]
    for x, y in coords:
        assert 0 < x < 300 and 0 < y < 80
    assert min(ys.values()) >= 5 and max(ys.values()) <= 75


def test_history_x_is_proportional_to_time() -> None:
    history = [(T0, 3), (T0 + timedelta(days=1), 2), (T0 + timedelta(days=4), 1)]
    (x0, _), (x1, _), (x2, _) = points_of(parse(render_history(history, best=None, title="t")))
    assert (x1 - x0) / (x2 - x0) == pytest.approx(0.25, abs=0.01)


def test_history_sorts_points_by_time() -> None:
    history = [(T0 + timedelta(days=2), 1), (T0, 10), (T0 + timedelta(days=1), 5)]
    ys = [y for _, y in points_of(parse(render_history(history, best=None, title="t")))]
    assert ys == sorted(ys, reverse=True)


def test_history_marks_the_best_point_with_a_dot_and_label() -> None:
    history = [(T0 + timedelta(days=i), pos) for i, pos in enumerate([8, 3, 5])]
    root = parse(render_history(history, best=(T0 + timedelta(days=1), 3), title="t"))
    best = root.find(f".//{SVG}circle[@class='best']")
    assert best is not None
    assert (float(best.get("cx")), float(best.get("cy"))) == points_of(root)[1]
    assert best.get("fill") != root.find(f".//{SVG}polyline").get("stroke")
    label = root.find(f".//{SVG}text[@class='best-label']")
    assert label is not None and label.text == "#3"
    assert 0 < float(label.get("y")) < 80
    axis = {el.get("class"): el.text for el in root.iter(f"{SVG}text") if el.get("class")}
    assert axis["axis-best"] == "3" and axis["axis-worst"] == "8"


def test_history_best_label_text_is_configurable_and_escaped() -> None:
    history = [(T0, 4), (T0 + timedelta(days=1), 6)]
    root = parse(render_history(history, best=(T0, 4), title="t", best_text="<4位>"))
    label = root.find(f".//{SVG}text[@class='best-label']")
    assert label is not None and label.text == "<4位>"


def test_history_best_outside_the_period_still_shows_its_level() -> None:
    history = [(T0 + timedelta(days=i), pos) for i, pos in enumerate([9, 7, 8])]
    root = parse(render_history(history, best=(T0 - timedelta(days=90), 2), title="t"))
    assert root.find(f".//{SVG}circle[@class='best']") is None
    level = root.find(f".//{SVG}line[@class='best-level']")
    assert level is not None
    assert float(level.get("y1")) < min(y for _, y in points_of(root))
    label = root.find(f".//{SVG}text[@class='best-label']")
    assert label is not None and label.text == "#2"


def test_history_single_point_draws_a_dot() -> None:
    root = parse(render_history([(T0, 7)], best=(T0, 7), title="One entry"))
    assert root.find(f"{SVG}polyline") is None
    dot = root.find(f".//{SVG}circle[@class='current']")
    assert dot is not None
    assert 0 < float(dot.get("cx")) < 300 and 0 < float(dot.get("cy")) < 80
    assert root.find(f".//{SVG}circle[@class='best']") is not None
    assert title_of(root) == "One entry"


def test_history_equal_positions_do_not_divide_by_zero() -> None:
    history = [(T0, 5), (T0 + timedelta(days=1), 5)]
    coords = points_of(parse(render_history(history, best=None, title="flat")))
    assert coords[0][1] == coords[1][1]


def test_history_same_timestamp_does_not_divide_by_zero() -> None:
    history = [(T0, 5), (T0, 6)]
    coords = points_of(parse(render_history(history, best=None, title="t")))
    assert coords[0][0] == coords[1][0]


def test_history_empty_says_so() -> None:
    root = parse(render_history([], best=None, title="Consulting history"))
    assert title_of(root) == "Consulting history"
    assert root.get("aria-label") == "Consulting history"
    assert root.find(f"{SVG}polyline") is None
    texts = [el.text or "" for el in root.iter(f"{SVG}text")]
    assert any("history" in text.lower() for text in texts)


def test_history_custom_size_and_hostile_title() -> None:
    history = [(T0, 2), (T0 + timedelta(hours=1), 1)]
    hostile = "</title><script>alert(1)</script>\x07"
    svg = render_history(history, best=(T0, 1), title=hostile, width=400, height=120)
    root = parse(svg)
    assert (root.get("width"), root.get("height")) == ("400", "120")
    assert title_of(root) == "</title><script>alert(1)</script>"
    assert_no_active_content(root)
    for x, y in points_of(root):
        assert 0 < x < 400 and 0 < y < 120


def test_history_numbers_are_compact() -> None:
    history = [(T0 + timedelta(seconds=i * 7), 1 + (i * 37) % 11) for i in range(30)]
    root = parse(render_history(history, best=None, title="t"))
    for element in root.iter():
        for name in ("x", "y", "cx", "cy", "x1", "y1", "x2", "y2", "width", "height"):
            raw = element.get(name)
            if raw is not None:
                assert not raw.endswith(".0")
                assert len(raw.partition(".")[2]) <= 1, (name, raw)
    for pair in root.find(f"{SVG}polyline").get("points").split():
        for number in pair.split(","):
            assert len(number.partition(".")[2]) <= 1


# --- time axis and the best label at the right edge ----------------------------------------


def test_history_has_a_time_axis_with_dates_at_both_ends() -> None:
    history = [(T0 + timedelta(days=i * 10), pos) for i, pos in enumerate([12, 8, 5, 7, 3])]
    root = parse(render_history(history, best=history[-1], title="t", best_text="3位（最高順位）"))
    texts = {t.get("class"): t for t in root.iter(f"{SVG}text") if t.get("class")}
    assert texts["axis-start"].text == "2024-01-01"
    assert texts["axis-end"].text == "2024-02-10"
    xs = [x for x, _ in points_of(root)]
    assert float(texts["axis-start"].get("x")) == pytest.approx(xs[0], abs=0.1)
    assert float(texts["axis-end"].get("x")) == pytest.approx(xs[-1], abs=0.1)
    # Below the plot: under every point and inside the frame.
    ys = [y for _, y in points_of(root)]
    assert max(ys) + 8 < float(texts["axis-start"].get("y")) < 80


def test_history_one_day_has_one_date() -> None:
    history = [(T0, 5), (T0 + timedelta(hours=3), 4)]
    root = parse(render_history(history, best=None, title="t"))
    classes = [t.get("class") for t in root.iter(f"{SVG}text")]
    assert "axis-start" in classes and "axis-end" not in classes


@pytest.mark.parametrize("label", ["3位（最高順位）", "1234位（最高順位）", "#1234 (best)"])
def test_history_best_label_keeps_clear_of_the_right_edge(label: str) -> None:
    """A best at the latest point puts the label at the right edge: it stays inside, by the
    bold advance (up to 15% over the regular table) plus a gap."""
    history = [(T0 + timedelta(days=i), pos) for i, pos in enumerate([12, 8, 3])]
    root = parse(render_history(history, best=history[-1], title="t", best_text=label))
    text = root.find(f".//{SVG}text[@class='best-label']")
    half = text_width(label, 10) * 1.15 / 2
    assert float(text.get("x")) + half <= 300 - 4 + 0.05  # coordinates have one decimal
    assert float(text.get("y")) - 10 >= 0


# --- banner sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", list(BANNER_SIZES))
@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("コンサルタントランキング", "9位（最高順位 4位）"),
        ("中小企業診断士・経営コンサルタント・事業承継ランキング", "1234位（最高順位 1000位）"),
        ("Consulting ranking", "#9 (best #4)"),
        ("Small business management consulting ranking", "#1234 (best #1000)"),
        ("経営", "1位"),
    ],
)
def test_banner_is_exactly_the_slot_and_its_text_fits(size: str, label: str, value: str) -> None:
    width, height = BANNER_SIZES[size]
    root = parse(render_banner(label, value, size))
    assert (root.get("width"), root.get("height")) == (str(width), str(height))
    assert root.get("viewBox") == f"0 0 {width} {height}"
    assert title_of(root) == f"{label} | {value}" == root.get("aria-label")
    lines = [t for t in root.iter(f"{SVG}text")]
    shown = []
    for text in lines:
        font = float(text.get("font-size"))
        assert BANNER_MIN_FONT <= font <= 12
        x = float(text.get("x"))
        drawn = text_width(text.text, font)
        left = x - drawn / 2 if text.get("text-anchor") != "start" else x
        assert left >= BANNER_PADDING - 0.05
        assert left + drawn <= width - BANNER_PADDING + 0.05
        assert float(text.get("y")) <= height
        shown.append(text.text)
    drawn_text = "".join(shown)
    # Label over value: both are there, whole or cut with an ellipsis.
    assert drawn_text.startswith(label[:3])
    assert value in drawn_text or "…" in drawn_text


def test_banner_shrinks_before_it_cuts() -> None:
    text, font = fit_text("Consulting ranking", 80, 10)
    assert text == "Consulting ranking"
    assert text_width(text, font) <= 80 < text_width(text, font + 0.5)
    text, font = fit_text("中小企業診断士・経営コンサルタント・事業承継ランキング", 80, 10)
    assert text.endswith("…") and font == BANNER_MIN_FONT
    assert text_width(text, font) <= 80


def test_banner_escapes_and_has_no_active_content() -> None:
    for hostile in HOSTILE:
        root = parse(render_banner(hostile, hostile, "200x40"))
        assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "foreignObject")]
        assert all(not name.startswith("on") for e in root.iter() for name in e.attrib)


def test_not_found_banner_keeps_the_size() -> None:
    root = parse(render_not_found("ランキングが見つかりません", "110x31"))
    assert (root.get("width"), root.get("height")) == ("110", "31")
    assert "ランキングが見つかりません" in title_of(root)
