"""Comment Markdown -> sanitized HTML, the single place it happens.

Comments are rendered once, when they are written, and the stored HTML is served as is
(API contract §4). Everything that turns reader text into HTML goes through this module,
so escaping happens in exactly one place and the allowlist below is the whole story of
what a comment can contain.

Two layers, on purpose:

1. mistune renders a narrow Markdown subset with raw HTML *escaped*, so ``<b>hi</b>`` is
   shown as text instead of being dropped silently, and links to anything but
   http/https/mailto are rendered as their plain text.
2. nh3 (ammonia) re-parses the result and keeps only the allowlisted tags and attributes.
   It is the layer that protects even if (1) ever lets something through.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import mistune
import nh3
from mistune.block_parser import BlockParser
from mistune.core import BlockState
from mistune.plugins.url import url as url_plugin
from mistune.util import escape as escape_text

from service.comments.cjk_emphasis import CjkInlineParser

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "ALLOWED_URL_SCHEMES",
    "LINK_REL",
    "clean",
    "count_links",
    "html_to_text",
    "import_html",
    "render_comment",
]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {"p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
)
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {"a": frozenset({"href"})}
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener noreferrer"

# Tags whose content is code or styling, never reader-visible text: drop it with the tag
# (foreign HTML only; Markdown input has these escaped long before nh3 sees them).
_DROP_WITH_CONTENT: frozenset[str] = frozenset({"script", "style"})

# What browsers ignore in a URL before they look at its scheme (WHATWG URL parser):
# leading/trailing C0 controls and spaces, and tabs/newlines anywhere. Normalizing the
# same way means "jav\tascript:" or "\x01javascript:" cannot look harmless to us.
_URL_EDGE_JUNK = "".join(chr(c) for c in range(0x21))
_URL_INNER_JUNK = re.compile(r"[\t\n\r]")
_ALLOWED_URL_PREFIX = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)

# One tag of nh3's serialized output. Text nodes never hold a raw "<" (html5ever escapes
# it), and attribute values are always double-quoted with '"' escaped, so scanning from
# each "<" with quoted sections skipped finds exactly the tags.
_SERIALIZED_TAG = re.compile(r'<(?:[^>"]|"[^"]*")*>')

# Markdown constructs outside the contract's subset. Without these rules their source
# text ("# title", "---") stays visible instead of turning into stripped tags.
_UNSUPPORTED_BLOCK_RULES = frozenset({"atx_heading", "setex_heading", "thematic_break"})

# Formatting tags that foreign (imported) HTML uses for what our subset calls em/strong.
_IMPORT_RENAMES: dict[str, str] = {
    "<b>": "<strong>",
    "</b>": "</strong>",
    "<i>": "<em>",
    "</i>": "</em>",
}


def _is_allowed_url(url: str) -> bool:
    """Whether a browser would resolve ``url`` to an http, https or mailto URL.

    An explicit allowlist of absolute URLs: relative and protocol-relative URLs are
    refused too, since stored HTML is shown on other people's pages where they would
    resolve against the host site.
    """
    normalized = _URL_INNER_JUNK.sub("", url.strip(_URL_EDGE_JUNK))
    return _ALLOWED_URL_PREFIX.match(normalized) is not None


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3 attribute hook: drop hrefs that are relative or use another scheme.

    ``url_schemes`` alone lets relative URLs through; this closes that without relying
    on nh3's newer ``url_relative`` option.
    """
    if tag == "a" and attribute == "href":
        return value if _is_allowed_url(value) else None
    return value


def _nh3_cleaner(*, extra_tags: frozenset[str] = frozenset()) -> nh3.Cleaner:
    """Build an nh3 cleaner with the one narrow allowlist (plus renameable extras)."""
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS | extra_tags),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        # "*" must be given: when it is missing, ammonia keeps its default generic
        # attributes (lang, title) on every tag.
        attributes={"*": set(), **{tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()}},
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel=LINK_REL,
        generic_attribute_prefixes=set(),
        url_schemes=set(ALLOWED_URL_SCHEMES),
    )


_CLEANER = _nh3_cleaner()
# Imports also accept <b>/<i>, renamed to <strong>/<em> right after cleaning.
_IMPORT_CLEANER = _nh3_cleaner(extra_tags=frozenset({"b", "i"}))


