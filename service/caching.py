"""Conditional GETs: ETags from version counters, so a 304 costs an indexed lookup at most.

Sites and threads carry a ``version`` bumped in the same transaction as every change, in the
database, so every worker and host agrees at once; nothing is cached in process memory.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, current_app, request
from sqlalchemy import select, update

from service.extensions import db
from service.models import Site, Thread

# Short browser/CDN lifetimes: a new comment or position shows within seconds, and the
# revalidation that follows is a cheap 304.
THREAD_CACHE = "public, max-age=5, s-maxage=10, stale-while-revalidate=30"
RANKINGS_CACHE = "public, max-age=60, s-maxage=60, stale-while-revalidate=300"


def bump_site(site_id: int) -> None:
    db.session.execute(update(Site).where(Site.id == site_id).values(version=Site.version + 1))


def thread_version(site: Site, article: str) -> int:
    version = db.session.scalar(
        select(Thread.version).where(Thread.site_id == site.id, Thread.article == article)
    )
    return -1 if version is None else int(version)


def etag_for(*parts: Any) -> str:
    config = current_app.config
    basis = repr((parts, config["EDIT_WINDOW"], bool(config.get("SMTP_HOST"))))
    return hashlib.sha256(basis.encode()).hexdigest()[:27]


def not_modified(etag: str, cache_control: str) -> Response | None:
    """A bodiless 304 when the client already has this version, else None."""
    if etag in request.if_none_match:
        response = Response(status=304)
        decorate(response, etag, cache_control)
        return response
    return None


def decorate(response: Response, etag: str, cache_control: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response
