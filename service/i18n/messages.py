"""Every text a reader or author can see, in their language: one catalogue, one lookup.

The catalogue maps a key (``area.name``) to its text in each language of ``LANGS``; the
areas' texts live in ``texts_api`` (API errors), ``texts_pages`` (e-mail link pages,
badges, notification e-mails, feeds) and ``texts_admin`` (the admin). ``text(key, lang,
**fields)`` is the one lookup. Japanese uses full-width punctuation, as Japanese text does.

API errors are raised in English by validators, ``abort()`` calls and werkzeug; the one
error handler (``errors.error_response``) finds the catalogue entry whose English matches
the raised text (``translate``), so the code that raises stays as it is. A text no entry
matches is shown as raised.

Language: ``lang`` asked for (query, body), else the language of the site in the URL, else
the best match of ``Accept-Language``, else English (``request_language``, ``choose``).
"""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Mapping
from typing import Any

from flask import current_app, request

from service.i18n import texts_admin, texts_api, texts_pages

LANGS = ("ja", "en")
DEFAULT_LANG = "en"


def _area(area: str, texts: Mapping[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {f"{area}.{name}": entry for name, entry in texts.items()}


CATALOGUE: dict[str, dict[str, str]] = {
    **_area("error", texts_api.TEXTS),
    **_area("field", texts_api.FIELD_TEXTS),
    **_area("comment", texts_pages.COMMENT),
    **_area("link", texts_pages.LINK),
    **_area("badge", texts_pages.BADGE),
    **_area("mail", texts_pages.MAIL),
    **_area("chat", texts_pages.CHAT),
    **_area("feed", texts_pages.FEED),
    **_area("admin", texts_admin.TEXTS),
}


def text(key: str, lang: str, /, **fields: Any) -> str:
    """The text of ``key`` in ``lang`` (English for a language we do not have), filled in."""
    entry = CATALOGUE[key]
    template = entry.get(lang) or entry[DEFAULT_LANG]
    return template.format(**fields)


class Texts:
    """``text`` bound to one area and language, for templates and views: ``t("sign_in")``."""

    def __init__(self, area: str, lang: str) -> None:
        self.area = area
        self.lang = lang if lang in LANGS else DEFAULT_LANG

    def __call__(self, name: str, /, **fields: Any) -> str:
        return text(f"{self.area}.{name}", self.lang, **fields)


# --- translating raised English -------------------------------------------------------------


def _pattern(english: str) -> re.Pattern[str]:
    """A template's English as a regex: each ``{name}`` a group, ``{name!r}`` within quotes."""
    parts = []
    for literal, name, _spec, conversion in string.Formatter().parse(english):
        parts.append(re.escape(literal))
        if name is not None:
            value = rf"(?P<{name}>.+)"
            parts.append(f"['\"]{value}['\"]" if conversion == "r" else value)
    return re.compile("".join(parts), re.DOTALL)


def _literal_length(english: str) -> int:
    return sum(len(literal) for literal, *_ in string.Formatter().parse(english))


def _matchers(area: str) -> list[tuple[str, re.Pattern[str]]]:
    """The entries of an area, the most specific (longest literal text) tried first."""
    keys = [key for key in CATALOGUE if key.startswith(area + ".")]
    keys.sort(key=lambda key: -_literal_length(CATALOGUE[key][DEFAULT_LANG]))
    return [(key, _pattern(CATALOGUE[key][DEFAULT_LANG])) for key in keys]


_ERRORS = _matchers("error")
_FIELDS = _matchers("field")


# Placeholders that hold a limit: shown with thousands separators (1,000,000, 5,000) in
# both languages, as people write numbers, whatever the validator raised (1000000).
_NUMBERS = frozenset({"min", "max", "low", "high", "max_length", "seconds", "minutes", "hours"})


def _groups(found: re.Match[str]) -> dict[str, str]:
    return {
        name: f"{int(value):,}" if name in _NUMBERS and value.isdecimal() else value
        for name, value in found.groupdict().items()
        if value is not None
    }


def translate(raised: str, lang: str, field: str | None = None) -> str:
    """The raised English in ``lang`` (English too: numbers get their separators), or as
    it is when no catalogue entry matches it."""
    if lang not in LANGS:
        return raised
    candidates = [(k, p) for k, p in _FIELDS if k.startswith(f"field.{field}.")] if field else []
    for key, pattern in candidates + _ERRORS:
        found = pattern.fullmatch(raised)
        if found:
            return text(key, lang, **_groups(found))
    return raised


def translate_errors(errors: Any, lang: str, field: str | None = None) -> Any:
    """The ``errors`` mapping with every message translated; keys and shape unchanged."""
    if isinstance(errors, dict):
        return {
            key: translate_errors(value, lang, field if field is not None else str(key))
            for key, value in errors.items()
        }
    if isinstance(errors, list):
        return [translate_errors(item, lang, field) for item in errors]
    if isinstance(errors, str):
        return translate(errors, lang, field)
    return errors


# --- choosing the language -------------------------------------------------------------------


def choose(asked: Any, site_lang: Any, default: str = DEFAULT_LANG) -> str:
    """``asked`` if it is one of ours, else the site's language, else the browser's."""
    if isinstance(asked, str) and asked.lower() in LANGS:
        return asked.lower()
    if isinstance(site_lang, str) and site_lang in LANGS:
        return site_lang
    return browser_language(default)


VARY_KEY = "ranklet.vary"  # request.environ: the headers this answer's body was chosen by


def header_read(name: str) -> None:
    """Note that this request's answer depends on the header ``name``: ``create_app`` adds
    it to ``Vary``, so no shared cache hands one browser's answer to another."""
    request.environ.setdefault(VARY_KEY, set()).add(name)


def browser_language(default: str) -> str:
    """The best of ``LANGS`` for the browser's ``Accept-Language`` (the answer varies by it)."""
    header_read("Accept-Language")
    return request.accept_languages.best_match(LANGS, default=default) or default


def request_language(look_up_site: bool = True) -> str:
    """The language of this request's error: ``lang`` given, the site's, or the browser's."""
    chosen = request.args.get("lang")
    if chosen is None and request.is_json:
        with contextlib.suppress(Exception):  # a body too large or unreadable has no lang
            body = request.get_json(silent=True)
            chosen = body.get("lang") if isinstance(body, dict) else None
    slug = (request.view_args or {}).get("site") or _slug_in_path(request.path)
    site_lang = None
    if look_up_site and isinstance(slug, str) and not _is_ours(chosen):
        site_lang = _site_language(slug)
    return choose(chosen, site_lang)


# A 404 or 405 matched no route, so has no view arguments: the site is read from the path.
_SITE_PATH = re.compile(r"/api/v1/sites/([a-z0-9][a-z0-9-]{0,62})(?:/|$)")


def _slug_in_path(path: str) -> str | None:
    found = _SITE_PATH.match(path)
    return found.group(1) if found else None


def _is_ours(lang: Any) -> bool:
    return isinstance(lang, str) and lang.lower() in LANGS


def _site_language(slug: str) -> str | None:
    """The site's language, from the lookup ``create_app`` installs: the core knows no
    sites (``sites.site_language``)."""
    lookup = current_app.extensions.get("ranklet_site_language")
    with contextlib.suppress(Exception):  # an error page never fails on the lookup
        return lookup(slug) if lookup is not None else None
    return None