def _tidy_serialized(html: str) -> str:
    """Fix two things in nh3's output that would otherwise break idempotence or meaning.

    * An ``<a>`` whose href was refused is left by nh3 as ``<a rel=...>``: a link that
      goes nowhere. It is unwrapped to its text (html5ever never nests anchors, so the
      next ``</a>`` is its own).
    * HTML parsers drop one newline right after ``<pre>`` and html5ever's serializer
      does not put it back, so each pass would eat a newline: it is doubled here.
    """
    out: list[str] = []
    position = 0
    in_dead_link = False
    for match in _SERIALIZED_TAG.finditer(html):
        out.append(html[position : match.start()])
        position = match.end()
        tag = match.group(0)
        if tag == "<a>" or tag.startswith("<a "):
            if ' href="' not in tag:
                in_dead_link = True
                continue
        elif tag == "</a>" and in_dead_link:
            in_dead_link = False
            continue
        elif tag == "<pre>" and html.startswith("\n", position):
            tag += "\n"
        out.append(tag)
    out.append(html[position:])
    return "".join(out)


def clean(html: str) -> str:
    """Sanitize HTML against the comment allowlist; ``clean(clean(x)) == clean(x)``.

    Idempotence matters because stored HTML may be cleaned again (re-render, import,
    migration) and must not drift.
    """
    return _tidy_serialized(_CLEANER.clean(html))


class _CommentRenderer(mistune.HTMLRenderer):
    """mistune's HTML renderer narrowed to what a comment may contain."""

    def __init__(self) -> None:
        super().__init__(escape=True)

    def render_token(self, token: dict[str, Any], state: BlockState) -> str:
        """Track link nesting, so an image inside a link renders as its alt text only.

        Otherwise ``[![a](x)](y)`` would become a link inside a link. The depth lives in
        the per-parse ``state.env``, not on the shared renderer, so concurrent requests
        cannot see each other's counter.
        """
        depth = state.env.get("link_depth", 0)
        if token["type"] == "image" and depth > 0:
            return self.render_tokens(token.get("children", []), state)
        if token["type"] != "link":
            return super().render_token(token, state)
        state.env["link_depth"] = depth + 1
        try:
            return super().render_token(token, state)
        finally:
            state.env["link_depth"] = depth

    def link(self, text: str, url: str, title: str | None = None) -> str:
        """A link only to http, https or mailto; anything else keeps just its text."""
        if not _is_allowed_url(url):
            return text
        return f'<a href="{escape_text(url)}">{text}</a>'

    def image(self, text: str, url: str, title: str | None = None) -> str:
        """No images in comments: a link to the image (its alt text, or the URL)."""
        return self.link(text or escape_text(url), url)

    def block_code(self, code: str, info: str | None = None) -> str:
        """Code blocks without the language class, which the allowlist would drop anyway."""
        return "<pre><code>" + escape_text(code) + "</code></pre>\n"

    def list(self, text: str, ordered: bool, **attrs: Any) -> str:
        """Lists without ``start``, which the allowlist would drop anyway."""
        tag = "ol" if ordered else "ul"
        return f"<{tag}>\n{text}</{tag}>\n"


def _comment_markdown() -> mistune.Markdown:
    """The comment dialect: CommonMark core, no headings/rules, bare URLs autolinked.

    ``hard_wrap`` because commenters expect a newline to be a line break, as on most
    comment systems. Emphasis follows the CJK-friendly flanking rules (API.md §4), so
    ``**「棚卸し」**から`` is bold as a Japanese writer means it. No tables, images,
    footnotes, strikethrough or other plugins.
    """
    rules = [rule for rule in BlockParser.DEFAULT_RULES if rule not in _UNSUPPORTED_BLOCK_RULES]
    block = BlockParser(block_quote_rules=list(rules), list_rules=list(rules))
    block.rules = list(rules)
    return mistune.Markdown(
        renderer=_CommentRenderer(),
        block=block,
        inline=CjkInlineParser(hard_wrap=True),
        plugins=[url_plugin],
    )


_MARKDOWN = _comment_markdown()


def render_comment(body: str) -> str:
    """Render a comment's Markdown subset to the sanitized HTML that gets stored.

    Rendered once on write; raw HTML in the body comes out as visible text.
    """
    html = _MARKDOWN(body)
    assert isinstance(html, str)  # the HTML renderer always returns text
    return clean(html)


