"""Badges that work without JavaScript: SVG for pages and feeds, PNG for e-mail (contract §3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, request

from service.db.models import Category, Site
from service.http.caching import cached_response, etag_for, from_cache, versions
from service.i18n.messages import LANGS, Texts, choose, text
from service.rankings import history as ranking
from service.rankings.badge_png import render_png
from service.rankings.badge_svg import (
    BANNER_SIZES,
    render_badge,
    render_banner,
    render_history,
    render_not_found,
)
from service.rankings.history import CategoryStanding
from service.sites.local_time import site_zone
from service.sites.settings import get_site

blp = Blueprint("badges", __name__, url_prefix="/badge")

BADGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *"
CACHE = "public, max-age=300, s-maxage=300, stale-while-revalidate=60"

SHOWS = ("best", "current", "both")
SVG_TYPE = "image/svg+xml"
PNG_TYPE = "image/png"


def badge_text(standing: CategoryStanding, lang: str, show: str) -> tuple[str, str]:
    """Label and value, e.g. (コンサルタントランキング, 4位（最高順位）), as the embed words it."""
    t = Texts("badge", lang)
    label = t("ranking", label=standing.category.label(lang))
    current, best = standing.current, standing.best
    if best is None or current is None:
        return label, t("none")
    cur = t("pos", n=current.position)
    if show == "current":
        return label, cur
    if show == "both":
        return label, cur + t("both", top=t("pos", n=best.position))
    return label, best_text(best.position, lang)


def best_text(position: int, lang: str) -> str:
    """A best rank as badges, charts and the admin word it: 4位（最高順位）, #4 (best)."""
    t = Texts("badge", lang)
    return t("pos", n=position) + t("best_only")


@dataclass(frozen=True)
class BadgeQuery:
    """The representation asked for; `lang` is None when the site's language applies."""

    lang: str | None
    show: str
    size: str | None
    scale: int
    fmt: str

    def key(self) -> tuple[str | None, str, str | None, int, str]:
        return self.lang, self.show, self.size, self.scale, self.fmt


class BadQuery(Exception):
    """Parameters outside the contract's values: answered with a 422 image naming them."""

    def __init__(self, names: list[str], query: BadgeQuery) -> None:
        super().__init__(", ".join(names))
        self.names = names
        self.query = query


def _parse_query(fmt: str) -> BadgeQuery:
    """Read show/lang/size (and scale for PNG); any value outside the contract is a 422."""
    args = request.args
    lang = args.get("lang")
    show = args.get("show", "best")
    size = args.get("size")
    scale_arg = args.get("scale", "1") if fmt == "png" else "1"
    scale = int(scale_arg) if scale_arg in ("1", "2", "3") else 1
    query = BadgeQuery(
        lang if lang in LANGS else None,
        show if show in SHOWS else "best",
        size if size in BANNER_SIZES else None,
        scale,
        fmt,
    )
    valid = {
        "show": show in SHOWS,
        "lang": lang is None or lang in LANGS,
        "size": size is None or size in BANNER_SIZES,
        "scale": str(scale) == scale_arg,
    }
    if bad := [name for name, ok in valid.items() if not ok]:
        raise BadQuery(bad, query)
    return query


def _request_lang(query: BadgeQuery, site_lang: str | None) -> str:
    """The language of a message image: asked for, else the site's, else the browser's."""
    return choose(query.lang, site_lang)


def _image(svg: str, query: BadgeQuery) -> bytes:
    if query.fmt == "png":
        return render_png(svg, query.scale)
    return svg.encode()


def _message(
    key: str, query: BadgeQuery, status: int, site_lang: str | None, **names: str
) -> Response:
    """A small image that says what is wrong (404, 422): an <img> shows it, not a broken icon."""
    said = Texts("badge", _request_lang(query, site_lang))(key, **names)
    body = _image(render_not_found(said, query.size), query)
    mimetype = PNG_TYPE if query.fmt == "png" else SVG_TYPE
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["Content-Security-Policy"] = BADGE_CSP
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _cached(etag: str, query: BadgeQuery, render: Callable[[], str]) -> Response:
    mimetype = PNG_TYPE if query.fmt == "png" else SVG_TYPE
    response = cached_response(etag, CACHE, lambda: _image(render(), query), mimetype)
    response.headers["Content-Security-Policy"] = BADGE_CSP
    return response


