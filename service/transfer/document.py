"""The versioned JSON export document (format ``ranklet-export``, version 1) as schemas.

``transfer_export`` dumps a site with ``ExportDocument``; ``transfer_json`` reads one back,
the header with ``ExportHeader`` and then each thread with ``ThreadDoc``. Fields a version
does not know are ignored, so hand-annotated files still load.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from service.core.schema_fields import FullMatch, StrictInteger, UtcDateTime, display_name
from service.core.text_rules import LABEL_MAX, LINK_URL_RE, MAX_POSITION
from service.db.models import COMMENT_STATUSES, LANGS
from service.rankings.schemas import CATEGORY_KEY_RE

FORMAT = "ranklet-export"
VERSION = 1


class _Loose(Schema):
    """Fields this version does not know are ignored, so hand-annotated files still load."""

    class Meta:
        unknown = EXCLUDE


def _text(max_length: int | None = None, **kwargs: Any) -> fields.String:
    checks = [validate.Length(max=max_length)] if max_length else []
    return fields.String(allow_none=True, load_default=None, validate=checks, **kwargs)


class HistoryEntryDoc(_Loose):
    position = StrictInteger(required=True, validate=validate.Range(1, MAX_POSITION))
    observed_at = UtcDateTime(required=True)


class CategoryDoc(_Loose):
    key = fields.String(required=True, validate=FullMatch(CATEGORY_KEY_RE))
    labels = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGS)),
        values=fields.String(validate=display_name(LABEL_MAX)),  # the API's label rule
        required=True,
    )
    url = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(max=2048), FullMatch(LINK_URL_RE)],
    )
    order = StrictInteger(load_default=None, allow_none=True, validate=validate.Range(0, 10_000))
    history = fields.List(fields.Nested(HistoryEntryDoc), load_default=list)


class CommentDoc(_Loose):
    id = StrictInteger(required=True, validate=validate.Range(1, 2**31 - 1))
    parent_id = StrictInteger(
        allow_none=True, load_default=None, validate=validate.Range(1, 2**31 - 1)
    )
    # Where the comment first came from ("isso:7"), so an Isso import into the new site
    # later still recognizes it; absent for comments written in Ranklet.
    source = _text(128)
    author = _text(64)
    email = _text(254)
    website = _text(256)
    body = _text()  # the Markdown source; null for imported HTML (Disqus)
    body_html = fields.String(load_default="")
    status = fields.String(required=True, validate=validate.OneOf(COMMENT_STATUSES))
    is_author = fields.Boolean(load_default=False)
    notify = fields.Boolean(load_default=False)
    likes = StrictInteger(load_default=0, validate=validate.Range(0, 2**31 - 1))
    created_at = UtcDateTime(required=True)
    edited_at = UtcDateTime(allow_none=True, load_default=None)
    # When the author pinned it (top-level comments only; absent in older exports).
    pinned_at = UtcDateTime(allow_none=True, load_default=None)


class ThreadDoc(_Loose):
    article = fields.String(required=True, validate=validate.Length(1, 512))
    title = _text(512)
    url = _text(2048)
    comments = fields.List(fields.Nested(CommentDoc), load_default=list)


class SiteDoc(_Loose):
    slug = fields.String(required=True)
    name = _text()
    origins = fields.List(fields.String(), load_default=None)
    lang = _text()
    moderation = _text()
    webhook_url = _text()
    notify_email = _text()
    notify_pending = fields.Boolean(load_default=None, allow_none=True)
    banned_words = fields.List(fields.String(), load_default=None)


class SubjectDoc(_Loose):
    email = fields.String(required=True)


class ExportHeader(_Loose):
    """Everything in version 1 of the export file but its threads: what a reader checks
    before it writes anything (the threads are read and checked one at a time)."""

    format = fields.String(required=True, validate=validate.Equal(FORMAT))
    version = StrictInteger(required=True, validate=validate.Equal(VERSION))
    exported_at = UtcDateTime(required=True)
    # Present only in a data-subject export (``--email``): whose data this is.
    subject = fields.Nested(SubjectDoc, load_default=None)
    site = fields.Nested(SiteDoc, required=True)
    categories = fields.List(fields.Nested(CategoryDoc), load_default=list)
    # A list is checked thread by thread; what is not a list is refused here.
    threads = fields.List(fields.Raw(), load_default=list)


class ExportDocument(ExportHeader):
    """Version 1 of the export file; readers refuse other formats and versions."""

    threads = fields.List(fields.Nested(ThreadDoc), load_default=list)
