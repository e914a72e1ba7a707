"""``ranklet site``, ``ranklet token`` and ``ranklet erase``: a site's settings, its
admin token, and erasing one reader's comments and data."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from marshmallow import ValidationError

from service.cli.context import ensure_schema, fail, site_or_fail


class _SpamThreshold(click.ParamType):
    """``auto`` or a number from 0.5 to 1."""

    name = "auto|0.5..1"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from service.sites.settings import SiteError, spam_threshold_setting

        try:
            return spam_threshold_setting(value)
        except SiteError as error:
            self.fail(str(error), param, ctx)


SPAM_THRESHOLD = _SpamThreshold()


@click.group()
def site() -> None:
    """Create, list and change sites (blogs)."""


@site.command("create")
@click.argument("slug")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="An origin the blog is served from, e.g. https://blog.example.com (repeatable).",
)
@click.option("--name", help="Display name (default: the slug).")
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True)
@click.option(
    "--timezone",
    help="IANA time zone the admin shows times in, e.g. Asia/Tokyo "
    "(default: Asia/Tokyo for ja, UTC for en).",
)
@click.option(
    "--moderation",
    type=click.Choice(["none", "all"]),
    default="none",
    show_default=True,
    help="all: every reader comment waits for approval.",
)
@click.option(
    "--challenge",
    type=click.Choice(["pow", "off"]),
    default="off",
    show_default=True,
    help="pow: reader posts must carry an invisible proof of work solved by the embed "
    "(ALTCHA); off: none.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"site", "token"} as JSON only.')
@with_appcontext
def site_create(
    slug: str,
    origins: tuple[str, ...],
    name: str | None,
    lang: str,
    timezone: str | None,
    moderation: str,
    challenge: str,
    as_json: bool,
) -> None:
    """Create a site with the default categories and print its admin token once."""
    from service.sites.settings import SiteError, SiteSettings, create_site

    try:
        ensure_schema()
        created, token = create_site(
            slug,
            SiteSettings(
                name=name,
                origins=list(origins),
                lang=lang,
                moderation=moderation,
                timezone=timezone,
                challenge=challenge,
            ),
        )
    except SiteError as error:
        fail(str(error))
    if as_json:
        click.echo(json.dumps({"site": created.slug, "token": token}))
        return
    click.echo(f"Created site {created.slug!r}.")
    click.echo(f"Admin token (shown once, keep it secret): {token}")


@site.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@with_appcontext
def site_list(as_json: bool) -> None:
    """List sites with their origins, language and moderation mode."""
    ensure_schema()
    from sqlalchemy import select

    from service.core.extensions import db
    from service.db.models import Site
    from service.sites.settings import site_timezone

    sites = db.session.scalars(select(Site).order_by(Site.slug)).all()
    rows = [
        {
            "site": s.slug,
            "name": s.name,
            "origins": s.origins,
            "lang": s.lang,
            "moderation": s.moderation,
            "timezone": site_timezone(s),
        }
        for s in sites
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("No sites yet. Create one: ranklet site create SLUG --origin URL")
    for row in rows:
        click.echo(
            f"{row['site']}\t{row['name']}\t{row['lang']}\tmoderation={row['moderation']}\t"
            + " ".join(row["origins"])
        )


@site.command("update")
@click.argument("slug")
@click.option("--name")
@click.option("--origin", "origins", multiple=True, help="Replaces the origins (repeatable).")
@click.option("--lang", type=click.Choice(["ja", "en"]))
@click.option(
    "--timezone", help="IANA time zone for the admin, e.g. Asia/Tokyo ('' follows --lang)."
)
@click.option("--moderation", type=click.Choice(["none", "all"]))
@click.option("--webhook", help="URL that receives a signed POST per new comment ('' removes it).")
@click.option("--notify-email", help="Address that gets new comments by e-mail ('' removes it).")
@click.option(
    "--notify-pending/--no-notify-pending",
    default=None,
    help="Also notify about comments held for moderation.",
)
@click.option(
    "--banned-word",
    "banned_words",
    multiple=True,
    help="Store comments containing this word as spam, as readers read it: after Markdown, "
    "full-width and zero-width characters (repeatable; replaces the list).",
)
@click.option(
    "--spam-pattern",
    "spam_patterns",
    multiple=True,
    help="A regular expression whose match stores a comment as spam, e.g. 'bit\\.ly/' "
    "(repeatable; replaces the list; checked to run fast).",
)
@click.option(
    "--spam-threshold",
    type=SPAM_THRESHOLD,
    help="The learning filter holds comments scored above this: auto (the default: learned "
    "from the site's own comments, so that about 1 in 80 legitimate ones would be held; "
    "0.95 until 50 are known) or a fixed number from 0.5 to 1.",
)
@click.option(
    "--challenge",
    type=click.Choice(["pow", "off"]),
    help="pow: reader posts must carry an invisible proof of work solved by the embed "
    "(ALTCHA); off: none.",
)
@click.option(
    "--rank-events",
    type=click.Choice(["best", "all", "none"]),
    help="Rank events for the webhook and e-mail: ranking.best only (the default), "
    "also ranking.recorded for every batch, or none.",
)
@click.option(
    "--best-flag-days",
    type=click.IntRange(0, 365),
    help='Days the badge says "New best!" after a new best (0: never; default 7).',
)
@click.option(
    "--notify-line",
    metavar="TOKEN:TO",
    help="LINE Messaging API: a channel access token and the user, group or room id to push "
    "to ('' removes it). Stored encrypted, never shown again.",
)
@click.option(
    "--notify-slack",
    metavar="URL",
    help="Slack incoming webhook URL ('' removes it). Stored encrypted.",
)
@click.option(
    "--notify-discord",
    metavar="URL",
    help="Discord channel webhook URL ('' removes it). Stored encrypted.",
)
@click.option(
    "--notify-telegram",
    metavar="TOKEN:CHAT",
    help="Telegram bot token from @BotFather and the chat id to send to ('' removes it). "
    "Stored encrypted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def site_update(
    slug: str,
    name: str | None,
    origins: tuple[str, ...],
    lang: str | None,
    timezone: str | None,
    moderation: str | None,
    webhook: str | None,
    notify_email: str | None,
    notify_pending: bool | None,
    banned_words: tuple[str, ...],
    spam_patterns: tuple[str, ...],
    spam_threshold: float | str | None,
    challenge: str | None,
    rank_events: str | None,
    best_flag_days: int | None,
    notify_line: str | None,
    notify_slack: str | None,
    notify_discord: str | None,
    notify_telegram: str | None,
    as_json: bool,
) -> None:
    """Change a site's settings; a new webhook prints its signing secret once.

    Chat channels (LINE, Slack, Discord, Telegram) get a short message for new and held
    comments and new best ranks; their tokens and URLs are stored encrypted and only the
    names of the channels that are set are ever printed."""
    from service.sites.settings import SiteError, SiteSettings, new_webhook_secret, update_site

    target = site_or_fail(slug)
    settings = SiteSettings(
        name=name,
        origins=list(origins) or None,
        lang=lang,
        moderation=moderation,
        webhook_url=webhook,
        notify_email=notify_email,
        notify_pending=notify_pending,
        banned_words=list(banned_words) or None,
        spam_patterns=list(spam_patterns) or None,
        spam_threshold=spam_threshold,
        challenge=challenge,
        rank_events=rank_events,
        best_flag_days=best_flag_days,
        timezone=timezone,
        notify_line=notify_line,
        notify_slack=notify_slack,
        notify_discord=notify_discord,
        notify_telegram=notify_telegram,
    )
    try:
        update_site(target, settings)
    except SiteError as error:
        fail(str(error))
    result: dict[str, Any] = {"site": target.slug}
    if webhook:
        result["webhook_secret"] = new_webhook_secret(target)
    chat_given = (notify_line, notify_slack, notify_discord, notify_telegram)
    if any(value is not None for value in chat_given):
        from service.sites.chat_channels import configured

        result["chat"] = configured(target)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"Updated site {target.slug!r}.")
    if "webhook_secret" in result:
        click.echo(f"Webhook signing secret (shown once): {result['webhook_secret']}")
    if "chat" in result:
        click.echo("Chat channels: " + (", ".join(result["chat"]) or "none"))


@site.command("relearn-spam")
@click.argument("slug")
@with_appcontext
def site_relearn_spam(slug: str) -> None:
    """Teach the spam filter's linear half (0012) the author's past decisions, once.

    Comments marked spam, approved or restored before the upgrade are in the counts only;
    this learns them, oldest first (published comments are learned as the author's next
    moderations confirm them). Safe beside a running service; running it again learns
    nothing twice."""
    from service.spam.model import learn_past_decisions

    target = site_or_fail(slug)
    learned = learn_past_decisions(target.id)
    click.echo(f"Learned {learned} past decisions of site {target.slug!r}.")


@click.group()
def token() -> None:
    """Manage site tokens."""


@token.command("rotate")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help='Print {"site", "token"} as JSON only.')
@with_appcontext
def token_rotate(slug: str, as_json: bool) -> None:
    """Issue a new admin token; the old one stops working at once."""
    from service.sites.settings import rotate_token

    target = site_or_fail(slug)
    new = rotate_token(target)
    if as_json:
        click.echo(json.dumps({"site": target.slug, "token": new}))
        return
    click.echo(f"New admin token for {target.slug!r} (the old one no longer works): {new}")


@click.command()
@click.argument("slug")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase(slug: str, email: str, yes: bool) -> None:
    """Erase every comment and all personal data of one e-mail address on a site."""
    from service.comments.erasure import erase_email

    if not _looks_like_address(email):
        fail(
            f"{email!r} is not an e-mail address; give the address the comments were "
            "posted with, e.g. reader@example.com"
        )
    target = site_or_fail(slug)
    if not yes:
        click.confirm(
            f"Erase all comments of {email.strip()} on {target.slug!r}? This cannot be undone",
            abort=True,
        )
    erased = erase_email(target, email)
    click.echo(f"Erased {erased} comment{'s' if erased != 1 else ''} of that address.")


def _looks_like_address(text: str) -> bool:
    from marshmallow import validate

    try:
        validate.Email()(text.strip())
    except ValidationError:
        return False
    return True
