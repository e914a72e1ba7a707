"""The fields and validators every schema builds on: strict integers, booleans and times,
whole-value patterns, and the text rules of ``text_rules`` as marshmallow validators.

Each field refuses what a loose one would coerce (``"5"`` for 5, ``"yes"`` for true, a naive
time), so the input schemas of every resource refuse the same things with the same messages.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.core.errors import describe
from service.core.text_rules import (
    ARTICLE_MAX,
    ARTICLE_PATTERN,
    LINK_URL_RE,
    MAX_INT_DIGITS,
    NAME_PATTERN,
    article_problem,
    body_problem,
    canonical_article,
    collapse_line,
    email_problem,
    line_problem,
    name_problem,
)

FUTURE_TOLERANCE = timedelta(minutes=5)


class StrictInteger(fields.Integer):
    """An integer and nothing else: no floats, numeric strings or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(describe("not_integer"))
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` and nothing else: ``"yes"``, ``1`` or ``"on"`` are a 422."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(describe("not_boolean"))
        return value


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits only (``int`` takes ``"٣"``, ``"+5"``,
    ``" 5"`` and ``"5_0"``), and never more digits than ``int`` will parse."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if (
            not isinstance(value, str)
            or len(value) > MAX_INT_DIGITS
            or not re.fullmatch(r"[0-9]+", value)
        ):
            raise ValidationError(describe("not_integer"))
        return super()._deserialize(value, attr, data, **kwargs)


class UtcDateTime(fields.AwareDateTime):
    """RFC 3339 with a zone in (a naive time is an error), UTC ``Z`` out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not re.match(r"^\d{4}-\d\d-\d\dT", value):
            raise ValidationError("Not a valid RFC 3339 time with a zone.")
        try:
            return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValidationError("Out of the supported range of times.") from None


class FullMatch(validate.Regexp):
    """The whole value must match: Python's ``$`` also matches before a final newline."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def not_in_future(value: datetime) -> None:
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValidationError("May not lie more than 5 minutes in the future.")


# --- text rules as validators -------------------------------------------------------------


def _check(problem: str | None, **params: Any) -> None:
    if problem is not None:
        raise ValidationError(describe(problem, **params))


def plain_line(value: str) -> None:
    """One line of plain text: no control characters, no bidi overrides."""
    _check(line_problem(value))


def body_text(value: str) -> None:
    _check(body_problem(value))


def article_key(value: str) -> None:
    _check(article_problem(value))


def email_address(value: str) -> None:
    _check(email_problem(value))


def display_name(max_length: int) -> Any:
    def check(value: str) -> None:
        _check(name_problem(value, max_length), max_length=max_length)

    return check


def name_field(max_length: int, **kwargs: Any) -> fields.String:
    """A label or display name: a plain line, not blank, up to ``max_length`` characters."""
    return fields.String(
        validate=display_name(max_length),
        metadata={"minLength": 1, "maxLength": max_length, "pattern": NAME_PATTERN},
        **kwargs,
    )


class CollapsedLine(fields.String):
    """Metadata about a page (its title): white space and control characters collapse to
    one space rather than refusing the comment; an empty result is no title at all. Only a
    raw value over ``max_length`` is refused, as the document's ``maxLength`` says."""

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        metadata = {"maxLength": max_length, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > self.max_length:
            raise ValidationError(describe("too_long", max_length=self.max_length))
        return collapse_line(text) or None


def http_url(max_length: int) -> fields.String:
    """An http(s) link checked by one published pattern, so the schema says what we accept.

    LINK_URL_RE refuses quotes, angle brackets and spaces, which no URL needs and which a
    page showing the link would have to escape.
    """
    return fields.String(
        allow_none=True,
        validate=[validate.Length(max=max_length), plain_line, FullMatch(LINK_URL_RE)],
        metadata={"pattern": LINK_URL_RE, "maxLength": max_length},
    )


class ArticleField(fields.String):
    """An article key, reduced to its canonical spelling (``canonical_article``) before it is
    checked, so every view looks up, stores and answers one spelling per thread."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"pattern": ARTICLE_PATTERN})
        kwargs["metadata"] = {"minLength": 1, "maxLength": ARTICLE_MAX, **kwargs["metadata"]}
        super().__init__(validate=article_key, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > ARTICLE_MAX * 3:  # refused by the validator anyway: no work on it
            return text
        return canonical_article(text)
