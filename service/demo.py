"""``/demo/``: a realistic blog article page that embeds Ranklet, for trying it out."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template

from service.demo_data import ARTICLES, DEMO_SLUG

blp = Blueprint("demo", __name__, url_prefix="/demo")

DEMO_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@blp.get("/", defaults={"slug": ""})
@blp.get("/<slug>/")
def article(slug: str) -> Response:
    """The demo article pages: badges in the sidebar, counts in the list, the thread below."""
    path = f"/demo/{slug}/" if slug else "/demo/"
    if path not in ARTICLES:
        return make_response(render_template("demo/missing.html"), 404)
    response = make_response(
        render_template(
            "demo/article.html", site=DEMO_SLUG, path=path, title=ARTICLES[path], articles=ARTICLES
        )
    )
    response.headers["Content-Security-Policy"] = DEMO_CSP
    return response
