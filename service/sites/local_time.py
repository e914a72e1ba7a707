"""A site's own clock: every time a blogger reads or types is in the site's time zone.

The API speaks UTC and refuses times without a zone (API.md: a 422), because a program
must say what it means. A person at the admin or the shell does not think in UTC: a
Japanese blogger types ``2026-01-05T09:00`` and means 9:00 in Tokyo. So the admin, the
CLI, the e-mails and the history chart show times in the site's zone (``Site.timezone``,
else the default of its language) and read zone-less times in it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from service.db.models import Site
from service.sites.settings import site_timezone

__all__ = ["local_text", "read_time", "site_zone"]


def site_zone(site: Site) -> ZoneInfo:
    """The site's time zone (its own, or its language's default)."""
    return ZoneInfo(site_timezone(site))


def local_text(site: Site, moment: datetime) -> str:
    """``2026-01-05 09:00 JST``: a stored (UTC) time as the blogger reads it, zone named."""
    local = moment.astimezone(site_zone(site))
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or site_timezone(site))


def read_time(site: Site, text: str) -> datetime | None:
    """An ISO 8601 time as typed; one without a zone is in the site's zone. None when the
    text is not a time (the caller words the refusal)."""
    cleaned = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=site_zone(site))
    return parsed
