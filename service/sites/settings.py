"""Creating and changing sites; each function owns its commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from flask import current_app
from flask_smorest import abort
from sqlalchemy import bindparam, select

from service.core.crypto import encrypt, new_token, token_hash
from service.core.errors import describe
from service.core.extensions import db
from service.core.text_rules import (
    BANNED_WORD_MAX,
    SITE_NAME_MAX,
    URL_MAX,
    email_problem,
    line_problem,
    link_problem,
    name_problem,
)
from service.db.models import LANGS, MODERATION_MODES, RANK_EVENTS, Category, Site
from service.sites import chat_channels, webhook_target
from service.spam import rules as spam_rules
from service.spam.challenge import CHALLENGE_MODES

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_ORIGINS = 100
MAX_BANNED_WORDS = 1000

DEFAULT_CATEGORIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("consulting", {"ja": "コンサルタント", "en": "Consulting"}),
    ("management", {"ja": "経営", "en": "Management"}),
    ("marketing", {"ja": "マーケティング", "en": "Marketing"}),
)


class SiteError(ValueError):
    """A site command's input is invalid; the message says why."""


@dataclass
class SiteSettings:
    name: str | None = None
    origins: list[str] | None = None
    lang: str | None = None
    moderation: str | None = None
    webhook_url: str | None = None
    notify_email: str | None = None
    notify_pending: bool | None = None
    banned_words: list[str] | None = None
    rank_events: str | None = None
    best_flag_days: int | str | None = None  # a form's text is checked here too
    timezone: str | None = None
    spam_patterns: list[str] | None = None
    spam_threshold: float | str | None = None  # a form's text is checked here too
    challenge: str | None = None
    # Chat channels (``chat_channels``): "TOKEN:TO", a URL, "TOKEN:CHAT"; "" removes one.
    notify_line: str | None = None
    notify_slack: str | None = None
    notify_discord: str | None = None
    notify_telegram: str | None = None


BEST_FLAG_DAYS_MAX = 365
AUTO_THRESHOLD = "auto"  # the learning filter's threshold learned from the site's own ham


def spam_threshold_setting(value: float | str) -> float | str:
    """``AUTO_THRESHOLD`` or a fixed threshold from 0.5 to 1, from a number or the text of a
    form or the CLI; SiteError otherwise."""
    if isinstance(value, str):
        if value.strip().lower() == AUTO_THRESHOLD:
            return AUTO_THRESHOLD
        try:
            number = float(value.strip())
        except ValueError:
            number = float("nan")
    else:
        number = float(value)
    if not 0.5 <= number <= 1.0:  # NaN too
        raise SiteError(f"{value!r} is neither auto nor a number from 0.5 to 1")
    return number


_SITE_BY_SLUG = select(Site).where(Site.slug == bindparam("slug"))


def get_site(slug: str) -> Site | None:
    if not SLUG_RE.fullmatch(slug):  # never a site; and PostgreSQL refuses NUL in text
        return None
    return db.session.scalar(_SITE_BY_SLUG, {"slug": slug})


def site_language(slug: str) -> str | None:
    """The language of the site ``slug``, None when there is no such site.

    Error messages speak it: ``create_app`` hands this function to the error side, which
    knows nothing of sites itself."""
    site = get_site(slug)
    return site.lang if site is not None else None


def no_site(slug: str) -> NoReturn:
    """The 404 of every route under a site that does not exist."""
    abort(404, message=f"No site {slug!r}.")
    raise AssertionError("abort returned")  # abort always raises


def get_site_or_404(slug: str) -> Site:
    site = get_site(slug)
    if site is None:
        no_site(slug)
    return site


def normalize_origin(origin: str) -> str:
    origin = origin.strip().rstrip("/")
    if link_problem(origin, URL_MAX) or not re.fullmatch(r"https?://[^/\s?#]+", origin):
        raise SiteError(describe("origin_invalid", value=origin[:200]))
    return origin


def _field_error(field: str, problem: str | None, **params: object) -> None:
    """The same text rules as the API's schemas (service.text_rules), for the CLI and the
    admin form: a SiteError that names the field."""
    if problem is not None:
        raise SiteError(f"{field}: {describe(problem, **params)}")


