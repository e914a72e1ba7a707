"""A site's own clock: every time a blogger reads or types is in the site's time zone.

The API speaks UTC and refuses times without a zone (API.md: a 422), because a program
must say what it means. A person at the admin or the shell does not think in UTC: a
Japanese blogger types ``2026-01-05T09:00`` and means 9:00 in Tokyo. So the admin, the
CLI, the e-mails and the history chart show times in the site's zone (``Site.timezone``,
else the default of its language) and read zone-less times in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from service.db.models import Site
from service.sites.settings import site_timezone

__all__ = ["in_zone", "local_text", "read_time", "site_zone"]


def site_zone(site: Site) -> ZoneInfo:
    """The site's time zone (its own, or its language's default)."""
    return ZoneInfo(site_timezone(site))


def in_zone(moment: datetime, zone: tzinfo) -> datetime:
    """``moment`` on the zone's clock, or in UTC where that clock has no date for it: the
    API takes any time from year 1, and 0001-01-01T00:00Z is still year 0 west of UTC."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return moment.astimezone(UTC)


def local_text(site: Site, moment: datetime) -> str:
    """``2026-01-05 09:00 JST``: a stored (UTC) time as the blogger reads it, zone named."""
    local = in_zone(moment, site_zone(site))
    # isoformat, not %Y: strftime writes year 1 as "1" on glibc.
    day = local.date().isoformat()
    return f"{day} {local:%H:%M} " + (local.tzname() or site_timezone(site))


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
