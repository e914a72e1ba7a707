"""One JSON error shape for every failure: ``{"code", "status", "message", "errors"?}``."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from service import messages
from service.extensions import db

log = logging.getLogger("ranklet")

# Messages of database failures that are about the database being unavailable, not a bug.
UNAVAILABLE_HINTS = (
    "database is locked",
    "readonly",
    "read-only",
    "disk is full",
    "database or disk is full",
    "unable to open",
    "disk i/o error",
    "connection",
    "could not connect",
    "server closed",
    "terminating",
    "timeout",
    "the database system is",
)


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location (``{"json": {...}}``); users want field -> messages."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    locations = {"json", "query", "querystring", "headers", "form", "files", "path", "view_args"}
    if messages and set(messages) <= locations:
        merged: dict[str, Any] = {}
        for value in messages.values():
            merged.update(value if isinstance(value, dict) else {"_schema": value})
        return merged
    return messages


def error_response(
    status: int, message: str, errors: Any = None, headers: dict[str, str] | None = None
) -> Response:
    # The site is looked up for its language unless the database is what failed.
    lang = messages.request_language(status < 500) if has_request_context() else "en"
    body: dict[str, Any] = {
        "code": status,
        "status": _status_name(status),
        "message": messages.translate(message, lang),
    }
    if errors:
        body["errors"] = messages.translate_errors(_flatten(errors), lang)
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _status_name(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def handle_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    message = data.get("message") or error.description or _status_name(status)
    if status == 400 and "Invalid JSON" in str(data.get("messages", "")):
        message = "The body is not valid JSON."
    errors = data.get("errors") or data.get("messages")
    if status == 400 and isinstance(errors, dict) and "json" in errors:
        errors = None
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if status == 429:
        headers.setdefault("Retry-After", str(_retry_after(error)))
    if status == 422 and not message.strip(". ").lower().startswith(("invalid", "unknown")):
        message = message if data.get("message") else "Some fields are invalid."
    return error_response(status, message, errors, headers)


def _retry_after(error: HTTPException) -> int:
    """Seconds until the limit's window resets, when the raiser knew it."""
    return int(getattr(error, "retry_after", None) or 60)


def _rollback_quietly() -> None:
    """Roll the request's session back; if the connection died, drop it instead of raising
    (a rollback on a connection the database closed fails too)."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone either way
        with contextlib.suppress(Exception):
            db.session.invalidate()


def end_session(_error: BaseException | None = None) -> None:
    """End the request's session before Flask-SQLAlchemy's own teardown does.

    A connection the database dropped after the answer was made (a read's open transaction,
    or attributes reloaded after a commit) makes the closing ROLLBACK fail; raised from a
    teardown, that would turn a finished 200 or 201 into gunicorn's HTML 500.
    """
    try:
        db.session.remove()
    except Exception as error:  # see the docstring
        log.warning(
            "database connection lost after a request: %s", str(error).splitlines()[0][:200]
        )
        with contextlib.suppress(Exception):
            db.session.invalidate()
        db.session.registry.clear()


def database_unavailable(error: Exception) -> Response:
    _rollback_quietly()
    log.warning("database unavailable: %s", str(error).splitlines()[0][:200])
    return error_response(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


def handle_operational_error(error: DBAPIError) -> Response:
    text = str(error.orig if error.orig is not None else error).lower()
    if (
        isinstance(error, OperationalError)
        or error.connection_invalidated
        or any(hint in text for hint in UNAVAILABLE_HINTS)
    ):
        return database_unavailable(error)
    return handle_unexpected(error)


def handle_unexpected(error: Exception) -> Response:
    _rollback_quietly()
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return error_response(500, InternalServerError.description or "Internal Server Error")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_operational_error)
    # No pooled connection within pool_timeout (a database that is slow or saturated): not
    # a DBAPIError, and not a bug either.
    app.register_error_handler(PoolTimeout, database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
    # Registered after db.init_app, so it runs before Flask-SQLAlchemy's teardown.
    app.teardown_appcontext(end_session)
