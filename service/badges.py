"""SVG badges that work without JavaScript: in pages, feeds and e-mail (contract §3)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from service import ranking
from service.badge_svg import render_badge, render_history, render_not_found
from service.caching import cached_response, etag_for, from_cache, versions
from service.models import Category, Site
from service.ranking import CategoryStanding
from service.sites import get_site

blp = Blueprint("badges", __name__, url_prefix="/badge")

BADGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *"
CACHE = "public, max-age=300, s-maxage=300, stale-while-revalidate=60"

WORDS = {
    "ja": {
        "ranking": "{label}ランキング",
        "pos": "{n}位",
        "best": "最高順位",
        "none": "未登録",
        "empty": "まだ履歴がありません",
    },
    "en": {
        "ranking": "{label} ranking",
        "pos": "#{n}",
        "best": "best",
        "none": "not ranked",
        "empty": "No ranking history yet",
    },
}


def badge_text(standing: CategoryStanding, lang: str, show: str) -> tuple[str, str]:
    """Label and value, e.g. (コンサルタントランキング, 4位 (最高順位))."""
    words = WORDS[lang]
    label = words["ranking"].format(label=standing.category.label(lang))
    current, best = standing.current, standing.best
    if best is None or current is None:
        return label, words["none"]
    cur = words["pos"].format(n=current.position)
    top = words["pos"].format(n=best.position)
    if show == "current":
        return label, cur
    if show == "both":
        return label, f"{cur} ({words['best']} {top})"
    return label, f"{top} ({words['best']})"


def _svg(body: str, status: int) -> Response:
    response = Response(body, status=status, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = BADGE_CSP
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _cached_svg(etag: str, render: Callable[[], str]) -> Response:
    response = cached_response(etag, CACHE, lambda: render().encode(), "image/svg+xml")
    response.headers["Content-Security-Policy"] = BADGE_CSP
    return response


def _lookup(site_slug: str, key: str) -> tuple[Site, Category] | Response:
    site = get_site(site_slug)
    if site is None:
        return _svg(render_not_found("unknown site"), 404)
    category = next((c for c in site.categories if c.key == key), None)
    if category is None:
        return _svg(render_not_found("unknown category"), 404)
    return site, category


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


def _query(site: str, category: str, kind: str) -> tuple[str, str | None, str] | Response:
    """The ETag for this badge, or the answer itself when no rendering is needed."""
    known = versions(site)
    if known is None:
        return _svg(render_not_found("unknown site"), 404)
    lang = _choice("lang", ("ja", "en"), "")
    show = _choice("show", ("best", "current", "both"), "best")
    etag = etag_for(kind, known.site_id, known.site, category, lang, show)
    if (hit := from_cache(etag, CACHE, "image/svg+xml")) is not None:
        hit.headers["Content-Security-Policy"] = BADGE_CSP
        return hit
    return etag, lang or None, show


@blp.get("/<site>/<category>.svg")
def badge(site: str, category: str) -> Response:
    """One category's badge: current, best (最高順位) or both."""
    query = _query(site, category, "badge")
    if isinstance(query, Response):
        return query
    etag, lang_arg, show = query
    found = _lookup(site, category)
    if isinstance(found, Response):
        return found
    target, cat = found
    lang = lang_arg or target.lang

    def render() -> str:
        standing = next(s for s in ranking.standings(target) if s.category.id == cat.id)
        return render_badge(*badge_text(standing, lang, show))

    return _cached_svg(etag, render)


@blp.get("/<site>/<category>/history.svg")
def history_chart(site: str, category: str) -> Response:
    """The rank history as a small chart, better ranks higher, the best one marked."""
    query = _query(site, category, "history-chart")
    if isinstance(query, Response):
        return query
    etag, lang_arg, _ = query
    found = _lookup(site, category)
    if isinstance(found, Response):
        return found
    target, cat = found
    lang = lang_arg or target.lang

    def render() -> str:
        entries = ranking.history(cat, None, None, 365)
        points = [(e.observed_at, e.position) for e in entries]
        standing = next(s for s in ranking.standings(target) if s.category.id == cat.id)
        words = WORDS[lang]
        best, best_text = None, ""
        if standing.best is not None:
            best = (standing.best.observed_at, standing.best.position)
            best_text = f"{words['best']} {words['pos'].format(n=standing.best.position)}"
        title = words["ranking"].format(label=cat.label(lang))
        return render_history(
            points, best=best, title=title, best_text=best_text, empty_text=words["empty"]
        )

    return _cached_svg(etag, render)
