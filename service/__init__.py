"""Ranklet: ranking badges and privacy-first comments for blogs.

``create_app`` builds the Flask app in a fixed order: config -> extensions -> blueprints ->
errors -> cli. Nothing is built at import time; gunicorn runs ``service:create_app()``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, redirect, request
from werkzeug.routing import RequestRedirect

from service.core.config import DEFAULTS

MIGRATIONS_DIR = str(Path(__file__).parent / "db" / "migrations")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# On every answer unless the view set its own (a page's or a badge's own policy).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
)


def instance_path() -> str:
    """Where the SQLite file and the secret live: ``RANKLET_INSTANCE_PATH``, else the user's
    data folder by the XDG rule (``$XDG_DATA_HOME/ranklet``, else ``~/.local/share/ranklet``).

    Never the working folder: every ``ranklet`` command of one user, run from anywhere,
    must see the same sites (API.md §1). A relative ``XDG_DATA_HOME`` is ignored, as the
    XDG Base Directory specification says.
    """
    explicit = os.environ.get("RANKLET_INSTANCE_PATH")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    data_home = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(data_home):
        data_home = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "ranklet")


def _load_or_create_secret(folder: str) -> str:
    """Generated once; O_EXCL makes concurrent first starts agree on one secret."""
    path = os.path.join(folder, "secret_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as handle:
            value = handle.read().strip()
        if value:
            return value
        raise RuntimeError(f"{path} is empty: delete it to generate a new secret") from None
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    return value


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("RANKLET")
    if test_config:
        app.config.from_mapping(test_config)
    from service.core.drivers import MissingDriverError, missing_driver

    missing = missing_driver(app.config)
    if missing:
        raise MissingDriverError(missing)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _load_or_create_secret(app.instance_path)
    app.config["SECRET_KEY"] = str(app.config["SECRET_KEY"])
    url = app.config.get("DATABASE_URL") or "sqlite:///" + os.path.join(
        app.instance_path, "ranklet.db"
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # Pools sized for the busy share of a gthread worker's 64 threads; waits are bounded so an
    # unreachable database answers 503 within seconds instead of hanging a request.
    if url.startswith("sqlite"):
        pooled = ":memory:" not in url and url != "sqlite://"
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {"connect_args": {"timeout": 5}}
            | ({"pool_size": 8, "max_overflow": 32, "pool_timeout": 5} if pooled else {}),
        )
    else:
        app.config.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {
                "pool_pre_ping": True,
                "pool_size": 8,
                "max_overflow": 16,
                "pool_timeout": 5,
                "connect_args": {"connect_timeout": 3},
            },
        )
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        from service.http.ratelimit_store import default_storage_uri

        app.config["RATELIMIT_STORAGE_URI"] = default_storage_uri(app.instance_path)
    elif str(app.config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        # A hung Redis must not hang posts: time out fast and fall back per process.
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1}
        )
    elif str(app.config["RATELIMIT_STORAGE_URI"]).startswith("ranklet-sqlite"):
        import service.http.ratelimit_store  # noqa: F401 - registers the scheme
    app.config["PUBLIC_URL"] = str(app.config.get("PUBLIC_URL") or "http://127.0.0.1:8000").rstrip(
        "/"
    )
    app.config["EDIT_WINDOW"] = int(app.config["EDIT_WINDOW"])
    app.config["TRUSTED_PROXIES"] = int(app.config["TRUSTED_PROXIES"] or 0)
    rate = app.config.get("COMMENT_RATE_LIMIT")
    app.config["COMMENT_RATE_LIMIT"] = "" if rate in (None, False) else str(rate)


def _finish_answer(response: Response) -> Response:
    """The app's last after-request hook, one instead of three: the security headers, the
    request's id (``X-Request-Id``) and one ``Vary`` header listing each name once, with
    every header the body was chosen by (``messages.header_read``: ``Accept-Language`` for
    an error in the browser's language, a badge that says "unknown site" ...)."""
    from service.core.errors import REQUEST_ID_HEADER, request_id
    from service.i18n.messages import VARY_KEY

    headers = response.headers
    for name, value in SECURITY_HEADERS:
        if name not in headers:
            headers.add(name, value)
    headers[REQUEST_ID_HEADER] = request_id()
    read = request.environ.get(VARY_KEY)
    if read:
        headers.add("Vary", ", ".join(sorted(read)))
    varies = headers.getlist("Vary")
    if len(varies) > 1:
        names = [n.strip() for line in varies for n in line.split(",") if n.strip()]
        headers["Vary"] = ", ".join(dict.fromkeys(names))
    return response


def _bind_extensions(app: Flask) -> None:
    import service.db.models  # noqa: F401 - registers the tables for Alembic
    from service.core.extensions import api, compress, cors, db, limiter, migrate
    from service.db.types import configure_sqlite
    from service.http.caching import ResponseCache

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    from service.core.errors import ErrorResponsesPlugin

    api.init_app(app, spec_kwargs={"extra_plugins": [ErrorResponsesPlugin()]})
    # Registered before the extensions' hooks, so it runs after them (Flask runs them in
    # reverse): flask-cors adds a Vary line of its own beside the one Flask-Compress extends.
    app.after_request(_finish_answer)
    cors.init_app(
        app,
        # Patterns compiled (as flask-cors would read the strings: "/api/v1/*" a regular
        # expression, origins without case): it matches a compiled one directly, where a
        # string is scanned for regular-expression characters and looked up in re's cache
        # on every request.
        resources={re.compile(r"/api/v1/*"): {}, "/embed.js": {}},
        # A pattern, not "*", so the answer echoes the origin with Vary: Origin and the
        # literal "null" origin (sandboxed frames, file: pages) is never allowed.
        origins=[re.compile(r"^https?://[^\s/]+$", re.IGNORECASE)],
        supports_credentials=False,
        allow_headers=["Content-Type", "X-Edit-Token"],
        expose_headers=["Retry-After", "ETag", "X-Request-Id"],
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        max_age=86400,
        vary_header=True,
    )
    compress.init_app(app)
    limiter.init_app(app)
    _without_limiter_hooks(app, limiter)
    app.extensions["ranklet_cache"] = ResponseCache()


def _without_limiter_hooks(app: Flask, limiter: Any) -> None:
    """Flask-Limiter serves for its storage and strategy only (``http/rate_limits`` checks
    the comment limit itself, where a post is stored): its check before every request,
    which found no limit to apply, and its header and clean-up hooks after it cost each
    request that reaches Flask about 60 us. Flask-Limiter 4 has no switch for them."""

    def foreign(function: Any) -> bool:
        owner = getattr(function, "__self__", None)
        if owner is None and isinstance(function, functools.partial):
            owner = next(iter(function.args), None)
        return owner is not limiter

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        hooks[None] = [function for function in hooks.get(None, []) if foreign(function)]


def _register_blueprints(app: Flask) -> None:
    from service.comments import feeds, spam_api
    from service.comments import views as comments
    from service.core.extensions import api
    from service.demo import views as demo
    from service.http import embed_assets, ops
    from service.rankings import badges
    from service.rankings import views as rankings

    api.register_blueprint(rankings.blp)
    api.register_blueprint(comments.blp)
    api.register_blueprint(spam_api.blp)
    app.register_blueprint(ops.blp)
    app.register_blueprint(badges.blp)
    app.register_blueprint(feeds.blp)
    app.register_blueprint(embed_assets.blp)
    app.register_blueprint(demo.blp)
    from service.admin import views as admin

    app.register_blueprint(admin.blp)
    from service.notify import confirmation, email_links

    app.register_blueprint(email_links.blp)
    app.register_blueprint(confirmation.blp)


def _relative_redirect(routing: RequestRedirect) -> Response:
    """werkzeug's slash redirect (``/admin`` -> ``/admin/``), made before the view would run,
    with a relative ``Location``: its own is an absolute URL built from the request's
    ``Host``, which no URL may be built from, and which fails to build at all when the
    ``Host`` names a port beyond 65535 (a 500)."""
    parts = urlsplit(routing.new_url)  # path and query only: .port would raise
    target = "/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return redirect(target, routing.code)


def _request_hooks(app: Flask) -> None:
    from service.core.errors import describe, error_response
    from service.core.request_input import json_refusal
    from service.db.types import write_intent

    @app.teardown_request
    def _end_intent(_error: BaseException | None) -> None:
        # A request's intent ends with it: a thread (or a test client's caller) that goes on
        # to a command or another app must not begin its reads as writers.
        token = g.pop("write_intent_token", None)
        if token is not None:
            with contextlib.suppress(ValueError):  # set in another context: nothing to undo
                write_intent.reset(token)

    @app.before_request
    def _before() -> Response | None:
        if isinstance(request.routing_exception, RequestRedirect):
            return _relative_redirect(request.routing_exception)
        g.write_intent_token = write_intent.set(request.method in WRITE_METHODS)
        if (
            request.method in WRITE_METHODS
            and request.path.startswith("/api/")
            and (request.content_length or request.headers.get("Transfer-Encoding"))
            and not request.is_json
        ):
            return error_response(415, describe("not_json"))
        if request.method in WRITE_METHODS and request.is_json:
            refusal = json_refusal(request)  # depth, huge numbers, surrogates: one loader
            if refusal is not None:
                return error_response(400, refusal)
        return None

    @app.after_request
    def _read_files_whole(response: Response) -> Response:
        """A file from ``send_file`` (the static CSS), read now instead of streamed.

        Registered after Flask-Compress, so it runs before it. Flask-Compress compresses a
        streamed answer as a stream and, replacing the body, drops the file's ``close``:
        every brotli answer of a stylesheet left its file open until the cyclic garbage
        collector ran. Our files are a few KiB; read whole, they are compressed as any
        other answer and the file is closed with the answer.
        """
        if response.direct_passthrough:
            response.direct_passthrough = False
            response.make_sequence()
        return response


def _write_lane(app: Flask) -> None:
    """On SQLite, requests that may write run one at a time per process (see the module)."""
    from service.core.extensions import db
    from service.db.types import BUSY_TIMEOUT_MS
    from service.http.write_lane import WriteLane

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
    app.wsgi_app = WriteLane(app.wsgi_app, BUSY_TIMEOUT_MS / 1000)  # type: ignore[method-assign]
    app.extensions["ranklet_write_lane"] = app.wsgi_app  # the worker's write thread looks


def _hot_reads(app: Flask) -> None:
    """Repeats of the embed's GETs answered before Flask, after one check query."""
    from service.core.extensions import db
    from service.http.hot_reads import HotReads

    def engine() -> Any:
        with app.app_context():
            return db.engine

    app.wsgi_app = HotReads(app.wsgi_app, engine)  # type: ignore[method-assign]
    app.extensions["ranklet_hot_reads"] = app.wsgi_app


class _App(Flask):
    """Flask, remembering which of its hooks and views are coroutine functions: Flask asks
    ``inspect.iscoroutinefunction`` of each one on every request (eighteen times a post).
    Keyed by the plain function, since a view's bound method is new on every request."""

    _REMEMBERED = 1000  # hooks and views are a fixed few; anything beyond is asked anew

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._coroutine: dict[Any, bool] = {}

    def ensure_sync(self, func: Any) -> Any:
        plain = getattr(func, "__func__", func)
        coroutine = self._coroutine.get(plain)
        if coroutine is None:
            coroutine = inspect.iscoroutinefunction(func)
            if len(self._coroutine) < self._REMEMBERED:
                self._coroutine[plain] = coroutine
        return self.async_to_sync(func) if coroutine else func


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = _App(__name__, instance_path=instance_path(), instance_relative_config=True)
    from service.core.request_input import AsciiIntegerConverter

    app.url_map.converters["int"] = AsciiIntegerConverter  # before any rule is added
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    _configure(app, test_config)
    _bind_extensions(app)
    _register_blueprints(app)
    from service.core import errors
    from service.sites import settings as sites

    errors.register(app)
    app.extensions["ranklet_site_language"] = sites.site_language  # for error messages
    _request_hooks(app)
    from service.notify import outbox
    from service.notify import sender as notifications

    outbox.init_app(app)  # new comments and rank events join the outbox
    notifications.init_app(app)  # the outbox sender: lazily, in each serving process
    _write_lane(app)
    _hot_reads(app)
    return app
