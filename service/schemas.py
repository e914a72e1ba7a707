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
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


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
        keys=fields.String(validate=validate.Regexp(CATEGORY_KEY_RE)),
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
    url = fields.Url(schemes={"http", "https"}, allow_none=True, validate=validate.Length(max=2048))
    order = StrictInteger(validate=validate.Range(0, 10_000))


class CategoryOutput(Schema):
    key = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    url = fields.String(allow_none=True, required=True)
    order = fields.Integer(required=True)
