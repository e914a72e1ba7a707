"""Stored XSS through the API (contract §4): what comes back is checked as a browser parses it.

Every payload is posted as a reader, then the ``body_html`` of the POST answer and of a
later GET is parsed with the standard library's HTML parser and audited against the
allowlist: tags p br em strong code pre blockquote ul ol li a; only ``href`` and ``rel`` on
``a``; hrefs to http, https or mailto only; no event handlers. The Atom feed must stay
well-formed XML whatever the comments hold, and carry no e-mail address.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from defusedxml import ElementTree

BASE = "/api/v1/sites/blog"
ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
REL = "nofollow ugc noopener noreferrer"
ATOM = "{http://www.w3.org/2005/Atom}"
# What browsers strip from a URL before reading its scheme (WHATWG URL parser).
URL_EDGE = "".join(chr(c) for c in range(0x21))
URL_INNER = re.compile(r"[\t\n\r]")
SAFE_SCHEME = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)


class Audit(HTMLParser):
    """Parses HTML like a (lenient) browser and records anything outside the allowlist."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"duplicate attributes on <{tag}>: {names}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}={value!r} on <{tag}>")
            if tag != "a" or name not in ("href", "rel"):
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
        if tag == "a":
            found = dict(attrs)
            if found.get("rel") != REL:
                self.problems.append(f"rel={found.get('rel')!r}")
            href = found.get("href")
            if href is None:
                self.problems.append("<a> without href")
                return
            self.hrefs.append(href)
            normalized = URL_INNER.sub("", href.strip(URL_EDGE))
            if not SAFE_SCHEME.match(normalized):
                self.problems.append(f"href {href!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment <!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration <!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction <?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"unknown declaration {data!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def audit(html: str) -> Audit:
    checker = Audit()
    checker.feed(html)
    checker.close()
    assert not checker.problems, (html, checker.problems)
    return checker


# (id, payload, text that must be visible as text, or None)
PAYLOADS: list[tuple[str, str, str | None]] = [
    # Markdown links with obfuscated javascript: schemes
    ("md-js", "[x](javascript:alert(1))", None),
    ("md-js-case", "[x](JaVaScRiPt:alert(1))", None),
    ("md-js-angle", "[x](<javascript:alert(1)>)", None),
    ("md-js-dec-entity", "[x](&#106;avascript:alert(1))", None),
    ("md-js-hex-entity", "[x](&#x6A;&#x61;vascript:alert(1))", None),
    ("md-js-colon-entity", "[x](javascript&colon;alert(1))", None),
    ("md-js-tab-entity", "[x](jav&#x09;ascript:alert(1))", None),
    ("md-js-newline-entity", "[x](java&#10;script:alert(1))", None),
    ("md-js-nul-entity", "[x](java&#0;script:alert(1))", None),
    ("md-js-percent", "[x](%6Aavascript:alert(1))", None),
    ("md-js-slashes", "[x](javascript://%0Aalert(1))", None),
    ("md-js-reference", "[x][r]\n\n[r]: javascript:alert(1)", None),
    ("md-js-autolink", "<javascript:alert(1)>", None),
    ("md-js-image", "![x](javascript:alert(1))", None),
    ("md-js-image-in-link", "[![i](https://img.example/a.png)](javascript:alert(1))", None),
    ("md-js-list", "- [x](javascript:alert(1))\n- ok", None),
    ("md-js-quote", "> [x](javascript:alert(1))", None),
    ("md-js-nested-brackets", "[[x](javascript:alert(1))](https://ok.example)", None),
    # data:, vbscript: and other schemes
    ("md-vbscript", "[x](vbscript:msgbox(1))", None),
    ("md-data-html", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", None),
    ("md-data-upper", "[x](DATA:text/html,<script>alert(1)</script>)", None),
    ("autolink-data", "<data:text/html,alert(1)>", None),
    ("md-file", "[x](file:///etc/passwd)", None),
    ("md-protocol-relative", "[x](//evil.example/x)", None),
    ("md-relative", "[x](/admin/)", None),
    # Raw tags with event handlers (must show as text)
    ("raw-script", "<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("raw-img-onerror", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
    ("raw-a-js", '<a href="javascript:alert(1)">x</a>', '<a href="javascript:alert(1)">x</a>'),
    ("raw-a-onclick", '<a href="https://ok.example" onclick="alert(1)">x</a>', "onclick"),
    ("raw-iframe", '<iframe src="javascript:alert(1)"></iframe>', "<iframe"),
    ("raw-body-onload", "<body onload=alert(1)>", "<body onload=alert(1)>"),
    ("raw-p-onmouseover", '<p onmouseover="alert(1)">hover</p>', "onmouseover"),
    ("raw-details", "<details open ontoggle=alert(1)>", "ontoggle"),
    ("raw-style-attr", '<div style="background:url(javascript:alert(1))">x</div>', "style="),
    ("raw-style-tag", "<style>*{background:red}</style>", "<style>"),
    ("raw-object", '<object data="javascript:alert(1)"></object>', "<object"),
    ("raw-base", '<base href="javascript:alert(1)//">', "<base"),
    (
        "raw-meta-refresh",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        "<meta",
    ),
    # svg / math mutation payloads
    ("svg-script", "<svg><script>alert(1)</script></svg>", "<svg>"),
    ("svg-onload", "<svg onload=alert(1)>", "<svg onload=alert(1)>"),
    ("svg-animate", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>", "onbegin"),
    (
        "math-mglyph-style",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<math>",
    ),
    ("svg-p-style", '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">', "<svg>"),
    (
        "math-textarea",
        "<math><mi><mglyph><svg><mtext><textarea>"
        '<path id="</textarea><img onerror=alert(1) src=1>">',
        "<textarea>",
    ),
    (
        "noscript-title",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        "<noscript>",
    ),
    (
        "form-math",
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        "<form>",
    ),
    # attribute breakouts
    ("break-double-quote", '[x](https://ok.example/"onmouseover="alert(1))', None),
    ("break-single-quote", "[x](https://ok.example/'onmouseover='alert(1))", None),
    ("break-title", '[x](https://ok.example/ "t\\" onmouseover=\\"alert(1)")', None),
    ("break-autolink", '<https://ok.example/"><script>alert(1)</script>>', None),
    ("break-bare-url", 'https://ok.example/"><img src=x onerror=alert(1)>', None),
    ("break-bare-url-quote", "https://ok.example/'onfocus='alert(1)'autofocus='", None),
    ("break-backtick", "[x](https://ok.example/`onmouseover=alert(1)`)", None),
    # HTML comments
    ("comment", "<!-- <img src=x onerror=alert(1)> -->", "<!--"),
    ("comment-short", "<!--><img src=x onerror=alert(1)>-->", "<!-->"),
    ("comment-conditional", "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->", "<!--"),
    ("cdata", "<![CDATA[<script>alert(1)</script>]]>", "CDATA"),
    # unclosed tags
    ("unclosed-img", "<img src=x onerror=alert(1)//", "<img"),
    ("unclosed-script", "<script src=//evil.example/x.js", "<script"),
    ("unclosed-a", '<a href="javascript:alert(1)"', "<a href"),
    ("unclosed-em", "**bold <em>unclosed", "<em>"),
    ("unclosed-textarea", "<textarea><img src=x onerror=alert(1)>", "<textarea>"),
    # HTML inside code stays code text
    ("inline-code", "`<script>alert(1)</script>`", "<script>alert(1)</script>"),
    ("code-block", "```\n<img src=x onerror=alert(1)>\n```", "<img src=x onerror=alert(1)>"),
    # links that are allowed keep only a safe href and the rel
    ("ok-https", "[ok](https://ok.example/?a=1&b=2)", None),
    ("ok-mailto", "[m](mailto:someone@example.org)", None),
    ("ok-bare", "see https://ok.example/path", None),
]

ALLOWED_HREFS = {
    "ok-https": ["https://ok.example/?a=1&b=2"],
    "ok-mailto": ["mailto:someone@example.org"],
    "ok-bare": ["https://ok.example/path"],
}


def post(client: Any, body: str, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{BASE}/comments", json={"article": "/xss", "body": body, **fields})
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer.get_json()


def read_back(client: Any, site: Any, posted: dict[str, Any]) -> dict[str, Any]:
    """The comment as a later GET serves it (approved first if it was held)."""
    comment_id = posted["comment"]["id"]
    if posted["status"] == "pending":
        approve = client.post(
            f"{BASE}/comments/{comment_id}/moderate", json={"action": "approve"}, headers=site.auth
        )
        assert approve.status_code == 200
    answer = client.get(f"{BASE}/comments?article=/xss&limit=200")
    assert answer.status_code == 200
    return next(c for c in answer.get_json()["comments"] if c["id"] == comment_id)


@pytest.mark.parametrize(("name", "payload", "shown"), PAYLOADS, ids=[i for i, _, _ in PAYLOADS])
def test_stored_xss_payload_is_harmless_in_post_and_read(client, site, name, payload, shown):
    posted = post(client, payload)
    read = read_back(client, site, posted)
    assert posted["comment"]["body_html"] == read["body_html"]
    for html in (posted["comment"]["body_html"], read["body_html"]):
        checked = audit(html)
        if shown is not None:  # raw HTML is shown as text, not dropped
            assert shown in "".join(checked.text), html
        if name in ALLOWED_HREFS:
            assert checked.hrefs == ALLOWED_HREFS[name], html
        else:
            assert all("script" not in href.lower() for href in checked.hrefs), html


def test_the_payload_table_is_large_enough():
    assert len(PAYLOADS) >= 40
    assert len({i for i, _, _ in PAYLOADS}) == len(PAYLOADS)


@pytest.mark.parametrize(
    "name",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        '"><svg onload=alert(1)>',
        "&lt;b&gt;not bold&lt;/b&gt;",
        "Tom & Jerry",
    ],
)
def test_author_names_with_html_come_back_as_the_literal_text(client, site, name):
    posted = post(client, "hi", author=name, website="https://ok.example/?q=%3Cb%3E&x=1")
    assert posted["comment"]["author"] == name
    read = read_back(client, site, posted)
    assert read["author"] == name
    assert read["website"] == posted["comment"]["website"] == "https://ok.example/?q=%3Cb%3E&x=1"
    feed = ElementTree.fromstring(client.get("/feeds/blog.atom").data)
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}author/{ATOM}name").text == name


def test_websites_with_html_or_scripts_are_refused(client, site):
    for website in ("javascript:alert(1)//https://ok.example", 'https://ok.example/"><script>'):
        answer = client.post(
            f"{BASE}/comments", json={"article": "/xss", "body": "x", "website": website}
        )
        assert answer.status_code == 422, (website, answer.get_data(as_text=True))
        assert "website" in answer.get_json()["errors"]


FEED_EXTRAS = [
    "]]> <![CDATA[ x ]]>",
    "&amp; &#0; &#xFFFF; &nbsp;",
    "noncharacters \uffff \ufffe here",
    "emoji \U0001f600 and 日本語",
    "windows\r\nline\rends",
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
]


def test_the_atom_feed_stays_well_formed_and_carries_no_email(client, site):
    email = "feed.reader@example.org"
    bodies = [payload for _, payload, _ in PAYLOADS] + FEED_EXTRAS
    for n, body in enumerate(bodies):
        answer = client.post(
            f"{BASE}/comments",
            json={
                "article": f"/feed/{n % 3}",
                "article_title": f"<b>Title</b> & \uffff {n}",
                "body": body,
                "email": email,
                "author": f"<i>{n}</i> \ufffe",
            },
            headers=site.auth,  # approved, so every one can reach the feed
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
    for url in ("/feeds/blog.atom", "/feeds/blog.atom?article=/feed/1"):
        answer = client.get(url)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.mimetype == "application/atom+xml"
        assert email.encode() not in answer.data
        assert email.upper().encode() not in answer.data.upper()
        feed = ElementTree.fromstring(answer.data)
        assert feed.tag == f"{ATOM}feed"
        entries = feed.findall(f"{ATOM}entry")
        assert entries
        for entry in entries:
            content = entry.find(f"{ATOM}content")
            assert content.get("type") == "html"
            audit(content.text or "")
            assert entry.find(f"{ATOM}author/{ATOM}name").text.startswith("<i>")
    single = ElementTree.fromstring(client.get("/feeds/blog.atom?article=/feed/1").data)
    assert all(
        e.find(f"{ATOM}link").get("href").startswith("http") for e in single.findall(f"{ATOM}entry")
    )


@pytest.mark.parametrize("article", ["/a\x00", "/a\x01b", "", "x" * 513])
def test_feed_for_an_invalid_article_is_a_json_422(client, site, article):
    answer = client.get("/feeds/blog.atom", query_string={"article": article})
    assert answer.status_code == 422
    assert answer.mimetype == "application/json"
    assert "article" in answer.get_json()["errors"]
