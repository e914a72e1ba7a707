"""The comments API's schemas: a comment, an edit, a page query in; comments, pages, counts
and the embed's widget out.

Input schemas whitelist their fields (unknown fields are a 422), so a reader can never set
``status``, ``likes`` or ``is_author``; every text rule comes from ``text_rules`` through
``schema_fields``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.comments.cursors import comments_cursor_field
from service.core.schema_fields import (
    ArticleField,
    CollapsedLine,
    QueryInteger,
    StrictBoolean,
    StrictInteger,
    StrictSchema,
    UtcDateTime,
    body_text,
    email_address,
    http_url,
    plain_line,
)
from service.core.text_rules import (
    AUTHOR_MAX,
    BODY_PATTERN,
    EMAIL_MAX,
    EMAIL_PATTERN,
    LINE_PATTERN,
    MAX_ID,
    TITLE_MAX,
    URL_MAX,
    WEBSITE_MAX,
)
from service.db.models import LANGS
from service.rankings.schemas import CategoryRanking

SORTS = ("oldest", "newest", "top")
SEARCH_MAX = 200
SEARCH_WORDS = 10


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
        metadata={"minLength": 1, "pattern": BODY_PATTERN},
    )
    notify = StrictBoolean(load_default=False)
    homepage = fields.String(
        load_default="",
        validate=validate.Length(max=2048),
        metadata={"description": "Honeypot: leave empty. Humans never see this field."},
    )
    altcha = fields.String(
        allow_none=True,
        validate=validate.Length(max=4096),
        metadata={
            "description": "With the site's proof of work on: base64 of the JSON solution "
            '{"algorithm", "challenge", "number", "salt", "signature"} of a challenge from '
            "GET .../challenge."
        },
    )


class CommentPatch(StrictSchema):
    body = fields.String(
        validate=body_text,
        metadata={"minLength": 1, "pattern": BODY_PATTERN},
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
    pinned = fields.Boolean(
        required=True,
        metadata={"description": "Pinned by the author: shown first in its thread."},
    )
    deleted = fields.Boolean(required=True)
    replies = fields.List(fields.Nested(lambda: PublicComment()), required=True)


class CommentsQuery(StrictSchema):
    article = ArticleField(required=True)
    lang = fields.String(validate=validate.OneOf(LANGS))
    sort = fields.String(load_default="oldest", validate=validate.OneOf(SORTS))
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))
    cursor = comments_cursor_field()


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
    recent = QueryInteger(
        validate=validate.Range(0, MAX_ID),
        metadata={
            "description": "Also this many (1 to 50; beyond is brought into that range) of the "
            "site's latest comments (`recent`), for a page with a recent-comments box: one "
            "request for both. A page's `data-limit` typo then never breaks the thread."
        },
    )


class WidgetSite(Schema):
    name = fields.String(required=True)
    lang = fields.String(required=True)
    moderation = fields.String(required=True)
    edit_window = fields.Integer(required=True)
    challenge = fields.String(
        metadata={
            "description": "pow (absent when off): posts need a solved challenge "
            "(GET .../challenge)."
        }
    )


class Features(Schema):
    notify = fields.Boolean(required=True)


class Widget(Schema):
    site = fields.Nested(WidgetSite, required=True)
    rankings = fields.List(fields.Nested(CategoryRanking), required=True)
    comments = fields.Nested(CommentsPage, required=True)
    features = fields.Nested(Features, required=True)
    recent = fields.List(fields.Nested(lambda: RecentComment()))


class ModerationQuery(StrictSchema):
    status = fields.String(
        load_default="pending", validate=validate.OneOf(("pending", "spam", "approved", "deleted"))
    )
    q = fields.String(
        metadata={
            "description": "Words (separated by spaces) that must all be found in the text, "
            f"author, website or article; substrings match, so Japanese needs no spaces. Only "
            f"the first {SEARCH_MAX} characters and {SEARCH_WORDS} words count; control "
            "characters separate words like spaces (a search box never refuses a search).",
        },
    )
    limit = QueryInteger(load_default=50, validate=validate.Range(1, 200))
    cursor = QueryInteger(
        validate=validate.Range(1, MAX_ID),
        metadata={
            "description": "The `next_cursor` of the previous page: list comments older than it.",
        },
    )


class SpamFeature(Schema):
    feature = fields.String(required=True)
    spam_probability = fields.Float(
        required=True,
        metadata={"description": "The counts' estimate for the feature, 0 to 1 (0.5: none)."},
    )
    weight = fields.Float(
        required=True,
        metadata={
            "description": "What the linear model's weight for the feature adds to the"
            " comment's score, in logits (positive: towards spam)."
        },
    )


class PrivateComment(PublicComment):
    email = fields.String(allow_none=True, required=True)
    status = fields.String(required=True)
    article = fields.String(required=True)
    notify = fields.Boolean(required=True)
    spam_score = fields.Float(
        allow_none=True,
        metadata={"description": "The learning filter's score at posting, 0 to 1; null: none."},
    )
    spam_features = fields.List(
        fields.Nested(SpamFeature),
        metadata={"description": "The features that weighed most in the score."},
    )

    class Meta:
        exclude = ("replies",)


class ModerationPage(Schema):
    comments = fields.List(fields.Nested(PrivateComment), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class PinAction(StrictSchema):
    pinned = StrictBoolean(required=True)


class RecentQuery(StrictSchema):
    limit = QueryInteger(load_default=10, validate=validate.Range(1, 50))
    lang = fields.String(validate=validate.OneOf(LANGS))


class RecentComment(Schema):
    id = fields.Integer(required=True)
    article = fields.String(required=True)
    article_title = fields.String(allow_none=True, required=True)
    author = fields.String(required=True)
    avatar = fields.String(required=True)
    excerpt = fields.String(required=True, metadata={"maxLength": 100})
    created_at = UtcDateTime(required=True)


class RecentComments(Schema):
    comments = fields.List(fields.Nested(RecentComment), required=True)


class ModerateAction(StrictSchema):
    action = fields.String(
        required=True, validate=validate.OneOf(("approve", "spam", "delete", "restore"))
    )
