"""The comment rate limit: per client and site, shared by every worker (and host with Redis).

The limits are checked here rather than with a view decorator because the key includes the
site and the limit string is a setting (``RANKLET_COMMENT_RATE_LIMIT``; ``""`` turns it off).
If the shared store fails (Redis down), each process falls back to its own memory store:
limits keep applying per process instead of failing every post or none.
"""

from __future__ import annotations

import logging
import math
import time
from functools import cache

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from service.core.client import client_key
from service.core.extensions import limiter
from service.db.models import Site

log = logging.getLogger("ranklet")


class CommentRateLimited(TooManyRequests):
    """A 429 whose message says how long to wait, in the unit a reader thinks in: the
    embed shows it as it is (API.md §5), so it must read well in both languages."""

    def __init__(self, retry_after: int) -> None:
        if retry_after < 60:
            super().__init__(
                f"Too many comments in a short time; try again in {retry_after} s.",
                retry_after=retry_after,
            )
        elif retry_after < 3600:
            minutes = math.ceil(retry_after / 60)
            super().__init__(
                f"Too many comments in a short time; try again in {minutes} min.",
                retry_after=retry_after,
            )
        else:
            hours = math.ceil(retry_after / 3600)
            super().__init__(
                f"Too many comments today; try again in {hours} h.", retry_after=retry_after
            )


@cache
def _limits(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec)) if spec.strip() else ()


@cache
def _fallback() -> RateLimiter:
    return FixedWindowRateLimiter(MemoryStorage())


def _hit_all(strategy: RateLimiter, items: tuple[RateLimitItem, ...], key: str) -> int | None:
    """Count this post against every limit; seconds to wait if any is exceeded."""
    wait = 0.0
    for item in items:
        if not strategy.hit(item, key):
            reset = strategy.get_window_stats(item, key).reset_time
            wait = max(wait, reset - time.time())
    return max(1, math.ceil(wait)) if wait > 0 else None


def check_comment_rate(site: Site) -> None:
    items = _limits(current_app.config["COMMENT_RATE_LIMIT"])
    if not items:
        return
    key = f"comment/{site.id}/{client_key('ratelimit')}"
    try:
        wait = _hit_all(limiter.limiter, items, key)
    except Exception as error:
        log.warning("rate-limit store unavailable, limiting per process: %s", error)
        wait = _hit_all(_fallback(), items, key)
    if wait is not None:
        raise CommentRateLimited(wait)
