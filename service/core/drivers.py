"""Optional database and rate-limit drivers: a missing one is named before anything starts.

PostgreSQL (psycopg) and Redis are extras (``pip install 'ranklet[postgres]'``). A plain
``pip install .`` with ``RANKLET_DATABASE_URL=postgresql+psycopg://...`` would otherwise die
deep inside SQLAlchemy with ``ModuleNotFoundError``; this says in one line which extra
installs what the configuration asks for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

__all__ = ["MissingDriverError", "missing_driver"]

# URL scheme prefix -> (importable module, the extra that installs it, what it is for)
_DRIVERS: tuple[tuple[str, str, str, str], ...] = (
    ("postgresql", "psycopg", "postgres", "PostgreSQL"),
    ("redis", "redis", "redis", "Redis"),
    ("rediss", "redis", "redis", "Redis"),
)


class MissingDriverError(RuntimeError):
    """The configuration names a database or store whose Python driver is not installed."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-removed package
        return False


def _needed(name: str, url: str) -> str | None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    base, _, driver = scheme.partition("+")
    for prefix, module, extra, what in _DRIVERS:
        if base != prefix or (driver and driver != module):
            continue
        if not _installed(module):
            return (
                f"RANKLET_{name} asks for {what}, but its driver ({module}) is not installed: "
                f"run pip install 'ranklet[{extra}]'"
            )
    return None


def missing_driver(config: Mapping[str, object]) -> str | None:
    """The one-line message for the first missing driver the settings need, else None.

    ``config`` holds the settings without the ``RANKLET_`` prefix (the app's config, or
    the environment read with the prefix removed).
    """
    for name in ("DATABASE_URL", "RATELIMIT_STORAGE_URI"):
        url = config.get(name)
        if url:
            message = _needed(name, str(url))
            if message:
                return message
    return None
