"""Who may do what: site tokens for admin calls, origins for browser writes."""

from __future__ import annotations

from flask import request
from flask_smorest import abort
from sqlalchemy import select

from service.core.crypto import TOKEN_RE, token_hash, token_matches
from service.core.extensions import db
from service.db.models import Site


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not TOKEN_RE.match(token.strip()):
        return None
    return token.strip()


def is_admin(site: Site) -> bool:
    """True when the request carries this site's token; never raises."""
    token = bearer_token()
    return token is not None and token_matches(token, site.token_hash)


def require_admin(site: Site) -> None:
    """401 for a missing, malformed or unknown token; 403 for another site's valid token."""
    token = bearer_token()
    if token is None:
        abort(401, message="A site token is required: Authorization: Bearer <token>.")
    if token_matches(token, site.token_hash):
        return
    other = db.session.scalar(select(Site.id).where(Site.token_hash == token_hash(token)))
    if other is not None:
        abort(403, message="This token belongs to another site.")
    abort(401, message="The token is not valid.")


def origin_allowed(site: Site) -> bool:
    """Browser writes must come from one of the site's origins; API clients send no Origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in site.origins or []}


def require_origin(site: Site) -> None:
    if not origin_allowed(site):
        abort(403, message="This origin may not write to this site.")
