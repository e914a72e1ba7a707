"""marshmallow schemas: one for what comes in, one for what goes out, per resource.

Input schemas whitelist their fields (unknown fields are a 422), so a reader can never set
``status``, ``likes`` or ``is_author``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from service.models import LANGS

MAX_POSITION = 1_000_000
CATEGORY_KEY_RE = r"^[a-z0-9][a-z0-9-]{0,31}$"
# An http(s) link with a host and no spaces, control or unsafe characters.
_UNSAFE_URL_CHARS = r"\x00-\x20\x7f-\x9f\"<>\\^`{|}"
LINK_URL_RE = rf"^https?://[^{_UNSAFE_URL_CHARS}/?#]+([/?#][^{_UNSAFE_URL_CHARS}]*)?$"
FUTURE_TOLERANCE = timedelta(minutes=5)


class StrictInteger(fields.Integer):
    """An integer and nothing else: no floats, numeric strings or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be an integer.")
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


# --- rankings -----------------------------------------------------------------------------


class LangQuery(StrictSchema):
    lang = fields.String(validate=validate.OneOf(LANGS))


class RecordPositions(StrictSchema):
    positions = fields.Dict(
        keys=fields.String(validate=FullMatch(CATEGORY_KEY_RE)),
        values=StrictInteger(validate=validate.Range(1, MAX_POSITION)),
        required=True,
        metadata={"example": {"consulting": 4, "marketing": 12}},
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
            "description": "Until when the badge says 最高順位更新! / New best!: the best's "
            "time plus the site's best_flag_days; null when off or there is no best."
        },
    )


class Rankings(Schema):
    site = fields.String(required=True)
    categories = fields.List(fields.Nested(CategoryRanking), required=True)


class HistoryQuery(StrictSchema):
    since = UtcDateTime()
    until = UtcDateTime()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class HistoryEntry(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    observed_at = UtcDateTime(required=True)


class History(Schema):
    category = fields.String(required=True)
    entries = fields.List(fields.Nested(HistoryEntry), required=True)


class Labels(StrictSchema):
    ja = fields.String(required=True, validate=validate.Length(1, 100))
    en = fields.String(required=True, validate=validate.Length(1, 100))


class CategoryInput(StrictSchema):
    labels = fields.Nested(Labels, required=True)
    # A pattern rather than fields.Url, so the OpenAPI document states exactly what is accepted.
    url = fields.String(
        allow_none=True, validate=[validate.Length(max=2048), FullMatch(LINK_URL_RE)]
    )
    order = StrictInteger(validate=validate.Range(0, 10_000))


class CategoryOutput(Schema):
    key = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    url = fields.String(allow_none=True, required=True)
    order = fields.Integer(required=True)


# --- comments -----------------------------------------------------------------------------

# Control characters other than tab and newlines, and the bidi overrides/isolates that can
# make a name display as something else.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BIDI_RE = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
SORTS = ("oldest", "newest", "top")


# The same rules as OpenAPI patterns (ECMA regex), so generated clients and schema-driven
# tests know what the validators below accept.
LINE_PATTERN = (
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u061c\\u202a-\\u202e\\u2066-\\u2069]*$"
)
ARTICLE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
_BODY_CHAR = "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]"
BODY_PATTERN = f"^{_BODY_CHAR}*[^\\s\\u0000-\\u001f\\u007f-\\u009f]{_BODY_CHAR}*$"


def plain_line(value: str) -> None:
    """One line of plain text: no control characters, no bidi overrides."""
    if LINE_CONTROL_RE.search(value):
        raise ValidationError("Control characters are not allowed.")
    if BIDI_RE.search(value):
        raise ValidationError("Bidirectional control characters are not allowed.")


def body_text(value: str) -> None:
    if CONTROL_RE.search(value):
        raise ValidationError("Control characters are not allowed (except newlines and tabs).")
    if not 1 <= len(value.strip()) <= 5000:
        raise ValidationError("Must be 1 to 5000 characters.")


def article_key(value: str) -> None:
    if LINE_CONTROL_RE.search(value):
        raise ValidationError("Control characters are not allowed.")


def http_url(max_length: int) -> fields.String:
    """An http(s) link checked by one published pattern, so the schema says what we accept.

    LINK_URL_RE refuses quotes, angle brackets and spaces, which no URL needs and which a
    page showing the link would have to escape.
    """
    return fields.String(
        allow_none=True,
        validate=[validate.Length(max=max_length), plain_line, FullMatch(LINK_URL_RE)],
        metadata={"pattern": LINK_URL_RE},
    )


class ArticleField(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"pattern": ARTICLE_PATTERN})
        super().__init__(validate=[validate.Length(1, 512), article_key], **kwargs)


class CommentInput(StrictSchema):
    article = ArticleField(required=True)
    article_title = fields.String(
        validate=[validate.Length(max=512), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    article_url = http_url(2048)
    parent_id = StrictInteger(allow_none=True, validate=validate.Range(1))
    author = fields.String(
        validate=[validate.Length(max=64), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    email = fields.Email(
        validate=[validate.Length(max=254), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    website = http_url(256)
    body = fields.String(
        required=True,
        validate=body_text,
        metadata={"minLength": 1, "maxLength": 5000, "pattern": BODY_PATTERN},
    )
    notify = fields.Boolean(load_default=False)
    homepage = fields.String(
        load_default="",
        validate=validate.Length(max=2048),
        metadata={"description": "Honeypot: leave empty. Humans never see this field."},
    )


class CommentPatch(StrictSchema):
    body = fields.String(
        validate=body_text, metadata={"minLength": 1, "maxLength": 5000, "pattern": BODY_PATTERN}
    )
    author = fields.String(
        validate=[validate.Length(max=64), plain_line],
        allow_none=True,
        metadata={"pattern": LINE_PATTERN},
    )
    website = http_url(256)


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


class CommentsQuery(StrictSchema):
    article = ArticleField(required=True)
    lang = fields.String(validate=validate.OneOf(LANGS))
    sort = fields.String(load_default="oldest", validate=validate.OneOf(SORTS))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(validate=validate.Length(max=512))


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
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


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
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = fields.String(validate=validate.Length(max=512))


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
