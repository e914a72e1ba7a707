"""``/demo/``: a realistic blog article page that embeds Ranklet, for trying it out."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template
from sqlalchemy import select

from service.core.extensions import db
from service.db.models import Site, Thread
from service.demo.data import ARTICLES, DEMO_SLUG
from service.i18n.messages import text
from service.rankings import history as ranking
from service.rankings.badges import badge_text
from service.sites.settings import get_site

blp = Blueprint("demo", __name__, url_prefix="/demo")

DEMO_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _noscript_badges(site: Site) -> list[dict[str, str]]:
    """The badges a reader without JavaScript sees, with the position in the alt text."""
    badges = []
    for standing in ranking.standings(site):
        label, value = badge_text(standing, site.lang, "best")
        alt = text("badge.alt", site.lang, label=label, value=value)
        badges.append(
            {"key": standing.category.key, "url": standing.category.url or "", "alt": alt}
        )
    return badges


@blp.get("/", defaults={"slug": ""})
@blp.get("/<slug>/")
def article(slug: str) -> Response:
    """The demo article pages: badges in the sidebar, counts in the list, the thread below."""
    path = f"/demo/{slug}/" if slug else "/demo/"
    if path not in ARTICLES:
        return make_response(render_template("demo/missing.html"), 404)
    # Counts and badges rendered here too, so the page reads right with JavaScript off;
    # the embed then keeps them current.
    site = get_site(DEMO_SLUG)
    counts: dict[str, int] = {}
    badges: list[dict[str, str]] = []
    if site is not None:
        counts = dict(
            db.session.execute(
                select(Thread.article, Thread.approved_count).where(
                    Thread.site_id == site.id, Thread.article.in_(list(ARTICLES))
                )
            ).all()
        )
        badges = _noscript_badges(site)
    response = make_response(
        render_template(
            "demo/article.html",
            site=DEMO_SLUG,
            path=path,
            title=ARTICLES[path],
            articles=ARTICLES,
            counts=counts,
            badges=badges,
        )
    )
    response.headers["Content-Security-Policy"] = DEMO_CSP
    return response
