"""The text a reader will read, which is what every spam rule and the filter look at.

A banned word hidden by Markdown (``c**a**sino``), a zero-width space (``ca\u200bsino``) or
full-width letters (``ｃａｓｉｎｏ``) reads as the word once rendered, so the checks run on the
rendered HTML's text, NFKC-normalized, with invisible format characters removed and case
folded (issue 18, item 10).
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urlsplit

_BLOCK_TAG = re.compile(r"</?(?:p|br|li|ul|ol|blockquote|pre|h[1-6]|hr|div)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_HREF = re.compile(r'href="([^"]*)"')
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, without format characters (zero-width spaces and joiners, soft hyphens, bidi
    marks: category Cf), case-folded, runs of white space made one space."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():  # no format character is ASCII
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _SPACES.sub(" ", text.casefold()).strip()


def rendered_text(body_html: str) -> str:
    """The visible text of sanitized comment HTML: block ends become spaces, inline tags
    (emphasis, links, code) vanish, as a reader sees ``c<strong>a</strong>sino``."""
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub(" ", body_html)))


def link_hosts(body_html: str) -> list[str]:
    """The host names the comment's links point to (the sanitizer wrote every href)."""
    hosts = []
    for href in _HREF.findall(body_html):
        host = url_host(html.unescape(href))
        if host:
            hosts.append(host)
    return hosts


def url_host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def reader_view(body_html: str, author: str | None, website: str | None) -> str:
    """Everything a reader sees of a comment, normalized: what the rules match against."""
    parts = [rendered_text(body_html), author or "", website or ""]
    return normalize(" \n ".join(parts))