class _TextExtractor(HTMLParser):
    """Plain text of stored comment HTML: blocks become blank-line separated paragraphs."""

    _BLOCKS = frozenset({"p", "pre", "blockquote", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._pending_newlines = 0
        self._prefix = ""
        self._pre_depth = 0
        self._lists: list[int | None] = []  # None for <ul>, the next number for <ol>

    def _trailing_newlines(self) -> int:
        count = 0
        for chunk in reversed(self._out):
            stripped = chunk.rstrip("\n")
            count += len(chunk) - len(stripped)
            if stripped:
                break
        return count

    def _at_line_start(self) -> bool:
        return not self._out or self._out[-1].endswith("\n") or bool(self._prefix)

    def _flush(self) -> None:
        if self._out and self._pending_newlines:
            while self._out and self._out[-1].endswith(" "):
                self._out[-1] = self._out[-1].rstrip(" ")
            missing = self._pending_newlines - self._trailing_newlines()
            if missing > 0:
                self._out.append("\n" * missing)
        self._pending_newlines = 0
        if self._prefix:
            self._out.append(self._prefix)
            self._prefix = ""

    def _block_break(self) -> None:
        self._pending_newlines = max(self._pending_newlines, 2)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._flush()
            self._out.append("\n")
        elif tag == "li":
            self._pending_newlines = max(self._pending_newlines, 1)
            indent = "  " * max(len(self._lists) - 1, 0)
            number = self._lists[-1] if self._lists else None
            if number is None:
                self._prefix = f"{indent}- "
            else:
                self._prefix = f"{indent}{number}. "
                self._lists[-1] = number + 1
        elif tag in self._BLOCKS:
            # A list nested in an item only needs a line break, not a paragraph break.
            if tag in {"ul", "ol"} and self._lists:
                self._pending_newlines = max(self._pending_newlines, 1)
            else:
                self._block_break()
            if tag == "pre":
                self._pre_depth += 1
            elif tag == "ul":
                self._lists.append(None)
            elif tag == "ol":
                self._lists.append(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            if tag == "pre":
                self._pre_depth = max(self._pre_depth - 1, 0)
            elif tag in {"ul", "ol"} and self._lists:
                self._lists.pop()
            if tag in {"ul", "ol"} and self._lists:
                self._pending_newlines = max(self._pending_newlines, 1)
            else:
                self._block_break()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if not self._pre_depth:
            data = re.sub(r"\s+", " ", data)
            pending_break = bool(self._out) and self._pending_newlines > 0
            if self._at_line_start() or pending_break:
                data = data.lstrip(" ")
        if not data:
            return
        self._flush()
        self._out.append(data)

    def text(self) -> str:
        self.close()
        return "".join(self._out).strip()


def html_to_text(html: str) -> str:
    """Plain text of stored comment HTML, for e-mails, feed titles and excerpts.

    Entities are decoded, so the result is text, not HTML: escape it again wherever it is
    put back into markup.
    """
    extractor = _TextExtractor()
    extractor.feed(html)
    return extractor.text()


class _LinkCounter(HTMLParser):
    """Counts ``<a href>`` elements in sanitized HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and any(name == "href" and value for name, value in attrs):
            self.links += 1


def count_links(body: str) -> int:
    """How many links a Markdown body renders to, for the >3-links moderation hold.

    Counted on the rendered, sanitized HTML, so only links a reader could click count:
    explicit, reference-style, autolinks, bare URLs and images shown as links alike.
    """
    return count_html_links(render_comment(body))


def count_html_links(html: str) -> int:
    """Links in already rendered comment HTML (saves rendering a body twice)."""
    if "<a" not in html and "<A" not in html:
        return 0  # no tag of any link (an entity is never a tag)
    counter = _LinkCounter()
    counter.feed(html)
    counter.close()
    return counter.links


def _rename_import_tag(match: re.Match[str]) -> str:
    tag = match.group(0)
    return _IMPORT_RENAMES.get(tag, tag)


def import_html(html: str) -> str:
    """Sanitize HTML from another comment system (Isso, Disqus) through our allowlist.

    Their exports store HTML, not Markdown, so it is not escaped: allowed formatting is
    kept, ``<b>``/``<i>`` become ``<strong>``/``<em>``, other tags are unwrapped to their
    text, and script/style disappear with their content.
    """
    cleaned = _IMPORT_CLEANER.clean(html)
    return clean(_SERIALIZED_TAG.sub(_rename_import_tag, cleaned))
