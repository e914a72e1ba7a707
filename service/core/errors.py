"""One JSON error shape for every failure: ``{"code", "status", "message", "errors"?}``."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import secrets
import traceback
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response, g, has_request_context, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.core.extensions import db
from service.i18n import messages

log = logging.getLogger("ranklet")

REQUEST_ID_HEADER = "X-Request-Id"
# A client's or proxy's id is echoed only if it is a short plain token: it goes into a
# header and a log line, where anything else could forge or split them.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def describe(key: str, /, **params: Any) -> str:
    """The English message of a refused input (catalogue area ``error``), filled in: it is
    raised in English and translated once, by ``error_response``."""
    return messages.text(f"error.{key}", "en", **params)


class _RequestIds:
    """New request ids: a random prefix per process and a counter, 32 hex digits, unique
    across processes and hosts. Not a secret, so no system call per request: reading the
    kernel's random source gives the GIL up, and on a busy worker each of those waits
    behind the other threads (issue 20; ``docs/scaling.md``)."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._counter = itertools.count()

    def new(self) -> str:
        if self._pid != os.getpid():  # a forked worker must not repeat its parent's ids
            self._pid, self._prefix = os.getpid(), secrets.token_hex(8)
            self._counter = itertools.count()
        return f"{self._prefix}{next(self._counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_request_ids = _RequestIds()


def sane_request_id(given: str | None) -> str:
    """``given`` (a client's or proxy's ``X-Request-Id``) if it is a sane token, else a new
    id. Also used outside Flask: by the hot-read middleware and the worker's own errors."""
    return given if given and REQUEST_ID_RE.fullmatch(given) else _request_ids.new()


def request_id() -> str:
    """This request's id: the client's ``X-Request-Id`` if it is a sane token, else a new one."""
    if not has_request_context():
        return sane_request_id(None)
    known = g.get("request_id")
    if known is None:
        known = g.request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER))
    return str(known)


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


def _without_dict_parts(errors: Any) -> Any:
    """marshmallow words a ``Dict`` field's errors per entry as ``{"key": [...]}`` or
    ``{"value": [...]}``: its own words, not the API's. The entry's messages are given
    under the entry's name instead (``positions.consulting: [...]``)."""
    if not isinstance(errors, dict):
        return errors
    if (
        errors
        and set(errors) <= {"key", "value"}
        and all(isinstance(v, list) for v in errors.values())
    ):
        return [message for v in errors.values() for message in v]
    return {name: _without_dict_parts(value) for name, value in errors.items()}


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location (``{"json": {...}}``); users want field -> messages."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    locations = {"json", "query", "querystring", "headers", "form", "files", "path", "view_args"}
    if messages and set(messages) <= locations:
        merged: dict[str, Any] = {}
        for value in messages.values():
            merged.update(value if isinstance(value, dict) else {"_schema": value})
        messages = merged
    return {name: _without_dict_parts(value) for name, value in messages.items()}


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
    if has_request_context():  # every error carries the id, even one made outside a view
        response.headers[REQUEST_ID_HEADER] = request_id()
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
        message = describe("json_invalid")
    errors = data.get("errors") or data.get("messages")
    if status == 400 and isinstance(errors, dict) and "json" in errors:
        errors = None
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if status == 429:
        headers.setdefault("Retry-After", str(_retry_after(error)))
    if status == 422 and not message.strip(". ").lower().startswith(("invalid", "unknown")):
        message = message if data.get("message") else describe("invalid_fields")
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
    return error_response(503, describe("database_down"), headers={"Retry-After": "5"})


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
    log_unexpected(error)
    return error_response(500, describe("internal"))


def log_unexpected(error: BaseException) -> None:
    """One structured line (JSON) with the request id and the traceback, for the server's
    log only: the answer carries the id, never the traceback."""
    line = {
        "event": "unhandled_error",
        "request_id": request_id(),
        "method": request.method if has_request_context() else None,
        "path": request.path if has_request_context() else None,
        "error": type(error).__name__,
        "traceback": "".join(traceback.format_exception(error)),
    }
    log.error("%s", json.dumps(line, ensure_ascii=True))


