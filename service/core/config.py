"""Defaults only. ``RANKLET_*`` environment variables override them (see ``create_app``)."""

from __future__ import annotations

# Public names of the settings, as documented in the README (without the RANKLET_ prefix).
DEFAULTS: dict[str, object] = {
    "DATABASE_URL": None,  # None: a SQLite file in the instance folder
    "SECRET_KEY": None,  # None: generated once into the instance folder
    "DATA_KEY": None,  # None: derived from the secret key
    "RATELIMIT_STORAGE_URI": None,  # None: a SQLite store shared by the workers of one host
    "COMMENT_RATE_LIMIT": "5/minute;50/day",
    "TRUSTED_PROXIES": 0,
    "WEBHOOK_ALLOW_PRIVATE": False,  # webhooks to non-public addresses (service.webhook_target)
    "EDIT_WINDOW": 900,
    "PUBLIC_URL": None,  # None: http://127.0.0.1:8000, or what `serve` listens on
    "SMTP_HOST": None,
    "SMTP_PORT": None,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_FROM": None,
    "SMTP_TLS": "none",
    "NOTIFY_WORKER": True,  # a sender thread in each server process delivers the outbox
    # Flask and extension settings that are not meant to be changed by users.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "JSON_SORT_KEYS": False,
    "API_TITLE": "Ranklet",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "ranklet_admin",
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "RATELIMIT_HEADERS_ENABLED": False,
    "COMPRESS_MIMETYPES": [
        "text/javascript",
        "application/json",
        "image/svg+xml",
        "application/atom+xml",
        "text/html",
        "text/css",
    ],
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_MIN_SIZE": 500,
}
