"""``/admin/``: the author's pages: moderation, rankings, settings, erasure, token rotation.

Server-rendered, no script. Signing in with the site token keeps the site id and a keyed hash
of the site's token hash in Flask's signed session cookie; it is compared with the site on
every request, so rotating the token ends every other session at once. Every form carries a
per-session CSRF token, and every change is POST, then a redirect with a flash message.
"""

from __future__ import annotations

import hmac
import secrets
import time
import unicodedata
from datetime import datetime
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
from marshmallow import ValidationError
from sqlalchemy import exists, func, or_, select
from werkzeug.exceptions import HTTPException

from service import commenting, ranking
from service.admin_text import WORDS
from service.crypto import TOKEN_RE, decrypt, email_lookup, encrypt, keyed_hash, token_matches
from service.db_types import utcnow
from service.extensions import db
from service.models import LANGS, MODERATION_MODES, RANK_EVENTS, Comment, Site, Thread
from service.schemas import RecordPositions
from service.sites import (
    DEFAULT_TIMEZONES,
    SiteError,
    SiteSettings,
    get_site,
    new_webhook_secret,
    rotate_token,
    update_site,
)
from service.text_rules import CONTROL_RE, MAX_ID, MAX_POSITION, ascii_int, email_problem

blp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SESSION_SECONDS = 12 * 3600
PAGE_SIZE = 50
THREAD_LIMIT = 500
STATUSES = ("pending", "spam", "approved", "deleted")
ACTIONS_FOR = {
    "pending": ("approve", "spam", "delete"),
    "approved": ("spam", "delete"),
    "spam": ("approve", "delete"),
    "deleted": ("restore",),
}
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


def _proof(token_hash: str) -> str:
    """What the cookie holds instead of the token hash itself; changes when the token does."""
    return keyed_hash("admin session", token_hash)


def _signed_in_site() -> Site | None:
    site_id, proof, since = session.get("site"), session.get("proof"), session.get("at")
    if not isinstance(site_id, int) or not isinstance(proof, str):
        return None
    if not isinstance(since, int) or time.time() - since > SESSION_SECONDS:
        _forget_site()
        return None
    site = db.session.get(Site, site_id)
    if site is None or not hmac.compare_digest(proof, _proof(site.token_hash)):
        _forget_site()
        return None
    return site


def _forget_site() -> None:
    for key in ("site", "proof", "at", "reveal"):
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
    return request.accept_languages.best_match(LANGS, default="ja") or "ja"


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
    from zoneinfo import ZoneInfo

    from service.sites import site_timezone

    local = moment.astimezone(ZoneInfo(site_timezone(site)))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or site_timezone(site))


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
    }


@blp.before_request
def _guard() -> Response | None:
    had_session = "site" in session
    g.site = _signed_in_site()
    g.lang = _language(g.site)
    g.t = WORDS[g.lang]
    if request.method == "POST" and not _csrf_ok():
        return _page("admin/error.html", 400, message=g.t["csrf_failed"])
    if g.site is None and request.endpoint not in OPEN_ENDPOINTS:
        if had_session or request.method == "POST":
            flash(g.t["session_ended"], "error")
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
        g.site, g.lang = None, "ja"
        g.t = WORDS["ja"]
    message = g.t["not_found"] if error.code == 404 else g.t["bad_request"]
    return _page("admin/error.html", error.code, message=message)


def _page(template: str, code: int = 200, **context: Any) -> Response:
    return make_response(render_template(template, **context), code)


def _done(message: str, endpoint: str, **values: Any) -> Response:
    """The redirect half of POST/redirect/GET."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def _reveal(kind: str, secret: str) -> None:
    """Keep a new secret for the next page only, encrypted, since the cookie is only signed."""
    session["reveal"] = {"kind": kind, "value": encrypt(secret)}


def _revealed(kind: str) -> str | None:
    stash = session.get("reveal")
    if not isinstance(stash, dict) or stash.get("kind") != kind:
        return None
    session.pop("reveal")
    return decrypt(stash.get("value"))


# --- signing in and out ---------------------------------------------------------------------


@blp.get("/")
def index() -> Response:
    """The sign-in form, or the moderation queue when signed in."""
    if g.site is not None:
        return redirect(url_for("admin.moderation"))
    return _page("admin/sign_in.html")


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
        return _page("admin/sign_in.html", 401, error=g.t["bad_sign_in"], slug=slug)
    lang = session.get("lang")
    session.clear()  # a fresh session (and CSRF token) for the signed-in author
    if lang in LANGS:
        session["lang"] = lang
    session.update(site=target.id, proof=_proof(target.token_hash), at=int(time.time()))
    words = WORDS[lang if lang in LANGS else target.lang]
    return _done(words["signed_in"].format(name=target.name), "admin.moderation")


@blp.post("/sign-out")
def sign_out() -> Response:
    """End the session."""
    lang = session.get("lang")
    session.clear()
    if lang in LANGS:
        session["lang"] = lang
    return _done(g.t["signed_out"], "admin.index")


# --- moderation -----------------------------------------------------------------------------


def _status_counts(site: Site) -> dict[str, int]:
    rows = db.session.execute(
        select(Comment.status, func.count())
        .where(Comment.site_id == site.id)
        .group_by(Comment.status)
    ).all()
    return {status: int(count) for status, count in rows}


def _threads_by_article(site: Site, articles: set[str]) -> dict[str, Thread]:
    if not articles:
        return {}
    found = db.session.scalars(
        select(Thread).where(Thread.site_id == site.id, Thread.article.in_(articles))
    )
    return {thread.article: thread for thread in found}


@blp.get("/moderation")
def moderation() -> Response:
    """The moderation queue: pending first, then tabs for spam, approved and deleted."""
    status = request.args.get("status", "pending")
    if status not in STATUSES:
        status = "pending"
    before = ascii_int(request.args.get("cursor", ""), 1, MAX_ID)  # else the first page
    items, next_cursor = commenting.moderation_page(g.site, status, PAGE_SIZE, before)
    return _page(
        "admin/moderation.html",
        status=status,
        statuses=STATUSES,
        counts=_status_counts(g.site),
        comments=items,
        actions=ACTIONS_FOR[status],
        threads=_threads_by_article(g.site, {item["article"] for item in items}),
        next_cursor=next_cursor,
    )


@blp.post("/moderation")
def moderate() -> Response:
    """Approve, mark as spam, delete or restore one comment or all the selected ones."""
    one = request.form.get("one", "")
    if one:
        action, _, raw_id = one.partition(":")
        raw_ids = [raw_id]
    else:
        action = request.form.get("action", "")
        raw_ids = request.form.getlist("ids")
    if action not in commenting.MODERATION_STATUS:
        return _page("admin/error.html", 400, message=g.t["bad_request"])
    ids = {number for raw in raw_ids if (number := ascii_int(raw, 1, MAX_ID)) is not None}
    back = _moderation_return()
    if not ids:
        flash(g.t["nothing_selected"], "error")
        return redirect(back)
    comments = db.session.scalars(
        select(Comment).where(Comment.site_id == g.site.id, Comment.id.in_(ids))
    ).all()
    try:
        commenting.moderate_many(comments, action)
    except commenting.ErasedComment:
        flash(g.t["erased_cannot_restore"], "error")
        return redirect(back)
    words = g.t
    flash(words["moderated"].format(n=len(comments), action=words[f"done_{action}"]), "success")
    return redirect(back)


def _moderation_return() -> str:
    """Back to the tab or the article page the form was on; never anywhere else."""
    thread = ascii_int(request.form.get("thread", ""), 1, MAX_ID)
    if thread is not None:
        return url_for("admin.article", thread_id=thread)
    status = request.form.get("status", "pending")
    return url_for("admin.moderation", status=status if status in STATUSES else "pending")


# --- comments per article -------------------------------------------------------------------


def article_url(site: Site, thread: Thread) -> str | None:
    """Where the article is read: the URL its first commenter's page sent, else (a thread
    made by an import, the demo seed or an API client that sent no URL) the site's first
    origin joined with the article key, when that key is a path as the embed makes it."""
    if thread.url:
        return thread.url
    if site.origins and thread.article.startswith("/") and not thread.article.startswith("//"):
        return site.origins[0].rstrip("/") + thread.article
    return None


@blp.get("/articles")
def articles() -> Response:
    """Every thread that has a comment to show or to moderate, with its approved and
    pending counts, newest first."""
    number = ascii_int(request.args.get("page", "1"), 1, 99_999) or 1
    has_pending = exists().where(Comment.thread_id == Thread.id, Comment.status == "pending")
    threads = db.session.scalars(
        select(Thread)
        .where(Thread.site_id == g.site.id, or_(Thread.approved_count > 0, has_pending))
        .order_by(Thread.created_at.desc(), Thread.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    more = len(threads) > PAGE_SIZE
    threads = threads[:PAGE_SIZE]
    pending = dict(
        db.session.execute(
            select(Comment.thread_id, func.count())
            .where(Comment.thread_id.in_([t.id for t in threads]), Comment.status == "pending")
            .group_by(Comment.thread_id)
        ).all()
    )
    return _page(
        "admin/articles.html",
        threads=threads,
        urls={thread.id: article_url(g.site, thread) for thread in threads},
        pending=pending,
        page=number,
        more=more,
    )


@blp.get("/articles/<int(max=2147483647):thread_id>")
def article(thread_id: int) -> Response:
    """All comments of one article, whatever their status, oldest first."""
    thread = db.session.get(Thread, thread_id)
    if thread is None or thread.site_id != g.site.id:
        return _page("admin/error.html", 404, message=g.t["not_found"])
    comments = db.session.scalars(
        select(Comment)
        .where(Comment.thread_id == thread.id)
        .order_by(Comment.created_at, Comment.id)
        .limit(THREAD_LIMIT)
    ).all()
    items = [commenting.private(c, g.site.lang, thread.article) for c in comments]
    return _page(
        "admin/article.html",
        thread=thread,
        url=article_url(g.site, thread),
        comments=items,
        actions_for=ACTIONS_FOR,
    )


# --- rankings -------------------------------------------------------------------------------


def _standing_rows(site: Site, lang: str) -> list[dict[str, Any]]:
    return [
        {
            "key": s.category.key,
            "label": s.category.label(lang),
            "current": s.current,
            "best": s.best,
            "new_best": _flagged(ranking.new_best_until(site, s.best)),
        }
        for s in ranking.standings(site)
    ]


def _flagged(until: datetime | None) -> bool:
    return until is not None and utcnow() < until


def _rankings_page(code: int = 200, **context: Any) -> Response:
    return _page(
        "admin/rankings.html",
        code,
        rows=_standing_rows(g.site, g.lang),
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        **context,
    )


@blp.get("/rankings")
def rankings() -> Response:
    """One form for every category's position, and each category's history chart."""
    return _rankings_page()


@blp.post("/rankings")
def record() -> Response:
    """Record the filled-in positions in one transaction; empty fields are skipped."""
    values = {
        c.key: unicodedata.normalize("NFKC", request.form.get(f"position-{c.key}", "")).strip()
        for c in g.site.categories
    }
    observed_at = request.form.get("observed_at", "").strip()
    positions: dict[str, Any] = {}
    for key, value in values.items():
        if value:  # anything but a position stays a string, which the schema refuses
            number = ascii_int(value, 1, MAX_POSITION)
            positions[key] = value if number is None else number
    body: dict[str, Any] = {"positions": positions}
    if observed_at:
        body["observed_at"] = observed_at
    errors: dict[str, str] = {}
    try:
        loaded = RecordPositions().load(body)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        problems = messages.get("positions", {})
        if isinstance(problems, dict):
            errors.update({key: g.t["position_invalid"] for key in problems})
        else:
            errors["_form"] = g.t["nothing_to_record"]
        if "observed_at" in messages:
            errors["observed_at"] = g.t["observed_at_invalid"]
        values["observed_at"] = observed_at
        return _rankings_page(422, values=values, errors=errors)
    ranking.record_positions(g.site, loaded["positions"], loaded.get("observed_at"))
    return _done(g.t["recorded"].format(n=len(loaded["positions"])), "admin.rankings")


# --- settings -------------------------------------------------------------------------------


def _lines(name: str) -> list[str]:
    return [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]


def _settings_from_form() -> SiteSettings:
    return SiteSettings(
        name=request.form.get("name", ""),
        origins=_lines("origins"),
        lang=request.form.get("lang", ""),
        moderation=request.form.get("moderation", ""),
        webhook_url=request.form.get("webhook_url", ""),
        notify_email=request.form.get("notify_email", ""),
        notify_pending=request.form.get("notify_pending") == "on",
        banned_words=_lines("banned_words"),
        rank_events=request.form.get("rank_events") or None,
        best_flag_days=request.form.get("best_flag_days") or None,
        timezone=request.form.get("timezone", ""),
    )


def _invalid_fields(settings: SiteSettings) -> list[str]:
    """Which fields sites.py refuses, each tried alone on a throwaway site, so the form can
    mark every one of them (update_site stops at the first)."""
    from service.sites import _apply

    invalid = []
    for name, value in vars(settings).items():
        try:
            _apply(Site(), SiteSettings(**{name: value}))
        except SiteError:
            invalid.append(name)
    return invalid


def _settings_values(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "origins": "\n".join(site.origins or []),
        "lang": site.lang,
        "moderation": site.moderation,
        "webhook_url": site.webhook_url or "",
        "notify_email": decrypt(site.notify_email_encrypted) or "",
        "notify_pending": site.notify_pending,
        "banned_words": "\n".join(site.banned_words or []),
        "rank_events": site.rank_events,
        "best_flag_days": site.best_flag_days,
        "timezone": site.timezone or "",
    }


def _settings_page(code: int = 200, **context: Any) -> Response:
    return _page(
        "admin/settings.html",
        code,
        langs=LANGS,
        modes=MODERATION_MODES,
        rank_event_modes=RANK_EVENTS,
        default_timezone=DEFAULT_TIMEZONES.get(g.site.lang, "UTC"),
        **context,
    )


def _echoed_form() -> dict[str, str]:
    """The refused form, to fill in again: control characters shown as U+FFFD, never raw."""
    return {key: CONTROL_RE.sub("\ufffd", value) for key, value in request.form.items()}


@blp.get("/settings")
def settings() -> Response:
    """The site's settings; a new webhook's secret is shown here once."""
    return _settings_page(
        values=_settings_values(g.site), errors=[], webhook_secret=_revealed("webhook")
    )


@blp.post("/settings")
def save_settings() -> Response:
    """Save the settings; a new webhook URL gets a new signing secret, shown once."""
    changes = _settings_from_form()
    invalid = _invalid_fields(changes)
    if invalid:
        values = _echoed_form()
        values["notify_pending"] = changes.notify_pending
        return _settings_page(422, values=values, errors=invalid, webhook_secret=None)
    previous_webhook = g.site.webhook_url
    try:
        update_site(g.site, changes)
    except SiteError:
        db.session.rollback()
        return _settings_page(422, values=_echoed_form(), errors=["_form"], webhook_secret=None)
    if g.site.webhook_url and g.site.webhook_url != previous_webhook:
        _reveal("webhook", new_webhook_secret(g.site))
    return _done(g.t["saved"], "admin.settings")


# --- erasure --------------------------------------------------------------------------------


@blp.get("/erase")
def erase() -> Response:
    """Ask for the address whose comments and personal data should go."""
    return _page("admin/erase.html", step="ask", email="", error=None)


@blp.post("/erase")
def erase_confirm() -> Response:
    """First show what would be erased; erase only when the author confirms."""
    address = request.form.get("email", "").strip()
    if email_problem(address):
        return _page("admin/erase.html", 422, step="ask", email=address, error="invalid_email")
    if request.form.get("step") != "confirm" or request.form.get("confirm") != "yes":
        error = "must_confirm" if request.form.get("step") == "confirm" else None
        count = db.session.scalar(
            select(func.count(Comment.id)).where(
                Comment.site_id == g.site.id, Comment.email_lookup == email_lookup(address)
            )
        )
        return _page(
            "admin/erase.html",
            422 if error else 200,
            step="confirm",
            email=address,
            count=count,
            error=error,
        )
    from service.erasure import erase_email

    erased = erase_email(g.site, address)
    return _done(g.t["erased"].format(n=erased), "admin.erase")


# --- token ----------------------------------------------------------------------------------


@blp.get("/token")
def token() -> Response:
    """Token rotation; right after it, the new token is shown here once."""
    return _page("admin/token.html", new_token=_revealed("token"), error=None)


@blp.post("/token")
def rotate() -> Response:
    """Issue a new token: the old one and every other session stop working at once."""
    if request.form.get("confirm") != "yes":
        return _page("admin/token.html", 422, new_token=None, error="must_confirm")
    new = rotate_token(g.site)
    session["proof"] = _proof(g.site.token_hash)  # this session continues with the new token
    _reveal("token", new)
    return _done(g.t["rotated"], "admin.token")
