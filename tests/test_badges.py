"""Contract §3, badges: SVG that works without JavaScript, cached, escaped."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree
from support import UNKNOWN_BADGES, record_at_minute

SVG = "{http://www.w3.org/2000/svg}"
BASE = "/api/v1/sites/blog"


def parse(answer: Any) -> Element:
    assert answer.mimetype == "image/svg+xml"
    root = ElementTree.fromstring(answer.get_data())
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def spoken(root: Element) -> str:
    """The badge's text for people: ``<title>`` and ``aria-label`` must agree."""
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == root.get("aria-label")
    return title.text or ""


def badge(client: Any, query: str = "", key: str = "consulting", slug: str = "blog") -> Any:
    return client.get(f"/badge/{slug}/{key}.svg{query}")


@pytest.fixture
def ranked(client: Any, site: Any) -> Any:
    """Consulting was 4th at best, is 9th now."""
    record_at_minute(client, site, {"consulting": 7}, 0)
    record_at_minute(client, site, {"consulting": 4}, 1)
    record_at_minute(client, site, {"consulting": 9}, 2)
    return site


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "コンサルタントランキング | 4位（最高順位）"),
        ("?show=best", "コンサルタントランキング | 4位（最高順位）"),
        ("?show=best&lang=ja", "コンサルタントランキング | 4位（最高順位）"),
        ("?show=current", "コンサルタントランキング | 9位"),
        ("?show=both", "コンサルタントランキング | 9位（最高順位 4位）"),
        ("?lang=en", "Consulting ranking | #4 (best)"),
        ("?show=best&lang=en", "Consulting ranking | #4 (best)"),
        ("?show=current&lang=en", "Consulting ranking | #9"),
        ("?show=both&lang=en", "Consulting ranking | #9 (best #4)"),
    ],
)
def test_badge_text_for_each_show_and_lang(client, ranked, query, text):
    answer = badge(client, query)
    assert answer.status_code == 200
    root = parse(answer)
    assert spoken(root) == text
    label, value = text.split(" | ")
    drawn = [t.text for t in root.iter(f"{SVG}text")]
    assert label in drawn
    assert value in drawn


def test_badge_defaults_to_the_sites_language(client, make_site):
    english = make_site("english", lang="en")
    record_at_minute(client, english, {"marketing": 12}, 0)
    answer = badge(client, key="marketing", slug="english")
    assert spoken(parse(answer)) == "Marketing ranking | #12 (best)"
    answer = badge(client, "?lang=ja", key="marketing", slug="english")
    assert spoken(parse(answer)) == "マーケティングランキング | 12位（最高順位）"


def test_badge_without_any_position_says_not_ranked(client, site):
    assert spoken(parse(badge(client, key="management"))) == "経営ランキング | 未登録"
    assert spoken(parse(badge(client, "?lang=en", key="management"))) == (
        "Management ranking | not ranked"
    )


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("?show=bogus&lang=xx", "ranklet | show、langの値が不正です"),
        ("?show=worst", "ranklet | showの値が不正です"),
        ("?lang=fr", "ranklet | langの値が不正です"),
        ("?show=bogus&lang=en", "ranklet | invalid show"),
        ("?size=100x20&lang=en", "ranklet | invalid size"),
        ("?size=", "ranklet | sizeの値が不正です"),
        ("?size=88X31", "ranklet | sizeの値が不正です"),
    ],
)
def test_bad_parameters_are_a_422_image_in_the_sites_language(client, ranked, query, text):
    """Shown through an <img>, so the error is an image too, saying which value is wrong."""
    answer = badge(client, query)
    assert answer.status_code == 422
    root = parse(answer)
    assert spoken(root) == text
    assert text.split(" | ")[1] in [t.text for t in root.iter(f"{SVG}text")]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    history = client.get(f"/badge/blog/consulting/history.svg{query}")
    assert history.status_code == 422
    assert spoken(parse(history)) == text


def test_a_422_on_an_english_site_is_english(client, make_site):
    make_site("english", lang="en")
    answer = badge(client, "?show=bogus", key="marketing", slug="english")
    assert answer.status_code == 422
    assert spoken(parse(answer)) == "ranklet | invalid show"


def test_badge_headers(client, ranked):
    answer = badge(client)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("image/svg+xml")
    cache = answer.headers["Cache-Control"]
    assert "max-age=" in cache
    assert "s-maxage=" in cache
    assert "public" in cache
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    csp = answer.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives
    assert "'unsafe-eval'" not in csp
    assert answer.headers["ETag"]


def test_etag_answers_304_and_changes_with_the_ranking(client, site, ranked):
    first = badge(client)
    etag = first.headers["ETag"]
    again = client.get("/badge/blog/consulting.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    # Another representation has another tag.
    english = badge(client, "?lang=en")
    assert english.headers["ETag"] != etag
    # A new best changes the badge and its tag; the old tag no longer matches.
    record_at_minute(client, site, {"consulting": 2}, 3)
    changed = client.get("/badge/blog/consulting.svg", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert spoken(parse(changed)) == "コンサルタントランキング | 2位（最高順位）"


@pytest.mark.parametrize(
    ("path", "query", "message"),
    [
        *UNKNOWN_BADGES,
        ("nosuch/consulting", "lang=ja", "サイトが見つかりません"),
        ("nosuch/consulting/history", "", "unknown site"),
        ("blog/nosuch/history", "", "ランキングが見つかりません"),
        ("blog/nosuch", "size=200x40", "ランキングが見つかりません"),
    ],
)
def test_unknown_site_or_category_is_a_404_svg(client, site, path, query, message):
    """In the site's language, or the asked one; without a site, the browser's."""
    answer = client.get(f"/badge/{path}.svg" + (f"?{query}" if query else ""))
    assert answer.status_code == 404
    root = parse(answer)
    assert message in spoken(root)
    assert message in [t.text for t in root.iter(f"{SVG}text")]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_site_follows_accept_language(client, site):
    answer = client.get("/badge/nosuch/consulting.svg", headers={"Accept-Language": "ja,en;q=0.5"})
    assert answer.status_code == 404
    assert spoken(parse(answer)) == "ranklet | サイトが見つかりません"


def test_labels_are_escaped(client, site):
    evil = '<script>alert("x")</script>&amp;<b onload="y">'
    answer = client.put(
        f"{BASE}/categories/evil",
        json={"labels": {"ja": evil, "en": evil}},
        headers=site.auth,
    )
    assert answer.status_code == 201
    record_at_minute(client, site, {"evil": 3}, 0)
    for url in ("/badge/blog/evil.svg", "/badge/blog/evil/history.svg"):
        answer = client.get(url)
        assert answer.status_code == 200
        raw = answer.get_data(as_text=True)
        assert "<script" not in raw
        assert "<b " not in raw
        root = parse(answer)
        assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "b")]
        assert all(not name.startswith("on") for e in root.iter() for name in e.attrib)
        # The text itself survives, as text.
        assert spoken(root).startswith(evil)


def test_history_chart(client, ranked):
    answer = client.get("/badge/blog/consulting/history.svg")
    assert answer.status_code == 200
    root = parse(answer)
    assert spoken(root).startswith("コンサルタントランキング")
    assert answer.headers["ETag"]
    assert "max-age=" in answer.headers["Cache-Control"]
    # Better rank higher: the best (4) is drawn above the worst (9).
    axis = {t.get("class"): t for t in root.iter(f"{SVG}text") if t.get("class")}
    assert axis["axis-best"].text == "4"
    assert axis["axis-worst"].text == "9"
    assert float(axis["axis-best"].get("y")) < float(axis["axis-worst"].get("y"))
    line = root.find(f".//{SVG}polyline")
    assert line is not None
    assert len(line.get("points", "").split()) == 3


def test_history_chart_from_year_one_west_of_utc(client, make_site):
    """The API takes any time from 0001-01-01T00:00Z, which on a clock west of UTC is still
    year 0, a date Python has not: the chart dates it in UTC (it was a 500)."""
    site = make_site("blog", lang="en", timezone="America/New_York")
    for at in ("0001-01-01T00:00:00Z", "2024-01-01T00:00:00Z"):
        answer = client.post(
            f"{BASE}/rankings",
            json={"positions": {"consulting": 5}, "observed_at": at},
            headers=site.auth,
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    answer = client.get("/badge/blog/consulting/history.svg")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    axis = {t.get("class"): t.text for t in parse(answer).iter(f"{SVG}text") if t.get("class")}
    # The first day in UTC; the last on the site's clock (19:00 the evening before).
    assert (axis["axis-start"], axis["axis-end"]) == ("0001-01-01", "2023-12-31")


def test_history_chart_without_entries(client, site):
    answer = client.get("/badge/blog/management/history.svg?lang=en")
    assert answer.status_code == 200
    root = parse(answer)
    assert spoken(root).startswith("Management ranking")
    assert root.find(f".//{SVG}polyline") is None
