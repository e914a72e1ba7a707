"""The rankings API's schemas: positions and categories in, standings and history out.

Input schemas whitelist their fields (unknown fields are a 422); their rules come from
``text_rules`` through ``schema_fields``, so the admin forms and the CLI check the same ones.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from service.core.schema_fields import (
    FullMatch,
    QueryInteger,
    StrictInteger,
    StrictSchema,
    UtcDateTime,
    name_field,
    not_in_future,
)
from service.core.text_rules import LABEL_MAX, LINK_URL_RE, MAX_ORDER, MAX_POSITION, URL_MAX
from service.db.models import LANGS

CATEGORY_KEY_RE = r"^[a-z0-9][a-z0-9-]{0,31}$"


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