# The errors any operation can answer, and those only writes or admin calls can.
_ANY_ERRORS = {
    400: "Malformed request: the body is not valid JSON, or nests too deep",
    404: "Unknown site, category, comment or entry",
    405: "Method not allowed (with Allow)",
    422: "Invalid fields; `errors` maps each field to its messages",
    500: "Unexpected failure; the answer carries X-Request-Id, the log has the details",
    503: "Database unavailable (with Retry-After)",
}
_WRITE_ERRORS = {
    401: "No or bad site token",
    403: "Forbidden: origin not allowed, another site's token, or the edit window closed",
    413: "Body over 64 KiB",
    415: "The body is not JSON",
    429: "Rate limited (with Retry-After)",
}
_ADMIN_READS = ("/moderation", "/spam-rules", "/blocks")  # GETs that need the token


REQUEST_ID_DOC = {
    "description": (
        "This request's id: the client's own `X-Request-Id` if it sent a plain token "
        "(a letter or digit, then up to 127 of letters, digits and `._:-`), else a new one. "
        "The server's log lines about the request carry it."
    ),
    "required": True,
    "schema": {"type": "string", "pattern": f"^{REQUEST_ID_RE.pattern}$"},
}
_REQUEST_ID_REF = {"$ref": f"#/components/headers/{REQUEST_ID_HEADER}"}


def _with_request_id(response: dict[str, Any]) -> None:
    if "$ref" not in response:  # a reference gets it where it is defined (response_helper)
        response.setdefault("headers", {}).setdefault(REQUEST_ID_HEADER, _REQUEST_ID_REF)


class ErrorResponsesPlugin(BasePlugin):
    """Lists every error status an operation can answer in the OpenAPI document, each with
    the one error schema, so clients and schema-driven tests know them all; and the
    ``X-Request-Id`` header every answer carries."""

    def init_spec(self, spec: Any) -> None:
        super().init_spec(spec)
        spec.components.header(REQUEST_ID_HEADER, REQUEST_ID_DOC)

    def response_helper(self, response: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Responses defined once (flask-smorest's ``DEFAULT_ERROR``...) carry it too."""
        return {"headers": {**response.get("headers", {}), REQUEST_ID_HEADER: _REQUEST_ID_REF}}

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            errors = dict(_ANY_ERRORS)
            if method.lower() != "get":
                errors |= _WRITE_ERRORS
                if not (path or "").endswith("/comments"):
                    errors.pop(429)
            elif (path or "").endswith(_ADMIN_READS):
                errors |= {401: _WRITE_ERRORS[401], 403: "Another site's token"}
            if method.lower() == "post" and (path or "").endswith("/comments"):
                _link_new_comment(responses)
            error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            for status, response in responses.items():  # declared by a view without a schema
                if str(status)[:1] in "45" and isinstance(response, dict):
                    response.setdefault("content", error_content)
            documented = {str(status) for status in responses}
            for status, description in errors.items():
                if str(status) not in documented:
                    responses[str(status)] = {"description": description, "content": error_content}
            for response in responses.values():
                if isinstance(response, dict):
                    _with_request_id(response)


def _link_new_comment(responses: dict[str, Any]) -> None:
    """OpenAPI links from a posted comment to what can be done with it, so stateful
    clients (and schemathesis' stateful phase) can follow them."""
    comment = "/api/v1/sites/{site}/comments/{comment_id}"
    target = comment.replace("/", "~1")
    parameters = {"site": "$request.path.site", "comment_id": "$response.body#/comment/id"}
    links = {
        "LikeComment": {"operationRef": f"#/paths/{target}~1like/post", "parameters": parameters},
        "ModerateComment": {
            "operationRef": f"#/paths/{target}~1moderate/post",
            "parameters": parameters,
        },
    }
    for status, response in responses.items():
        if str(status) in ("201", "202") and isinstance(response, dict):
            response.setdefault("links", links)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DBAPIError, handle_operational_error)
    # No pooled connection within pool_timeout (a database that is slow or saturated): not
    # a DBAPIError, and not a bug either.
    app.register_error_handler(PoolTimeout, database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
    # Registered after db.init_app, so it runs before Flask-SQLAlchemy's teardown.
    app.teardown_appcontext(end_session)
