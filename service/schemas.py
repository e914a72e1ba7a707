"""marshmallow schemas: one for what comes in, one for what goes out, per resource.

Input schemas whitelist their fields (unknown fields are a 422), so a reader can never set
``status``, ``likes`` or ``is_author``. Every text and number rule comes from
``service.text_rules``, so the admin forms, the e-mail link pages and the importers apply the
same ones; the names below that other modules import from here stay importable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from service.errors import describe
from service.models import LANGS
from service.text_rules import (
    ARTICLE_MAX,
    ARTICLE_PATTERN,
    AUTHOR_MAX,
    BIDI_RE,
    BODY_MAX,
    BODY_PATTERN,
    CONTROL_RE,
    EMAIL_MAX,
    EMAIL_PATTERN,
    LABEL_MAX,
    LINE_CONTROL_RE,
    LINE_PATTERN,
    LINK_URL_RE,
    MAX_ID,
    MAX_INT_DIGITS,
    MAX_ORDER,
    MAX_POSITION,
    NAME_PATTERN,
    TITLE_MAX,
    URL_MAX,
    WEBSITE_MAX,
    article_problem,
    body_problem,
    collapse_line,
    email_problem,
    line_problem,
    name_problem,
)

__all__ = [  # re-exported for the importers and feeds, which check text the same way
    "BIDI_RE",
    "CONTROL_RE",
    "LINE_CONTROL_RE",
    "LINK_URL_RE",
    "MAX_POSITION",
    "FullMatch",
    "StrictInteger",
    "UtcDateTime",
]

CATEGORY_KEY_RE = r"^[a-z0-9][a-z0-9-]{0,31}$"
FUTURE_TOLERANCE = timedelta(minutes=5)
# Times we store and page by; a cursor's time outside them was not made by us.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)
# What ``next_cursor`` looks like: URL-safe base64 without padding, and at most this long.
COMMENTS_CURSOR_PATTERN = "^[A-Za-z0-9_-]{1,512}$"


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

SORTS = ("oldest", "newest", "top")


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


# --- rankings -----------------------------------------------------------------------------


class LangQuery(StrictSchema):
    lang = fields.String(validate=validate.OneOf(LANGS))


class RecordPositions(StrictSchema):
    positions = fields.Dict(
        keys=fields.String(validate=FullMatch(CATEGORY_KEY_RE)),
        values=StrictInteger(validate=validate.Range(1, MAX_POSITION)),
        required=True,
        metadata={"example": {"consulting": 4, "marketing": 12}, "minProperties": 1},
    )
    observed_at = UtcDateTime(validate=not_in_future)

    @validates("positions")
    def _not_empty(self, value: dict[str, int], **_: Any) -> None:
        if not value:
            raise ValidationError("Give at least one category's position.")


class Observation(Schema):
    position = fields.Integer(required=True)
    observed_at = UtcDateTime(required=True)


class CategoryRanking(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)
    url = fields.String(allow_none=True, required=True)
    current = fields.Nested(Observation, allow_none=True, required=True)
    best = fields.Nested(Observation, allow_none=True, required=True)
    entries = fields.Integer(required=True)
    new_best_until = UtcDateTime(
        allow_none=True,
        required=True,
        metadata={
            "description": "Until when the badge says 最高順位更新！ / New best!: the best's "
            "time plus the site's best_flag_days; null when off or there is no best."
        },
    )


class Rankings(Schema):
    site = fields.String(required=True)
    categories = fields.List(fields.Nested(CategoryRanking), required=True)


class HistoryQuery(StrictSchema):
    since = UtcDateTime()
    until = UtcDateTime()
    limit = QueryInteger(load_default=100, validate=validate.Range(1, 1000))


class HistoryEntry(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    observed_at = UtcDateTime(required=True)


class History(Schema):
    category = fields.String(required=True)
    entries = fields.List(fields.Nested(HistoryEntry), required=True)


class Labels(StrictSchema):
    ja = name_field(LABEL_MAX, required=True)
    en = name_field(LABEL_MAX, required=True)


class CategoryInput(StrictSchema):
    labels = fields.Nested(Labels, required=True)
    # A pattern rather than fields.Url, so the OpenAPI document states exactly what is accepted.
    url = fields.String(
        allow_none=True,
        validate=[validate.Length(max=URL_MAX), FullMatch(LINK_URL_RE)],
        metadata={"maxLength": URL_MAX},
    )
    order = StrictInteger(validate=validate.Range(0, MAX_ORDER))


class CategoryOutput(Schema):
    key = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    url = fields.String(allow_none=True, required=True)
    order = fields.Integer(required=True)


# --- comments -----------------------------------------------------------------------------


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
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"pattern": ARTICLE_PATTERN})
        kwargs["metadata"] = {"minLength": 1, "maxLength": ARTICLE_MAX, **kwargs["metadata"]}
        super().__init__(validate=article_key, **kwargs)


class CommentInput(StrictSchema):
    article = ArticleField(required=True)
    article_title = CollapsedLine(
        TITLE_MAX,
        allow_none=True,
        metadata={"description": "White space and control characters collapse to one space."},
    )
    article_url = http_url(URL_MAX)
    parent_id = StrictInteger(allow_none=True, validate=validate.Range(1, MAX_ID))
    author = fields.String(
        validate=[validate.Length(max=AUTHOR_MAX), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    email = fields.String(
        validate=email_address,
        allow_none=True,
        metadata={"format": "email", "maxLength": EMAIL_MAX, "pattern": EMAIL_PATTERN},
    )
    website = http_url(WEBSITE_MAX)
    body = fields.String(
        required=True,
        validate=body_text,
        metadata={"minLength": 1, "maxLength": BODY_MAX, "pattern": BODY_PATTERN},
    )
    notify = StrictBoolean(load_default=False)
    homepage = fields.String(
        load_default="",
        validate=validate.Length(max=2048),
        metadata={"description": "Honeypot: leave empty. Humans never see this field."},
    )


class CommentPatch(StrictSchema):
    body = fields.String(
        validate=body_text,
        metadata={"minLength": 1, "maxLength": BODY_MAX, "pattern": BODY_PATTERN},
    )
    author = fields.String(
        validate=[validate.Length(max=AUTHOR_MAX), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    website = http_url(WEBSITE_MAX)


class PublicComment(Schema):
    id = fields.Integer(required=True)
    parent_id = fields.Integer(allow_none=True, required=True)
    author = fields.String(required=True)
    website = fields.String(allow_none=True, required=True)
    avatar = fields.String(required=True)
    body_html = fields.String(required=True)
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, required=True)
    likes = fields.Integer(required=True)
    is_author = fields.Boolean(required=True)
    deleted = fields.Boolean(required=True)
    replies = fields.List(fields.Nested(lambda: PublicComment()), required=True)


def comments_cursor_field() -> fields.String:
    return fields.String(
        validate=FullMatch(COMMENTS_CURSOR_PATTERN),
        metadata={
            "pattern": COMMENTS_CURSOR_PATTERN,
            "maxLength": 512,
            "description": "Opaque: the `next_cursor` of the previous page, with the same sort.",
        },
    )


class CommentsQuery(StrictSchema):
    article = ArticleField(required=True)
    lang = fields.String(validate=validate.OneOf(LANGS))
    sort = fields.String(load_default="oldest", validate=validate.OneOf(SORTS))
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))
    cursor = comments_cursor_field()


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


def encode_comments_cursor(sort: str, key: list[Any]) -> str:
    """``next_cursor``: the page order's keyset of the last comment, as URL-safe base64."""
    schema = _TopCursor() if sort == "top" else _TimeCursor()
    raw = json.dumps(schema.dump({"s": sort, "k": tuple(key)}), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_comments_cursor(cursor: str, sort: str) -> list[Any]:
    """A cursor back into its keyset, every type and range checked: a forged one is a
    ValidationError (a 422), never a value the database cannot compare."""
    from service.request_input import MalformedJson, load_json

    invalid = ValidationError(describe("cursor_invalid"), field_name="cursor")
    if len(cursor) > 512 or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise invalid
    try:
        data = load_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (MalformedJson, binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("s") != sort:
        raise invalid
    try:
        loaded = (_TopCursor() if sort == "top" else _TimeCursor()).load(data)
    except ValidationError:
        raise invalid from None
    return list(loaded["k"])


class CommentsPage(Schema):
    article = fields.String(required=True)
    total = fields.Integer(required=True)
    comments = fields.List(fields.Nested(PublicComment), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PostResult(Schema):
    comment = fields.Nested(PublicComment, required=True)
    status = fields.String(required=True, validate=validate.OneOf(("approved", "pending")))
    edit_token = fields.String(required=True)
    editable_until = UtcDateTime(required=True)


class CommentResult(Schema):
    comment = fields.Nested(PublicComment, required=True)


class LikeResult(Schema):
    likes = fields.Integer(required=True)


class CountsQuery(StrictSchema):
    article = fields.List(ArticleField(), required=True, validate=validate.Length(1, 100))


class Counts(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class WidgetQuery(StrictSchema):
    article = ArticleField(required=True)
    lang = fields.String(validate=validate.OneOf(LANGS))
    sort = fields.String(load_default="oldest", validate=validate.OneOf(SORTS))
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))


class WidgetSite(Schema):
    name = fields.String(required=True)
    lang = fields.String(required=True)
    moderation = fields.String(required=True)
    edit_window = fields.Integer(required=True)


class Features(Schema):
    notify = fields.Boolean(required=True)


class Widget(Schema):
    site = fields.Nested(WidgetSite, required=True)
    rankings = fields.List(fields.Nested(CategoryRanking), required=True)
    comments = fields.Nested(CommentsPage, required=True)
    features = fields.Nested(Features, required=True)


class ModerationQuery(StrictSchema):
    status = fields.String(
        load_default="pending", validate=validate.OneOf(("pending", "spam", "approved", "deleted"))
    )
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))
    cursor = QueryInteger(
        validate=validate.Range(1, MAX_ID),
        metadata={
            "description": "The `next_cursor` of the previous page: list comments older than it.",
        },
    )


class PrivateComment(PublicComment):
    email = fields.String(allow_none=True, required=True)
    status = fields.String(required=True)
    article = fields.String(required=True)
    notify = fields.Boolean(required=True)

    class Meta:
        exclude = ("replies",)


class ModerationPage(Schema):
    comments = fields.List(fields.Nested(PrivateComment), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class ModerateAction(StrictSchema):
    action = fields.String(
        required=True, validate=validate.OneOf(("approve", "spam", "delete", "restore"))
    )