def _apply(site: Site, settings: SiteSettings) -> None:
    if settings.name is not None:
        name = settings.name.strip()
        _field_error("name", name_problem(name, SITE_NAME_MAX), max_length=SITE_NAME_MAX)
        site.name = name
    if settings.origins is not None:
        if len(settings.origins) > MAX_ORIGINS:
            raise SiteError(f"at most {MAX_ORIGINS} origins")
        site.origins = [normalize_origin(o) for o in settings.origins]
    if settings.lang is not None:
        if settings.lang not in LANGS:
            raise SiteError(f"lang must be one of {', '.join(LANGS)}")
        site.lang = settings.lang
    if settings.moderation is not None:
        if settings.moderation not in MODERATION_MODES:
            raise SiteError(f"moderation must be one of {', '.join(MODERATION_MODES)}")
        site.moderation = settings.moderation
    if settings.webhook_url is not None:
        url = settings.webhook_url.strip()
        if url:
            _field_error("webhook", link_problem(url, URL_MAX), max_length=URL_MAX)
        allow_private = webhook_target.allow_private(current_app.config)
        refusal = url and webhook_target.url_refusal(url, allow_private)
        if refusal:
            raise SiteError(f"the webhook is refused: {refusal}")
        site.webhook_url = url or None
    if settings.notify_email is not None:
        address = settings.notify_email.strip()
        if address:
            _field_error("notify_email", email_problem(address))
        site.notify_email_encrypted = encrypt(address) if address else None
    if settings.notify_pending is not None:
        site.notify_pending = settings.notify_pending
    if settings.banned_words is not None:
        given = {w.strip() for w in settings.banned_words if w.strip()}
        if len(given) > MAX_BANNED_WORDS:
            raise SiteError(f"at most {MAX_BANNED_WORDS} banned words")
        for word in given:
            _field_error(
                "banned_words",
                name_problem(word, BANNED_WORD_MAX) or line_problem(word),
                max_length=BANNED_WORD_MAX,
            )
        # Stored as rules.py compares them: NFKC, case-folded (full-width = half-width),
        # without invisible characters (a word of only those says nothing, and is dropped).
        words = {spam_rules.normalize_word(w) for w in given} - {""}
        site.banned_words = sorted(words)
    _apply_spam(site, settings)
    if settings.rank_events is not None:
        if settings.rank_events not in RANK_EVENTS:
            raise SiteError(f"rank events must be one of {', '.join(RANK_EVENTS)}")
        site.rank_events = settings.rank_events
    if settings.best_flag_days is not None:
        days = settings.best_flag_days
        if isinstance(days, str):
            text = days.strip()
            days = int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else -1
        if not 0 <= days <= BEST_FLAG_DAYS_MAX:
            raise SiteError(f"best flag days must be a whole number from 0 to {BEST_FLAG_DAYS_MAX}")
        site.best_flag_days = days
    if settings.timezone is not None:
        zone = settings.timezone.strip()
        if zone and not is_timezone(zone):
            raise SiteError(f"{zone!r} is not an IANA time zone like Asia/Tokyo or UTC")
        site.timezone = zone or None
    for channel in chat_channels.CHANNELS:
        value = getattr(settings, f"notify_{channel}")
        if value is not None:
            try:
                chat_channels.set_channel(site, channel, value)
            except chat_channels.ChannelRefused as refused:
                raise SiteError(f"notify_{channel}: {refused}") from None


def _apply_spam(site: Site, settings: SiteSettings) -> None:
    """The spam guards' settings: patterns (checked to be safe), threshold, proof of work."""
    if settings.spam_patterns is not None:
        patterns = list(dict.fromkeys(p.strip() for p in settings.spam_patterns if p.strip()))
        if len(patterns) > spam_rules.MAX_PATTERNS:
            raise SiteError(f"at most {spam_rules.MAX_PATTERNS} spam patterns")
        for pattern in patterns:  # control characters (NUL) never reach the database
            _field_error("spam_patterns", line_problem(pattern))
        try:
            site.spam_patterns = [spam_rules.check_pattern(p) for p in patterns]
        except spam_rules.PatternError as error:
            raise SiteError(f"spam_patterns: {error}") from None
    if settings.spam_threshold is not None:
        threshold = spam_threshold_setting(settings.spam_threshold)
        site.spam_threshold_auto = threshold == AUTO_THRESHOLD
        if not site.spam_threshold_auto:
            site.spam_threshold = float(threshold)
    if settings.challenge is not None:
        if settings.challenge not in CHALLENGE_MODES:
            raise SiteError(f"challenge must be one of {', '.join(CHALLENGE_MODES)}")
        site.challenge = settings.challenge


# The admin's times when a site has no time zone of its own: where its language is read.
DEFAULT_TIMEZONES = {"ja": "Asia/Tokyo", "en": "UTC"}


def is_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    if len(name) > 64 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", name):
        return False  # also keeps ZoneInfo from reading paths such as ../../etc/passwd
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def site_timezone(site: Site) -> str:
    """The site's own time zone, or the default of its language."""
    return site.timezone or DEFAULT_TIMEZONES.get(site.lang, "UTC")


def create_site(slug: str, settings: SiteSettings) -> tuple[Site, str]:
    """Create a site with the default categories; returns it with its token (shown once)."""
    if not SLUG_RE.fullmatch(slug):
        raise SiteError(
            f"{slug!r} cannot be a slug: use up to 63 lower-case letters, digits and "
            "hyphens, starting with a letter or digit (e.g. myblog)"
        )
    if get_site(slug) is not None:
        raise SiteError(f"a site {slug!r} exists already")
    token = new_token()
    site = Site(slug=slug, name=settings.name or slug, token_hash=token_hash(token), origins=[])
    _apply(site, settings)
    for order, (key, labels) in enumerate(DEFAULT_CATEGORIES):
        site.categories.append(Category(key=key, labels=labels, order=order))
    db.session.add(site)
    db.session.commit()
    return site, token


def update_site(site: Site, settings: SiteSettings) -> Site:
    _apply(site, settings)
    site.version = (site.version or 0) + 1
    db.session.commit()
    return site


def rotate_token(site: Site) -> str:
    """A new token; the old one stops working with this commit."""
    token = new_token()
    site.token_hash = token_hash(token)
    db.session.commit()
    return token


def new_webhook_secret(site: Site) -> str:
    secret = new_token("whsec_")
    site.webhook_secret_encrypted = encrypt(secret)
    db.session.commit()
    return secret
