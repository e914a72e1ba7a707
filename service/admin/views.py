"""``/admin/``: the author's pages: moderation, rankings, settings, erasure, token rotation.

Server-rendered, no script. This module signs the author in and out and gathers the pages:
``pages`` (the blueprint, session, language, CSRF), ``moderation`` (the queue and the
comments per article), ``rankings`` (recording positions, the history charts) and
``settings`` (site settings, erasure, token rotation). Their texts are the catalogue's
``admin`` area (``service.i18n.texts_admin``).
"""

from __future__ import annotations

from flask import Response, g, redirect, request, session, url_for

from service.admin import moderation as admin_moderation
from service.admin import rankings as admin_rankings
from service.admin import settings as admin_settings
from service.admin.pages import ADMIN_CSP, blp, done, end_session, page, start_session
from service.core.crypto import TOKEN_RE, token_matches
from service.i18n.messages import LANGS, Texts
from service.sites.settings import get_site

__all__ = ["ADMIN_CSP", "admin_moderation", "admin_rankings", "admin_settings", "blp"]


@blp.get("/")
def index() -> Response:
    """The sign-in form, or the moderation queue when signed in."""
    if g.site is not None:
        return redirect(url_for("admin.moderation"))
    return page("admin/sign_in.html")


@blp.post("/sign-in")
def sign_in() -> Response:
    """Check the site token and start a session; the token itself is never stored."""
    slug = request.form.get("site", "").strip().lower()
    token = request.form.get("token", "").strip()
    target = get_site(slug)
    if (
        target is None
        or not TOKEN_RE.fullmatch(token)
        or not token_matches(token, target.token_hash)
    ):
        return page("admin/sign_in.html", 401, error=g.t("bad_sign_in"), slug=slug)
    lang = session.get("lang")
    session.clear()  # a fresh session (and CSRF token) for the signed-in author
    if lang in LANGS:
        session["lang"] = lang
    start_session(target)
    t = Texts("admin", lang if lang in LANGS else target.lang)
    return done(t("signed_in", name=target.name), "admin.moderation")


@blp.post("/sign-out")
def sign_out() -> Response:
    """End the session."""
    lang = session.get("lang")
    end_session()
    session.clear()
    if lang in LANGS:
        session["lang"] = lang
    return done(g.t("signed_out"), "admin.index")
