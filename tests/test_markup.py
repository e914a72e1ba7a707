"""Comment Markdown rendering and sanitizing (service/comments/markup.py, API contract §4).

The stored-XSS table is checked on the *parsed* output, not with substring matches, so
a test fails on what a browser would actually build from the HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.comments.markup import clean, count_links, html_to_text, import_html, render_comment

ALLOWED_TAGS = {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
REL = "nofollow ugc noopener noreferrer"
SAFE_HREF = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)


class SafetyAudit(HTMLParser):
    """Walks HTML and records everything outside the comment allowlist."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        names = [name for name, _ in attrs]
        if len(names) != len(set(names)):
            self.problems.append(f"duplicate attribute on <{tag}>: {names}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}={value!r}")
            if tag != "a" or name not in {"href", "rel"}:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
        if tag == "a":
            found = dict(attrs)
            self.links.append(found)
            if found.get("rel") != REL:
                self.problems.append(f"rel={found.get('rel')!r}")
            href = found.get("href")
            if href is None:
                self.problems.append("<a> without href (a link to nowhere)")
            elif not SAFE_HREF.match(href):
                self.problems.append(f"href={href!r}")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"end tag </{tag}>")

    def handle_comment(self, data):
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl):
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data):
        self.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data):
        self.problems.append(f"unknown declaration {data!r}")


def audit(html: str) -> SafetyAudit:
    checker = SafetyAudit()
    checker.feed(html)
    checker.close()
    return checker


def assert_safe(html: str) -> None:
    problems = audit(html).problems
    assert not problems, f"{problems} in {html!r}"