def _lookup(site_slug: str, key: str, query: BadgeQuery) -> tuple[Site, Category] | Response:
    site = get_site(site_slug)
    if site is None:
        return _message("unknown site", query, 404, None)
    category = next((c for c in site.categories if c.key == key), None)
    if category is None:
        return _message("unknown category", query, 404, site.lang)
    return site, category


def _prepare(site: str, category: str, kind: str, fmt: str) -> tuple[str, BadgeQuery] | Response:
    """The ETag and query for this badge, or the answer itself when no rendering is needed."""
    try:
        query = _parse_query(fmt)
    except BadQuery as bad:
        found = get_site(site)
        site_lang = found.lang if found else None
        lang = _request_lang(bad.query, site_lang)
        names = text("badge.list_separator", lang).join(bad.names)
        return _message("invalid", bad.query, 422, lang, name=names)
    known = versions(site)
    if known is None:
        return _message("unknown site", query, 404, None)
    etag = etag_for(kind, known.site_id, known.site, category, *query.key())
    mimetype = PNG_TYPE if fmt == "png" else SVG_TYPE
    if (hit := from_cache(etag, CACHE, mimetype)) is not None:
        hit.headers["Content-Security-Policy"] = BADGE_CSP
        return hit
    return etag, query


Found = tuple[str, BadgeQuery, Site, Category, str]  # etag, query, site, category, language


def _found(site: str, category: str, kind: str, fmt: str) -> Found | Response:
    """A cached answer or an error image, else (etag, query, site, category, language)."""
    prepared = _prepare(site, category, kind, fmt)
    if isinstance(prepared, Response):
        return prepared
    etag, query = prepared
    found = _lookup(site, category, query)
    if isinstance(found, Response):
        return found
    target, cat = found
    return etag, query, target, cat, query.lang or target.lang


def _badge(site: str, category: str, fmt: str) -> Response:
    found = _found(site, category, "badge", fmt)
    if isinstance(found, Response):
        return found
    etag, query, target, cat, lang = found

    def render() -> str:
        standing = next(s for s in ranking.standings(target) if s.category.id == cat.id)
        label, value = badge_text(standing, lang, query.show)
        if query.size is not None:
            return render_banner(label, value, query.size)
        return render_badge(label, value)

    return _cached(etag, query, render)


@blp.get("/<site>/<category>.svg")
def badge(site: str, category: str) -> Response:
    """One category's badge: current, best (最高順位) or both."""
    return _badge(site, category, "svg")


@blp.get("/<site>/<category>.png")
def badge_png(site: str, category: str) -> Response:
    """The same badge as a PNG, for e-mail clients that show no SVG."""
    return _badge(site, category, "png")


@blp.get("/<site>/<category>/history.svg")
def history_chart(site: str, category: str) -> Response:
    """The rank history as a small chart, better ranks higher, the best one marked."""
    found = _found(site, category, "history-chart", "svg")
    if isinstance(found, Response):
        return found
    etag, query, target, cat, lang = found

    def render() -> str:
        entries = ranking.history(cat, None, None, 365)
        points = [(e.observed_at, e.position) for e in entries]
        standing = next(s for s in ranking.standings(target) if s.category.id == cat.id)
        t = Texts("badge", lang)
        best, label = None, ""
        if standing.best is not None:
            best = (standing.best.observed_at, standing.best.position)
            label = best_text(standing.best.position, lang)
        title = t("ranking", label=cat.label(lang))
        return render_history(
            points,
            best=best,
            title=title,
            best_text=label,
            empty_text=t("empty"),
            zone=site_zone(target),
        )

    return _cached(etag, query, render)
