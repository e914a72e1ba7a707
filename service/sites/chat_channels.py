"""A site's chat channels: LINE (Messaging API push), Slack and Discord (incoming webhooks)
and Telegram (a bot), where the author is told of new comments and new best ranks.

Every value is a secret: a LINE channel access token, a Telegram bot token, and Slack and
Discord webhook URLs, which are their own credentials. So all of them live in one JSON
object encrypted with the data key (``sites.chat_encrypted``), are checked when set, and are
never shown again: the admin and the CLI only say which channels are set.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app

from service.core.crypto import decrypt, encrypt
from service.core.text_rules import URL_MAX, link_problem
from service.db.models import Site
from service.sites import webhook_target

CHANNELS = ("line", "slack", "discord", "telegram")

# LINE: a channel access token (base64-like) and a user (U), group (C) or room (R) id.
LINE_TOKEN = re.compile(r"[A-Za-z0-9+/=._-]{10,1000}")
LINE_TO = re.compile(r"[UCR][0-9a-f]{32}")
# Telegram: "123456789:AA..." from @BotFather, and a chat id or a public @channel name.
TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}")
TELEGRAM_CHAT = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}")


class ChannelRefused(ValueError):
    """A channel's value cannot be used; the message says why (never echoing the secret)."""


def _pair(value: str, token: re.Pattern[str], target: re.Pattern[str], what: str) -> list[str]:
    secret, _, to = value.rpartition(":")
    if not token.fullmatch(secret) or not target.fullmatch(to):
        raise ChannelRefused(what)
    return [secret, to]


def parse(channel: str, value: str) -> dict[str, str]:
    """The stored form of one channel's setting, or ChannelRefused."""
    value = value.strip()
    if channel == "line":
        token, to = _pair(
            value,
            LINE_TOKEN,
            LINE_TO,
            "LINE needs CHANNEL_ACCESS_TOKEN:TO, TO being a user (U…), group (C…) or room "
            "(R…) id of 33 characters",
        )
        return {"token": token, "to": to}
    if channel == "telegram":
        token, chat = _pair(
            value,
            TELEGRAM_TOKEN,
            TELEGRAM_CHAT,
            "Telegram needs BOT_TOKEN:CHAT_ID, e.g. 123456789:AAH…:-1001234567890",
        )
        return {"token": token, "chat": chat}
    if channel in ("slack", "discord"):
        if link_problem(value, URL_MAX):
            raise ChannelRefused(f"{channel.title()} needs the incoming webhook's https URL")
        allow_private = webhook_target.allow_private(current_app.config)
        refusal = webhook_target.url_refusal(value, allow_private)
        if refusal:
            raise ChannelRefused(f"the {channel.title()} webhook is refused: {refusal}")
        return {"url": value}
    raise ChannelRefused(f"no chat channel {channel!r}")


def load(site: Site) -> dict[str, dict[str, str]]:
    """The site's channels, decrypted (for the sender only)."""
    raw = decrypt(site.chat_encrypted)
    if not raw:
        return {}
    found: Any = json.loads(raw)
    return {name: found[name] for name in CHANNELS if isinstance(found.get(name), dict)}


def configured(site: Site) -> list[str]:
    """Which channels are set, in a fixed order: all that may be shown of them."""
    return list(load(site)) if site.chat_encrypted else []


def set_channel(site: Site, channel: str, value: str) -> None:
    """Set (or with ``""`` remove) one channel; the others stay as they are."""
    channels = load(site)
    if value.strip():
        channels[channel] = parse(channel, value)
    else:
        channels.pop(channel, None)
    site.chat_encrypted = encrypt(json.dumps(channels)) if channels else None
