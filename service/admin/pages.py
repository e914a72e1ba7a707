"""What every admin page shares: the blueprint, the session, the language, CSRF, the page
and redirect helpers, and the secrets shown once.

Signing in with the site token keeps the site id and a keyed hash of the site's token hash
in Flask's signed session cookie; it is compared with the site on every request, so rotating
the token ends every other session at once. Every form carries a per-session CSRF token, and
every change is POST, then a redirect with a flash message.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup, escape
from sqlalchemy import delete
from werkzeug.exceptions import HTTPException

from service.core.crypto import decrypt, encrypt, keyed_hash
from service.core.extensions import db
from service.db.models import AdminSession, Site
from service.i18n.messages import LANGS, Texts, browser_language
from service.sites.settings import site_timezone

blp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SESSION_SECONDS = 12 * 3600
DEFAULT_LANG = "ja"  # before sign-in, for a browser that states no language of ours
MENU = (
    ("moderation", "admin.moderation"),
    ("articles", "admin.articles"),
    ("rankings", "admin.rankings"),
    ("settings", "admin.settings"),
    ("erase", "admin.erase"),
    ("token", "admin.token"),
)
OPEN_ENDPOINTS = frozenset({"admin.index", "admin.sign_in", "admin.sign_out"})


class AdminSessionInterface(SecureCookieSessionInterface):
    """Secure cookies whenever the browser reaches us over HTTPS, directly or via a TLS proxy
    (then ``RANKLET_PUBLIC_URL`` is https although the request to us is plain HTTP)."""

    def open_session(self, app: Flask, request: Any) -> Any:
        """Only the admin has a session: elsewhere (the API, the embed, badges) Flask gets
        none to open or save (a null session: empty, and it refuses to be written)."""
        if not request.path.startswith("/admin"):
            return None
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(
            app.config.get("SESSION_COOKIE_SECURE")
            or str(app.config.get("PUBLIC_URL", "")).startswith("https://")
            or (has_request_context() and request.is_secure)
        )


@blp.record_once
def _install_session_interface(state: BlueprintSetupState) -> None:
    state.app.session_interface = AdminSessionInterface()


# --- session, language, CSRF -----------------------------------------------------------------


def proof(token_hash: str) -> str:
    """What the cookie holds instead of the token hash itself; changes when the token does."""
    return keyed_hash("admin session", token_hash)


def _signed_in_site() -> Site | None:
    site_id, kept, since = session.get("site"), session.get("proof"), session.get("at")
    sid = session.get("sid")
    if not isinstance(site_id, int) or not isinstance(kept, str) or not isinstance(sid, str):
        return None
    if not isinstance(since, int) or time.time() - since > SESSION_SECONDS:
        forget_site()
        return None
    site = db.session.get(Site, site_id)
    if site is None or not hmac.compare_digest(kept, proof(site.token_hash)):
        forget_site()
        return None
    held = db.session.get(AdminSession, _session_key(sid))
    if held is None or held.site_id != site_id:  # signed out (or never signed in here)
        forget_site()
        return None
    return site


def _session_key(sid: str) -> str:
    return keyed_hash("admin session id", sid)


def start_session(site: Site) -> None:
    """A new server-side session for the signed-in author: the cookie holds only its id.

    Signed cookies alone cannot be ended: a copy taken before sign-out worked for 12 hours.
    The row can, and sign-out deletes it. Expired rows of the site go at each sign-in."""
    sid = secrets.token_urlsafe(32)
    cutoff = datetime.fromtimestamp(time.time() - SESSION_SECONDS, UTC)
    db.session.execute(
        delete(AdminSession).where(
            AdminSession.site_id == site.id, AdminSession.created_at < cutoff
        )
    )
    db.session.add(AdminSession(id_hash=_session_key(sid), site_id=site.id))
    db.session.commit()
    session.update(site=site.id, proof=proof(site.token_hash), at=int(time.time()), sid=sid)


def end_session() -> None:
    """Sign-out: the server forgets the session, so every copy of the cookie stops working."""
    sid = session.get("sid")
    if isinstance(sid, str):
        db.session.execute(delete(AdminSession).where(AdminSession.id_hash == _session_key(sid)))
        db.session.commit()
    forget_site()


def forget_site() -> None:
    for key in ("site", "proof", "at", "reveal", "sid"):
        session.pop(key, None)


def _language(site: Site | None) -> str:
    chosen = request.args.get("lang")
    if chosen in LANGS:
        session["lang"] = chosen
        return chosen
    remembered = session.get("lang")
    if remembered in LANGS:
        return str(remembered)
    if site is not None:
        return site.lang
    return browser_language(DEFAULT_LANG)


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.form.get("csrf", "")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def _lang_url(lang: str) -> str:
    """This page in the other language; after a POST (an error page), the start page."""
    if request.method != "GET" or request.endpoint is None:
        return url_for("admin.index", lang=lang)
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return url_for(request.endpoint, **{**args, **(request.view_args or {}), "lang": lang})


def _time_text(moment: datetime | None) -> str:
    """A stored (UTC) time as the blogger reads it: in the site's time zone, zone named."""
    if moment is None:
        return ""
    site = g.get("site")
    if site is None:
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    from service.sites.local_time import local_text

    return local_text(site, moment)


@blp.context_processor
def _template_context() -> dict[str, Any]:
    return {
        "t": g.t,
        "lang": g.lang,
        "site": g.get("site"),
        "menu": MENU,
        "csrf_token": csrf_token,
        "lang_url": _lang_url,
        "time_text": _time_text,
        "code_marks": code_marks,
        "site_timezone": site_timezone(g.site) if g.get("site") is not None else "UTC",
    }


@blp.before_request
def _guard() -> Response | None:
    had_session = "site" in session
    g.site = _signed_in_site()
    g.lang = _language(g.site)
    g.t = Texts("admin", g.lang)
    if request.method == "POST" and not _csrf_ok():
        return page("admin/error.html", 400, message=g.t("csrf_failed"))
    if g.site is None and request.endpoint not in OPEN_ENDPOINTS:
        if had_session or request.method == "POST":
            flash(g.t("session_ended"), "error")
        return redirect(url_for("admin.index"))
    return None


@blp.after_request
def _admin_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = ADMIN_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error
    if "t" not in g:  # failed before the guard ran
        g.site, g.lang = None, DEFAULT_LANG
        g.t = Texts("admin", DEFAULT_LANG)
    message = g.t("not_found") if error.code == 404 else g.t("bad_request")
    return page("admin/error.html", error.code, message=message)


def page(template: str, code: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **context), code)


def done(message: str, endpoint: str, **values: Any) -> Response:
    """The redirect half of POST/redirect/GET."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def reveal(kind: str, secret: str) -> None:
    """Keep a new secret for the next page only, encrypted, since the cookie is only signed."""
    session["reveal"] = {"kind": kind, "value": encrypt(secret)}


def revealed(kind: str) -> str | None:
    stash = session.get("reveal")
    if not isinstance(stash, dict) or stash.get("kind") != kind:
        return None
    session.pop("reveal")
    return decrypt(stash.get("value"))


def code_marks(text: str) -> Markup:
    """A text with `command` marks as HTML: the marked parts in <code>, all of it escaped."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired mark is shown as it is
        return escape(text)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )
