"""The admin's site pages: settings (a new webhook's secret shown once), erasing one
address's comments and personal data, and rotating the site token."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request, session
from sqlalchemy import func, select

from service.admin.pages import blp, done, page, proof, reveal, revealed
from service.core.crypto import decrypt, email_lookup
from service.core.extensions import db
from service.core.text_rules import CONTROL_RE, email_problem
from service.db.models import LANGS, MODERATION_MODES, RANK_EVENTS, Comment, Site
from service.sites.chat_channels import CHANNELS, configured
from service.sites.settings import (
    DEFAULT_TIMEZONES,
    SiteError,
    SiteSettings,
    new_webhook_secret,
    rotate_token,
    update_site,
)
from service.spam import model as spam_model
from service.spam.blocks import site_blocks, unblock
from service.spam.challenge import CHALLENGE_MODES


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
        spam_patterns=_lines("spam_patterns"),
        spam_threshold=request.form.get("spam_threshold") or None,
        challenge=request.form.get("challenge") or None,
        rank_events=request.form.get("rank_events") or None,
        best_flag_days=request.form.get("best_flag_days") or None,
        timezone=request.form.get("timezone", ""),
        **_chat_from_form(),
    )


def _chat_from_form() -> dict[str, str | None]:
    """A chat field left empty keeps what is set (it is never shown, so it cannot be shown
    back); its remove box clears it; a value replaces it."""
    changes: dict[str, str | None] = {}
    for channel in CHANNELS:
        name = f"notify_{channel}"
        if request.form.get(f"{name}_remove") == "on":
            changes[name] = ""
        else:
            changes[name] = request.form.get(name, "").strip() or None
    return changes


def _invalid_fields(settings: SiteSettings) -> list[str]:
    """Which fields sites.py refuses, each tried alone on a throwaway site, so the form can
    mark every one of them (update_site stops at the first)."""
    from service.sites.settings import _apply

    invalid = []
    for name, value in vars(settings).items():
        try:
            _apply(Site(), SiteSettings(**{name: value}))
        except SiteError:
            invalid.append(name)
    return invalid


def _threshold_now(site: Site) -> dict[str, Any]:
    """The threshold in force, and whether it was learned (for the hint under the field)."""
    in_force, learned = spam_model.site_threshold(site)
    return {"value": f"{in_force:.4f}", "learned": site.spam_threshold_auto and learned is not None}


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
        "spam_patterns": "\n".join(site.spam_patterns or []),
        "spam_threshold": "auto" if site.spam_threshold_auto else f"{site.spam_threshold:g}",
        "challenge": site.challenge,
        "rank_events": site.rank_events,
        "best_flag_days": site.best_flag_days,
        "timezone": site.timezone or "",
        "chat": configured(site),
    }


def _settings_page(code: int = 200, **context: Any) -> Response:
    return page(
        "admin/settings.html",
        code,
        langs=LANGS,
        modes=MODERATION_MODES,
        rank_event_modes=RANK_EVENTS,
        chat_channels=CHANNELS,
        default_timezone=DEFAULT_TIMEZONES.get(g.site.lang, "UTC"),
        challenge_modes=CHALLENGE_MODES,
        blocks=site_blocks(g.site),
        threshold_now=_threshold_now(g.site),
        **context,
    )


def _echoed_form() -> dict[str, str]:
    """The refused form, to fill in again: control characters shown as U+FFFD, never raw."""
    return {key: CONTROL_RE.sub("\ufffd", value) for key, value in request.form.items()}


@blp.get("/settings")
def settings() -> Response:
    """The site's settings; a new webhook's secret is shown here once."""
    return _settings_page(
        values=_settings_values(g.site), errors=[], webhook_secret=revealed("webhook")
    )


@blp.post("/settings")
def save_settings() -> Response:
    """Save the settings; a new webhook URL gets a new signing secret, shown once."""
    changes = _settings_from_form()
    invalid = _invalid_fields(changes)
    if invalid:
        values = _echoed_form()
        values["notify_pending"] = changes.notify_pending
        values["chat"] = configured(g.site)  # type: ignore[assignment]
        return _settings_page(422, values=values, errors=invalid, webhook_secret=None)
    previous_webhook = g.site.webhook_url
    try:
        update_site(g.site, changes)
    except SiteError:
        db.session.rollback()
        values = {**_echoed_form(), "chat": configured(g.site)}
        return _settings_page(422, values=values, errors=["_form"], webhook_secret=None)
    if g.site.webhook_url and g.site.webhook_url != previous_webhook:
        reveal("webhook", new_webhook_secret(g.site))
    return done(g.t("saved"), "admin.settings")


@blp.post("/blocks/<int(max=2147483647):block_id>/delete")
def unblock_commenter(block_id: int) -> Response:
    """Unblock one commenter: their later comments are checked like anyone's."""
    if not unblock(g.site, block_id):
        return page("admin/error.html", 404, message=g.t("not_found"))
    return done(g.t("unblocked"), "admin.settings")


# --- erasure --------------------------------------------------------------------------------


@blp.get("/erase")
def erase() -> Response:
    """Ask for the address whose comments and personal data should go."""
    return page("admin/erase.html", step="ask", email="", error=None)


@blp.post("/erase")
def erase_confirm() -> Response:
    """First show what would be erased; erase only when the author confirms."""
    address = request.form.get("email", "").strip()
    if email_problem(address):
        return page("admin/erase.html", 422, step="ask", email=address, error="invalid_email")
    if request.form.get("step") != "confirm" or request.form.get("confirm") != "yes":
        error = "must_confirm" if request.form.get("step") == "confirm" else None
        count = db.session.scalar(
            select(func.count(Comment.id)).where(
                Comment.site_id == g.site.id, Comment.email_lookup == email_lookup(address)
            )
        )
        return page(
            "admin/erase.html",
            422 if error else 200,
            step="confirm",
            email=address,
            count=count,
            error=error,
        )
    from service.comments.erasure import erase_email

    erased = erase_email(g.site, address)
    return done(g.t("erased", n=erased), "admin.erase")


# --- token ----------------------------------------------------------------------------------


@blp.get("/token")
def token() -> Response:
    """Token rotation; right after it, the new token is shown here once."""
    return page("admin/token.html", new_token=revealed("token"), error=None)


@blp.post("/token")
def rotate() -> Response:
    """Issue a new token: the old one and every other session stop working at once."""
    if request.form.get("confirm") != "yes":
        return page("admin/token.html", 422, new_token=None, error="must_confirm")
    new = rotate_token(g.site)
    session["proof"] = proof(g.site.token_hash)  # this session continues with the new token
    reveal("token", new)
    return done(g.t("rotated"), "admin.token")
