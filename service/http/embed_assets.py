"""Serving ``/embed.js`` (read once, compressed once, answered with an ETag and a 304) and
``/favicon.ico``, which every browser asks for on every page of the service.

The readable ``embed/embed.js`` is the source of truth; what is served is that file minified
by rjsmin when it is first read (no build step, nothing generated in the checkout), which
keeps it within its budget of 7 KB gzipped (issue 14). rjsmin keeps string and template
literals as they are, but only unnested ones: the embed never puts a template literal inside
another's ``${}`` (``tests/test_embed_assets.py`` checks it). The file is found beside the
package in a checkout or editable install, and inside the package (``service/_embed``,
copied by setup.py) in a wheel.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import brotli
import rjsmin
from flask import Blueprint, Response, abort, request

blp = Blueprint("embed", __name__)

CACHE_CONTROL = "public, max-age=600, stale-while-revalidate=86400"
PACKAGE = Path(__file__).parent.parent
CANDIDATES = (PACKAGE / "_embed" / "embed.js", PACKAGE.parent / "embed" / "embed.js")
# Scripts embed.js loads only when a page needs them, served the same way at /embed/NAME.js:
# pow.js solves the proof-of-work challenge for sites that have it on (issue 19), recent.js
# draws the recent-comments box on pages that have one (issue 22), edit.js the edit and delete
# buttons for a reader who holds an edit token.
LAZY = frozenset({"pow", "recent", "edit"})


@dataclass(frozen=True)
class Asset:
    plain: bytes  # minified, not compressed
    gzip: bytes
    brotli: bytes
    etag: str


def embed_path(name: str = "embed") -> Path:
    for candidate in CANDIDATES:
        path = candidate.with_name(f"{name}.js")
        if path.is_file():
            return path
    raise FileNotFoundError(f"{name}.js is missing: reinstall Ranklet")


def minify(source: bytes) -> bytes:
    """What is served for the readable source: comments and layout whitespace removed."""
    return rjsmin.jsmin(source)


@cache
def load_asset(path: Path, mtime: float) -> Asset:
    """Minified and compressed once per file version, not per request."""
    plain = minify(path.read_bytes())
    return Asset(
        plain=plain,
        gzip=gzip.compress(plain, compresslevel=9, mtime=0),
        brotli=brotli.compress(plain, quality=11),
        etag=hashlib.sha256(plain).hexdigest()[:32],
    )


def current_asset(name: str = "embed") -> Asset:
    path = embed_path(name)
    return load_asset(path, path.stat().st_mtime)


def _accepts(encoding: str) -> bool:
    return any(
        part.split(";")[0].strip() == encoding and "q=0" not in part.replace(" ", "")
        for part in request.headers.get("Accept-Encoding", "").split(",")
    )


@blp.get("/embed.js")
def embed_js() -> Response:
    """The embed script, minified, compressed for clients that accept it."""
    return _script(current_asset())


@blp.get("/embed/<name>.js")
def lazy_js(name: str) -> Response:
    """A script the embed loads only when needed (``LAZY``), served like ``/embed.js``."""
    if name not in LAZY:
        abort(404)
    return _script(current_asset(name))


def _script(asset: Asset) -> Response:
    if _accepts("br"):
        body, encoding = asset.brotli, "br"
    elif _accepts("gzip"):
        body, encoding = asset.gzip, "gzip"
    else:
        body, encoding = asset.plain, None
    # One ETag per representation, so caches never mix compressed and plain bodies.
    etag = f"{asset.etag}-{encoding or 'identity'}"
    response = Response(body, mimetype="text/javascript")
    if encoding:
        response.headers["Content-Encoding"] = encoding
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(etag)
    return response.make_conditional(request)


FAVICON_CACHE_CONTROL = "public, max-age=604800"
FAVICON = PACKAGE / "static" / "favicon.ico"


@cache
def favicon_bytes() -> tuple[bytes, str]:
    raw = FAVICON.read_bytes()
    return raw, hashlib.sha256(raw).hexdigest()[:32]


@blp.get("/favicon.ico")
def favicon() -> Response:
    """The service's icon (demo, admin and e-mail link pages), so no page logs a 404."""
    raw, etag = favicon_bytes()
    response = Response(raw, mimetype="image/vnd.microsoft.icon")
    response.headers["Cache-Control"] = FAVICON_CACHE_CONTROL
    response.set_etag(etag)
    return response.make_conditional(request)
