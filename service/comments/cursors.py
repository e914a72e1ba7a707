"""The comment pages' cursors: the page order's keyset of the last comment, as an opaque
URL-safe token, and back.

A cursor comes from the reader, so decoding checks every type and range: a forged one is a
ValidationError (a 422), never a value the database cannot compare.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

from service.core.errors import describe
from service.core.request_input import MalformedJson, load_json
from service.core.schema_fields import FullMatch, StrictInteger, StrictSchema, UtcDateTime
from service.core.text_rules import MAX_ID

# Times we store and page by; a cursor's time outside them was not made by us.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
# What ``next_cursor`` looks like: URL-safe base64 without padding, and at most this long.
COMMENTS_CURSOR_PATTERN = "^[A-Za-z0-9_-]{1,512}$"


def comments_cursor_field() -> fields.String:
    return fields.String(
        validate=FullMatch(COMMENTS_CURSOR_PATTERN),
        metadata={
            "pattern": COMMENTS_CURSOR_PATTERN,
            "maxLength": 512,
            "description": "Opaque: the `next_cursor` of the previous page, with the same sort.",
        },
    )


class _TimeCursor(StrictSchema):
    """The keyset of the ``oldest`` and ``newest`` orders: (created_at, id)."""

    s = fields.String(required=True, validate=validate.OneOf(("oldest", "newest")))
    k = fields.Tuple(
        (
            UtcDateTime(validate=validate.Range(EARLIEST_TIME, LATEST_TIME)),
            StrictInteger(validate=validate.Range(1, MAX_ID)),
        ),
        required=True,
    )


class _TopCursor(StrictSchema):
    """The keyset of the ``top`` order: (likes, created_at, id)."""

    s = fields.String(required=True, validate=validate.Equal("top"))
    k = fields.Tuple(
        (
            StrictInteger(validate=validate.Range(0, MAX_ID)),
            UtcDateTime(validate=validate.Range(EARLIEST_TIME, LATEST_TIME)),
            StrictInteger(validate=validate.Range(1, MAX_ID)),
        ),
        required=True,
    )


class _PinCursor(StrictSchema):
    """A page that ended among the pinned comments: (pinned_at, id), newest pin first,
    whatever the sort (pinned comments lead every order)."""

    s = fields.String(required=True, validate=validate.OneOf(("oldest", "newest", "top")))
    p = fields.Tuple(
        (
            UtcDateTime(validate=validate.Range(EARLIEST_TIME, LATEST_TIME)),
            StrictInteger(validate=validate.Range(1, MAX_ID)),
        ),
        required=True,
    )


def _schema(sort: str, pinned: bool) -> StrictSchema:
    if pinned:
        return _PinCursor()
    return _TopCursor() if sort == "top" else _TimeCursor()


def encode_comments_cursor(sort: str, key: list[Any], *, pinned: bool = False) -> str:
    """``next_cursor``: the page order's keyset of the last comment, as URL-safe base64;
    ``pinned`` when that comment is a pinned one (its key is then (pinned_at, id))."""
    data = {"s": sort, "p" if pinned else "k": tuple(key)}
    raw = json.dumps(_schema(sort, pinned).dump(data), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_comments_cursor(cursor: str, sort: str) -> tuple[bool, list[Any]]:
    """A cursor back into (pinned, keyset), every type and range checked: a forged one is a
    ValidationError (a 422), never a value the database cannot compare."""
    invalid = ValidationError(describe("cursor_invalid"), field_name="cursor")
    if len(cursor) > 512 or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise invalid
    try:
        data = load_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (MalformedJson, binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("s") != sort:
        raise invalid
    pinned = "p" in data
    try:
        loaded = _schema(sort, pinned).load(data)
    except ValidationError:
        raise invalid from None
    return pinned, list(loaded["p" if pinned else "k"])
