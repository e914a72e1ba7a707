"""The rankings API (contract §3)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import abort

from service.core.request_input import ApiBlueprint
from service.http.auth import require_admin
from service.http.caching import (
    RANKINGS_CACHE,
    cached_response,
    etag_for,
    render_json,
    versions_or_404,
)
from service.rankings import history as ranking
from service.rankings.schemas import (
    CATEGORY_KEY_RE,
    CategoryInput,
    CategoryOutput,
    History,
    HistoryQuery,
    LangQuery,
    Rankings,
    RecordPositions,
)
from service.sites.settings import get_site_or_404

blp = ApiBlueprint("rankings", __name__, url_prefix="/api/v1/sites", description="Rank badges")


@blp.route("/<site>/rankings")
class RankingsView(MethodView):
    @blp.arguments(LangQuery(), location="query")
    @blp.response(200, Rankings)
    def get(self, query: dict[str, Any], site: str) -> Response:
        """Current and best rank of every category, in the site's order."""
        known = versions_or_404(site)
        etag = etag_for("rankings", known.site_id, known.site, query.get("lang"))

        def render() -> bytes:
            document = ranking.rankings_document(get_site_or_404(site), query.get("lang"))
            return render_json(Rankings, document)

        return cached_response(etag, RANKINGS_CACHE, render, "application/json")

    @blp.arguments(RecordPositions())
    @blp.response(200, Rankings)
    @blp.alt_response(401, description="No or bad token")
    @blp.alt_response(403, description="Another site's token")
    def post(self, body: dict[str, Any], site: str) -> dict[str, Any]:
        """Record positions for several categories at once, all or nothing."""
        target = get_site_or_404(site)
        require_admin(target)
        try:
            ranking.record_positions(target, body["positions"], body.get("observed_at"))
        except ranking.UnknownCategory as error:
            abort(
                422,
                message="Unknown category.",
                errors={"json": {"positions": {k: ["Unknown category."] for k in error.keys}}},
            )
        return ranking.rankings_document(target)


@blp.route("/<site>/rankings/<category>/history")
class HistoryView(MethodView):
    @blp.arguments(HistoryQuery(), location="query")
    @blp.response(200, History)
    def get(self, query: dict[str, Any], site: str, category: str) -> Response:
        """The latest entries of one category in a time range, oldest first."""
        known = versions_or_404(site)
        etag = etag_for("history", known.site_id, known.site, category, sorted(query.items()))

        def render() -> bytes:
            target = ranking.get_category_or_404(get_site_or_404(site), category)
            since, until = query.get("since"), query.get("until")
            entries = ranking.history(target, since, until, query["limit"])
            return render_json(History, {"category": target.key, "entries": entries})

        return cached_response(etag, RANKINGS_CACHE, render, "application/json")


# The app's int converter takes ASCII digits up to the largest id a column holds (404 past it).
@blp.route("/<site>/rankings/<category>/history/<int:entry_id>")
class HistoryEntryView(MethodView):
    @blp.response(204)
    @blp.alt_response(404, description="No such entry")
    def delete(self, site: str, category: str, entry_id: int) -> None:
        """Delete a mistaken entry; current and best are recomputed."""
        target_site = get_site_or_404(site)
        require_admin(target_site)
        ranking.delete_entry(ranking.get_category_or_404(target_site, category), entry_id)


@blp.route(
    "/<site>/categories/<key>",
    parameters=[
        {"in": "path", "name": "key", "schema": {"type": "string", "pattern": CATEGORY_KEY_RE}}
    ],
)
class CategoryView(MethodView):
    @blp.arguments(CategoryInput())
    @blp.response(200, CategoryOutput)
    @blp.alt_response(201, schema=CategoryOutput, description="Created")
    def put(self, body: dict[str, Any], site: str, key: str) -> tuple[Any, int]:
        """Create or rename a category."""
        target = get_site_or_404(site)
        require_admin(target)
        if not ranking.CATEGORY_KEY.fullmatch(key):
            abort(
                422,
                message="Invalid key.",
                errors={"key": ["Must match ^[a-z0-9][a-z0-9-]{0,31}$."]},
            )
        category, created = ranking.put_category(
            target, key, body["labels"], body.get("url", ...), body.get("order")
        )
        return category, 201 if created else 200

    @blp.response(204)
    def delete(self, site: str, key: str) -> None:
        """Delete a category with its whole history."""
        target = get_site_or_404(site)
        require_admin(target)
        ranking.delete_category(ranking.get_category_or_404(target, key))