XSS_PAYLOADS = [
    # Markdown links with hostile or obfuscated schemes
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](jav&#x0A;ascript:alert(1))",
    "[x](jav&#9;ascript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](\x01javascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](%6aavascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:image/png;base64,iVBORw0KGgo=)",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](//evil.example/steal)",
    "**[x](javascript:alert(1))**",
    "- [x](javascript:alert(1))",
    "> [x](javascript:alert(1))",
    # autolinks
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "javascript:alert(1)",
    'https://example.com/"><script>alert(1)</script>',
    "https://example.com/'onmouseover='alert(1)'",
    # reference-style links
    "[r][1]\n\n[1]: javascript:alert(1)",
    "[r]\n\n[r]: data:text/html,<script>alert(1)</script>",
    '[r][1]\n\n[1]: http://a.com "t" onmouseover="alert(1)"',
    # attribute breakouts
    '[x](http://a.com" onmouseover="alert(1))',
    "[x](http://a.com' onmouseover='alert(1))",
    '[x](http://a.com "title\\" onmouseover=\\"alert(1)")',
    '[x"><img src=x onerror=alert(1)>](http://a.com)',
    # images
    "![x](javascript:alert(1))",
    '![x](http://a.com/x.png" onerror="alert(1))',
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![<img src=x onerror=alert(1)>](http://a.com/x.png)",
    "[![a](javascript:alert(1))](http://a.com)",
    # raw tags and event handlers
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    '<p onmouseover="alert(1)">hover</p>',
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>@import 'http://evil.example/x.css';</style>",
    "<style>*{background:url(javascript:alert(1))}</style>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<form action="javascript:alert(1)"><input type=submit value=go></form>',
    '<input autofocus onfocus="alert(1)">',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="http://evil.example/x.css">',
    # raw anchors
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="java&#0000009script:alert(1)">x</a>',
    '<a href="\x00javascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="http://ok.example" onclick="alert(1)" style="color:red" target="_blank" '
    'rel="opener">x</a>',
    '<a href="mailto:x@example.com" onfocus=alert(1) autofocus>m</a>',
    '<a href="//evil.example">x</a>',
    '<a href="/relative">x</a>',
    # attributes nh3 would keep by default on every tag
    '<p title="x" lang="en" dir="rtl" class="c" id="i" style="color:red">t</p>',
    '<a href="https://ok.example" title="t" lang="en" name="n" download>x</a>',
    # svg / math mutation XSS
    "<svg onload=alert(1)>",
    "<svg><p><style><img src=x onerror=alert(1)></style></p></svg>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math><mi><mglyph><svg><mtext><textarea><path id="</textarea><img onerror=alert(1) src=1>">',
    '<math href="javascript:alert(1)">x</math>',
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<xmp><p title="</xmp><img src=x onerror=alert(1)>">',
    "<textarea><img src=x onerror=alert(1)></textarea>",
    # comments, CDATA, unclosed constructs
    "<!--><img src=x onerror=alert(1)>-->",
    "<!-- <img src=x onerror=alert(1)> -->",
    "<!--[if gte IE 4]><script>alert(1)</script><![endif]-->",
    "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "<?xml-stylesheet href='javascript:alert(1)'?>",
    "<img src=x onerror=alert(1)",
    '<a href="http://a.com',
    "<a href=javascript:alert(1)>x",
    "<p><em><strong>unclosed",
    # Markdown containers around raw HTML
    "> <img src=x onerror=alert(1)>",
    "- <script>alert(1)</script>",
    "`<img src=x onerror=alert(1)>`",
    "```\n<script>alert(1)</script>\n```",
    "    <iframe src=javascript:alert(1)>",
    "*<img src=x onerror=alert(1)>*",
]


def test_there_are_enough_payloads() -> None:
    assert len(XSS_PAYLOADS) >= 40
    assert len(set(XSS_PAYLOADS)) == len(XSS_PAYLOADS)


SANITIZERS: dict[str, Callable[[str], str]] = {
    "render_comment": render_comment,
    "clean": clean,
    "import_html": import_html,
}


@pytest.mark.parametrize("sanitizer", SANITIZERS.values(), ids=SANITIZERS.keys())
@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_stored_xss_payloads_are_neutralized(payload: str, sanitizer: Callable[[str], str]) -> None:
    html = sanitizer(payload)
    assert_safe(html)
    # What gets stored is stable: cleaning it again changes nothing.
    assert clean(html) == html


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_raw_html_in_markdown_never_becomes_markup(payload: str) -> None:
    """Markdown never yields tags from the payload, only from Markdown syntax itself."""
    html = render_comment(payload)
    for link in audit(html).links:
        assert link.get("href") is None or SAFE_HREF.match(link["href"] or "")
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()


def test_audit_catches_what_it_should() -> None:
    """The checker itself must fail on unsafe HTML, or the table above proves nothing."""
    assert audit('<img src="x" onerror="alert(1)">').problems
    assert audit(
        '<a href="javascript:alert(1)" rel="nofollow ugc noopener noreferrer">x</a>'
    ).problems
    assert audit('<a href="https://x.example">x</a>').problems  # rel missing
    assert audit('<a href="https://x.example" rel="noopener">x</a>').problems
    assert audit('<p class="x">x</p>').problems
    assert audit("<!-- x -->").problems
    assert not audit(
        '<p><a href="https://x.example" rel="nofollow ugc noopener noreferrer">x</a></p>'
    ).problems


# -- the Markdown subset renders ------------------------------------------------------


def test_emphasis_strong_and_inline_code() -> None:
    html = render_comment("*em* and **strong** and `a < b`")
    assert html.strip() == (
        "<p><em>em</em> and <strong>strong</strong> and <code>a &lt; b</code></p>"
    )


def test_paragraphs_and_line_breaks() -> None:
    html = render_comment("first line\nsecond line\n\nnew paragraph")
    assert html.strip() == "<p>first line<br>\nsecond line</p>\n<p>new paragraph</p>"


def test_code_block_keeps_tags_as_escaped_text() -> None:
    html = render_comment("```html\n<b>bold?</b>\n```")
    assert html.strip() == "<pre><code>&lt;b&gt;bold?&lt;/b&gt;\n</code></pre>"
    assert html_to_text(html) == "<b>bold?</b>"


def test_indented_code_block() -> None:
    assert render_comment("    x = 1\n").strip() == "<pre><code>x = 1</code></pre>"


def test_lists() -> None:
    assert render_comment("- a\n- b").strip() == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"
    assert render_comment("1. a\n2. b").strip() == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"


def test_block_quote() -> None:
    html = render_comment("> quoted *text*")
    assert html.strip() == "<blockquote>\n<p>quoted <em>text</em></p>\n</blockquote>"


def test_bare_url_becomes_a_nofollow_link() -> None:
    html = render_comment("see https://example.com.")
    assert html.strip() == (
        f'<p>see <a href="https://example.com" rel="{REL}">https://example.com</a>.</p>'
    )


def test_explicit_autolink_and_markdown_link() -> None:
    assert render_comment("<https://example.com/a?b=1&c=2>").strip() == (
        f'<p><a href="https://example.com/a?b=1&amp;c=2" rel="{REL}">'
        "https://example.com/a?b=1&amp;c=2</a></p>"
    )
    assert render_comment("[docs](http://example.com/docs)").strip() == (
        f'<p><a href="http://example.com/docs" rel="{REL}">docs</a></p>'
    )


def test_mailto_links() -> None:
    assert render_comment("<reader@example.com>").strip() == (
        f'<p><a href="mailto:reader@example.com" rel="{REL}">reader@example.com</a></p>'
    )
    assert render_comment("[mail me](mailto:reader@example.com)").strip() == (
        f'<p><a href="mailto:reader@example.com" rel="{REL}">mail me</a></p>'
    )


def test_reference_style_link() -> None:
    html = render_comment("[the post][1]\n\n[1]: https://example.com/post")
    assert html.strip() == f'<p><a href="https://example.com/post" rel="{REL}">the post</a></p>'


def test_link_title_is_dropped() -> None:
    html = render_comment('[x](https://example.com "a title")')
    assert html.strip() == f'<p><a href="https://example.com" rel="{REL}">x</a></p>'


def test_raw_html_is_shown_as_text() -> None:
    html = render_comment("<b>hi</b>")
    assert html.strip() == "<p>&lt;b&gt;hi&lt;/b&gt;</p>"
    assert html_to_text(html) == "<b>hi</b>"
    assert html_to_text(render_comment("<!-- hidden? -->")) == "<!-- hidden? -->"


def test_forbidden_link_schemes_keep_only_their_text() -> None:
    assert render_comment("[click](javascript:alert(1))").strip() == "<p>click</p>"
    assert render_comment("[click](/relative/path)").strip() == "<p>click</p>"
    assert render_comment("[click](ftp://example.com/f)").strip() == "<p>click</p>"


def test_images_become_links_not_img() -> None:
    assert render_comment("![a cat](http://example.com/cat.png)").strip() == (
        f'<p><a href="http://example.com/cat.png" rel="{REL}">a cat</a></p>'
    )
    assert render_comment("![](https://example.com/c.png)").strip() == (
        f'<p><a href="https://example.com/c.png" rel="{REL}">https://example.com/c.png</a></p>'
    )
    # An image inside a link must not become a link inside a link.
    assert render_comment("[![a](http://i.example/a.png)](http://l.example)").strip() == (
        f'<p><a href="http://l.example" rel="{REL}">a</a></p>'
    )


def test_headings_rules_and_tables_stay_text() -> None:
    assert render_comment("# not a heading").strip() == "<p># not a heading</p>"
    assert render_comment("---").strip() == "<p>---</p>"
    assert "<table" not in render_comment("| a | b |\n| - | - |\n| 1 | 2 |")
    assert render_comment("~~strike~~").strip() == "<p>~~strike~~</p>"


def test_empty_body() -> None:
    assert render_comment("") == ""
    assert html_to_text("") == ""


# -- clean / import_html --------------------------------------------------------------


def test_clean_keeps_allowed_markup_and_adds_rel() -> None:
    html = '<p>a <em>b</em> <a href="https://example.com" rel="me" title="t">c</a></p>'
    assert clean(html) == f'<p>a <em>b</em> <a href="https://example.com" rel="{REL}">c</a></p>'


def test_clean_drops_relative_and_foreign_scheme_hrefs() -> None:
    assert clean('<a href="/x">x</a>') == "x"
    assert clean('<a href="tel:123">x</a>') == "x"
    assert clean('<p><a href="//evil.example"><em>x</em></a> y</p>') == "<p><em>x</em> y</p>"


def test_clean_drops_default_generic_attributes() -> None:
    """nh3 keeps lang/title everywhere unless told otherwise; the allowlist says href only."""
    assert clean('<p title="t" lang="en">x</p>') == "<p>x</p>"


def test_invalid_url_renders_as_text_not_a_dead_link() -> None:
    """mistune links "http://![" but nh3 refuses it as a URL: no hrefless <a> is left."""
    assert render_comment("http://![").strip() == "<p>http://![</p>"
    assert count_links("http://![") == 0


def test_clean_keeps_leading_newline_in_pre() -> None:
    """HTML drops one newline after <pre>; clean must not eat a second one per pass."""
    once = clean("<pre>\n\nx</pre>")
    assert clean(once) == once
    assert html_to_text(once) == "x"


def test_import_html_keeps_formatting_and_drops_the_rest() -> None:
    html = (
        '<p>Hi <b>bold</b> <i>it</i> <a href="https://example.com" onclick="x()">link</a>'
        '<script>alert(1)</script><img src="x" onerror="alert(1)"></p>'
        "<div>div text</div><style>p{color:red}</style>"
    )
    assert import_html(html) == (
        f'<p>Hi <strong>bold</strong> <em>it</em> <a href="https://example.com" rel="{REL}">'
        "link</a></p>div text"
    )


def test_import_html_leaves_plain_text_escaped() -> None:
    assert import_html("1 < 2 &amp; 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"


def test_import_html_does_not_rename_inside_attributes() -> None:
    html = '<a href="https://example.com/<b>">x</a>'
    result = import_html(html)
    assert "<strong>" not in result
    assert_safe(result)


# -- html_to_text ---------------------------------------------------------------------


def test_html_to_text_of_rendered_comment() -> None:
    body = "Hello **there** &\n<you>\n\n- one\n- two\n\n> quote\n\n```\n  code\n```"
    assert html_to_text(render_comment(body)) == (
        "Hello there &\n<you>\n\n- one\n- two\n\nquote\n\n  code"
    )


def test_html_to_text_numbers_ordered_lists() -> None:
    assert html_to_text(render_comment("1. a\n1. b\n   - c")) == "1. a\n2. b\n  - c"


def test_html_to_text_keeps_link_text_only() -> None:
    assert html_to_text(render_comment("[site](https://example.com)")) == "site"


# -- count_links ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "links"),
    [
        ("no links here", 0),
        ("example.com is not a link", 0),
        ("[a](https://a.example)", 1),
        ("<https://a.example>", 1),
        ("bare https://a.example and http://b.example", 2),
        ("<someone@example.com> and [m](mailto:x@example.com)", 2),
        ("[r][1]\n\n[1]: https://a.example", 1),
        ("![img](https://a.example/i.png)", 1),
        ("[x](javascript:alert(1)) [y](/relative)", 0),
        ("`https://a.example` and\n\n    https://b.example", 0),
        ('<a href="https://a.example">raw</a>', 0),
        ("https://a.example https://b.example https://c.example https://d.example", 4),
    ],
)
def test_count_links(body: str, links: int) -> None:
    assert count_links(body) == links


def test_more_than_three_links_is_detectable() -> None:
    body = "\n".join(f"[l{i}](https://spam{i}.example)" for i in range(4))
    assert count_links(body) > 3


# -- properties -----------------------------------------------------------------------

FRAGMENTS = [
    "<",
    ">",
    "&",
    "&amp;",
    "&#x09;",
    '"',
    "'",
    "\n",
    "\n\n",
    "    ",
    "\t",
    "\x00",
    "\x01",
    "*",
    "**",
    "_",
    "`",
    "```",
    "> ",
    "- ",
    "1. ",
    "#",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "[x]: ",
    "<pre>",
    "</pre>",
    "<p>",
    "</p>",
    "<a href=",
    "</a>",
    "<b>",
    "<i>",
    "<img src=x onerror=alert(1)>",
    "<script>",
    "</script>",
    "<style>",
    "<svg>",
    "<math>",
    "<!--",
    "-->",
    "<noscript>",
    "<textarea>",
    "<table>",
    "javascript:",
    "JaVaScRiPt:",
    "data:",
    "http://",
    "https://example.com",
    "mailto:a@b.example",
    "a@b.example",
    " onerror=",
    "alert(1)",
    "é",
    "名無し",
]

markupish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=30).map(
    "".join
)
any_text = st.one_of(st.text(), markupish)

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(any_text)
def test_clean_is_idempotent(text: str) -> None:
    once = clean(text)
    assert clean(once) == once
    assert_safe(once)


@PROPERTY_SETTINGS
@given(any_text)
def test_rendered_comments_are_already_clean(text: str) -> None:
    html = render_comment(text)
    assert clean(html) == html
    assert_safe(html)
    assert "<img" not in html


@PROPERTY_SETTINGS
@given(any_text)
def test_import_html_is_idempotent_and_safe(text: str) -> None:
    once = import_html(text)
    assert import_html(once) == once
    assert clean(once) == once
    assert_safe(once)


@PROPERTY_SETTINGS
@given(any_text)
def test_text_helpers_never_fail(text: str) -> None:
    html = render_comment(text)
    assert isinstance(html_to_text(html), str)
    assert count_links(text) == len(audit(html).links)
