"""The text and number rules of every door: API schemas, admin forms, e-mail link pages, CLI
and importers all check a name, a label, an address or an id with the functions here.

Each rule exists twice on purpose: as a Python check (``line_problem``, ``email_problem``...)
and, for the schemas, as an ECMA pattern for the OpenAPI document, so generated clients and
schema-driven tests know exactly what is accepted. The checks return a message key (of the
catalogue's ``error`` area, ``service.messages``, translated in one place) instead of raising,
so plain code such as ``sites.py`` and the importers can use them without marshmallow.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import urlsplit

# Integer columns are 32-bit on PostgreSQL (and SQLite refuses anything past 64 bits): an id,
# a like count or a cursor beyond this names nothing that can exist.
MAX_ID: Final = 2**31 - 1
MAX_POSITION: Final = 1_000_000
MAX_ORDER: Final = 10_000
# More digits than any value we take; a longer literal is refused before int() sees it
# (int() of a 5,000-digit string raises past Python's 4,300-digit limit).
MAX_INT_DIGITS: Final = 40

AUTHOR_MAX: Final = 64
WEBSITE_MAX: Final = 256
EMAIL_MAX: Final = 254
BODY_MAX: Final = 5000
ARTICLE_MAX: Final = 512
TITLE_MAX: Final = 512
URL_MAX: Final = 2048
LABEL_MAX: Final = 100
SITE_NAME_MAX: Final = 200
BANNED_WORD_MAX: Final = 100

# Control characters other than tab and newlines; every control character; and the bidi
# overrides/isolates that can make a name display as something else.
CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LINE_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BIDI_RE: Final = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# Runs of white space and control characters, which metadata collapses to one space.
_COLLAPSIBLE_RE: Final = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")

# An http(s) link with a host and no spaces, control, bidi or unsafe characters.
_UNSAFE_URL_CHARS = r"\x00-\x20\x7f-\x9f\"<>\\^`{|}\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069"
LINK_URL_RE: Final = rf"^https?://[^{_UNSAFE_URL_CHARS}/?#]+([/?#][^{_UNSAFE_URL_CHARS}]*)?$"
_LINK_URL: Final = re.compile(LINK_URL_RE)
# Exactly one mailbox, ``local@domain``: a dot-atom on each side (RFC 5322's atext, plus
# non-ASCII letters for internationalized addresses), a dot in the domain. Nothing that
# makes a header hold more than one address or a display name: no comma, semicolon,
# colon, quotes, angle brackets, parentheses (comments), backslash, white space, CR/LF.
# Non-ASCII letters and signs: not white space, line separators, bidi marks or surrogates.
_WIDE = (
    "\u00a1-\u061b\u061d-\u167f\u1681-\u1fff\u2010-\u2027\u2030-\u205e\u2060-\u2065"
    "\u206a-\u2fff\u3001-\ud7ff\ue000-\ufefe\uff00-\uffff"
)
_ATOM = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_WIDE}]+"
_LABEL = rf"[A-Za-z0-9\-{_WIDE}]+"
EMAIL_RE: Final = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")
ASCII_DIGITS_RE: Final = re.compile(r"[0-9]+")

# The same rules as OpenAPI patterns (ECMA regex).
LINE_PATTERN: Final = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]*$"
)
ARTICLE_PATTERN: Final = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
_BODY_CHAR = "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]"
# A body is 1 to BODY_MAX characters after trimming (API.md), which ``maxLength`` cannot
# say: the pattern does. White space a body may carry (str.strip's, less control
# characters), then the text from its first to its last character that is not.
_BODY_SPACE = "[\\t\\n\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
_BODY_INK = "[^\\s\\u0000-\\u001f\\u007f-\\u009f]"
BODY_PATTERN: Final = (
    f"^{_BODY_SPACE}*{_BODY_INK}(?:{_BODY_CHAR}{{0,{BODY_MAX - 2}}}{_BODY_INK})?{_BODY_SPACE}*$"
)
# A label or name: plain line with at least one character that is not white space.
NAME_PATTERN: Final = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]*"
    "[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]"
    "[^\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]*$"
)
_WIDE_P = "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in _WIDE)  # for ECMA
_ATOM_P = f"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\\-{_WIDE_P}]+"
_LABEL_P = f"[A-Za-z0-9\\-{_WIDE_P}]+"
EMAIL_PATTERN: Final = f"^{_ATOM_P}(?:\\.{_ATOM_P})*@{_LABEL_P}(?:\\.{_LABEL_P})+$"


def line_problem(value: str) -> str | None:
    """One line of plain text: no control characters, no bidi overrides."""
    if LINE_CONTROL_RE.search(value):
        return "control_chars"
    if BIDI_RE.search(value):
        return "bidi_chars"
    return None


def body_problem(value: str) -> str | None:
    """A comment body: newlines and tabs allowed, 1 to BODY_MAX characters after trimming."""
    if CONTROL_RE.search(value):
        return "control_chars_body"
    if not 1 <= len(value.strip()) <= BODY_MAX:
        return "body_length"
    return None


def article_problem(value: str) -> str | None:
    """An article key: 1 to ARTICLE_MAX characters, no control characters."""
    if not 1 <= len(value) <= ARTICLE_MAX:
        return "article_length"
    if LINE_CONTROL_RE.search(value):
        return "control_chars"
    return None


def name_problem(value: str, max_length: int) -> str | None:
    """A display name or label: a plain line, not blank, at most ``max_length`` characters."""
    if not value.strip() or len(value) > max_length:
        return "name_length"
    return line_problem(value)


def email_problem(value: str) -> str | None:
    """Exactly one mailbox up to EMAIL_MAX characters (RFC 5321's limit on a path): the
    rule at input (API, import, settings) and again when a mail is sent."""
    if len(value) > EMAIL_MAX:
        return "email_length"
    if BIDI_RE.search(value) or not EMAIL_RE.fullmatch(value):
        return "email_invalid"
    return None


def link_problem(value: str, max_length: int = URL_MAX) -> str | None:
    """An http(s) URL with a host, no spaces, quotes, angle brackets or control characters."""
    if len(value) > max_length:
        return "url_length"
    if line_problem(value) or not _LINK_URL.fullmatch(value):
        return "url_invalid"
    return None


def collapse_line(value: str) -> str:
    """Metadata a page sends about itself (a title): every run of white space or control
    characters becomes one space and bidi controls go, since a page title with a tab or a
    newline is not the reader's fault and should not refuse their comment."""
    return _COLLAPSIBLE_RE.sub(" ", BIDI_RE.sub("", value)).strip()


def ascii_int(value: str, low: int, high: int) -> int | None:
    """``value`` as an integer in ``[low, high]`` if it is ASCII digits only, else None.

    ``str.isdigit`` and ``int`` accept Arabic-Indic or fullwidth digits (``"٣"`` is 3) and
    ``int`` raises on thousands of digits; neither may name an id or a position here.
    """
    if len(value) > MAX_INT_DIGITS or not ASCII_DIGITS_RE.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


# --- article keys: one canonical spelling per thread ---------------------------------------

# RFC 3986's unreserved characters: an escape of one of them names the same resource.
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPES_RE: Final = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_STRAY_PERCENT_RE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_KEPT_ESCAPE_RE: Final = re.compile(r"(%[0-9A-F]{2})")
# WordPress's plain permalinks: the post or page is named by the query, not the path.
_PLAIN_PERMALINK_RE: Final = re.compile(r"(?:^|&)((?:p|page_id)=[0-9]{1,20})(?:&|$)")


def _decoded_escapes(match: re.Match[str]) -> str:
    """One run of escapes: UTF-8 text and unreserved characters decoded; reserved ASCII,
    control characters and bytes that are not UTF-8 stay escaped, in upper case."""
    raw = bytes.fromhex(match.group(0).replace("%", ""))
    out: list[str] = []
    for char in raw.decode("utf-8", errors="surrogateescape"):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not part of any UTF-8 character
            out.append(f"%{code - 0xDC00:02X}")
        elif char in _UNRESERVED or (code > 0x9F and not _is_surrogate(code)):
            out.append(char)
        else:  # reserved or other ASCII, C0/C1 controls: the escape keeps its meaning
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    return "".join(out)


def _is_surrogate(code: int) -> bool:
    return 0xD800 <= code <= 0xDFFF


def canonical_article(key: str) -> str:
    """The one spelling of an article key that every door stores and looks up (API.md §4).

    A browser sends ``/2023/05/%E7%B5%8C%E5%96%B6/``, WordPress writes ``%e7...`` and a
    shared link has ``/2023/05/経営/``: all three become ``/2023/05/経営/``. Escapes of
    UTF-8 text and of unreserved characters are decoded; every other escape (``%2F``, a
    byte that is not UTF-8, a control character) stays, upper-cased; a ``%`` that starts no
    escape becomes ``%25``; the result is NFC. Linear in the key's length, and idempotent:
    ``canonical_article(canonical_article(k)) == canonical_article(k)``.
    """
    if key.isascii() and "%" not in key:
        return key  # the common case, already canonical (NFC leaves ASCII alone)
    if "%" not in key:
        return unicodedata.normalize("NFC", key)
    key = _ESCAPES_RE.sub(_decoded_escapes, _STRAY_PERCENT_RE.sub("%25", key))
    # NFC between the escapes left, never across one: "%2A" + U+0301 must not become "%2Á".
    parts = _KEPT_ESCAPE_RE.split(key)
    return "".join(
        part if index % 2 else unicodedata.normalize("NFC", part)
        for index, part in enumerate(parts)
    )


def article_from_url(url: str) -> str | None:
    """The article key of a page's address, as the embed derives it from ``location``: the
    path (``/`` when empty), with WordPress's plain-permalink ``p`` or ``page_id`` kept
    (``/?p=1``); any other query and the fragment dropped. None for no usable address."""
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    article = parts.path or "/"
    if plain := _PLAIN_PERMALINK_RE.search(parts.query):
        article += "?" + plain.group(1)
    return canonical_article(article)
