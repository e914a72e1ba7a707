"""What a request may carry before any schema sees it: one JSON loader for every JSON body,
and ASCII-only integers in paths.

Python's ``json`` recurses once per nesting level (``[`` × 10,000 is a RecursionError), turns
a 5,000-digit literal into a ValueError past ``int``'s digit limit, accepts ``NaN`` and lets
an escaped half surrogate pair through; werkzeug's ``int`` converter matches ``\\d``, which
takes Arabic-Indic and fullwidth digits. Each is decided here once, for every route.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NoReturn

import flask_smorest
from flask import Request
from flask_smorest import abort
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter, Map, ValidationError

from service.core.errors import describe
from service.core.text_rules import MAX_ID, MAX_INT_DIGITS

# Our bodies nest two levels ({"positions": {...}}); this leaves room and bounds the parser's
# recursion far below Python's limit.
MAX_JSON_DEPTH: Final = 32
# Strings first (so brackets inside them do not count), then every bracket outside them.
# The closing quote is optional so that an unterminated string ends the match instead of
# making the search retry from every later quote (quadratic on a hostile body).
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_CACHE_KEY = "ranklet.json_body"


class MalformedJson(ValueError):
    """The body is not JSON we parse; the message says why, for a 400."""


def _nesting_depth(raw: bytes) -> int:
    """The deepest bracket nesting outside strings, counted without recursion."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b'""', raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedJson(describe("json_long_number", digits=MAX_INT_DIGITS))
    return int(literal)


def _no_constant(_name: str) -> NoReturn:
    raise MalformedJson(describe("json_constant"))


def load_json(raw: bytes | str) -> Any:
    """Parse a JSON document with the limits above; MalformedJson for anything else.

    The depth is checked before parsing, so a hostile body never reaches the recursive
    decoder; numbers and constants are checked while parsing.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # A document cannot nest deeper than it has opening brackets (most bodies: one or two).
    opening = data.count(b"[") + data.count(b"{")
    if opening > MAX_JSON_DEPTH and _nesting_depth(data) > MAX_JSON_DEPTH:
        raise MalformedJson(describe("json_too_deep", depth=MAX_JSON_DEPTH))
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except MalformedJson:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise MalformedJson(describe("json_invalid")) from None
    if _SURROGATE_ESCAPE.search(data):
        # Decoded into a string that neither the database nor a UTF-8 answer can carry.
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise MalformedJson(describe("json_surrogate")) from None
    return value


def request_json(req: Request) -> Any:
    """The request's body parsed once by ``load_json`` (kept for the view's parser)."""
    # On the request's environ, not on ``g``: an app context can outlive one request.
    if _CACHE_KEY not in req.environ:
        req.environ[_CACHE_KEY] = load_json(req.get_data(cache=True))
    return req.environ[_CACHE_KEY]


def json_refusal(req: Request) -> str | None:
    """Why a JSON body is refused (for a 400 before any view runs), or None if it parses."""
    if not req.get_data(cache=True):
        return None  # no body: the view's schema says whether one was required
    try:
        request_json(req)
    except MalformedJson as error:
        return str(error)
    return None


class JsonParser(FlaskParser):
    """webargs' parser with our loader: every JSON route's body goes through ``load_json``."""

    def _raw_load_json(self, req: Request) -> Any:
        if not req.is_json:
            return super()._raw_load_json(req)  # not JSON: "missing", as webargs decides
        try:
            return request_json(req)
        except MalformedJson as error:
            abort(400, message=str(error))


class ApiBlueprint(flask_smorest.Blueprint):
    """The API's blueprints: flask-smorest's, parsing bodies with ``JsonParser``."""

    ARGUMENTS_PARSER = JsonParser()


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` with ASCII digits only, and at most the ids a column can hold.

    A path that does not match is a 404, as for any unknown path; a value past ``max`` too.
    """

    regex = r"[0-9]+"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
        self.regex = r"[0-9]+"  # werkzeug swaps in its signed \d pattern for signed=True

    def to_python(self, value: str) -> int:
        if len(value) > MAX_INT_DIGITS:
            raise ValidationError()
        return int(super().to_python(value))
