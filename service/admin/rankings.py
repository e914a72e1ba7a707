"""The admin's rankings page: one form for every category's position, and each category's
history chart with its best rank (最高順位)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from flask import Response, g, request
from marshmallow import ValidationError

from service.admin.pages import blp, done, page
from service.core.text_rules import MAX_POSITION, ascii_int
from service.db.models import Site
from service.db.types import utcnow
from service.rankings import history as ranking
from service.rankings.schemas import RecordPositions
from service.sites.local_time import read_time


def _standing_rows(site: Site, lang: str) -> list[dict[str, Any]]:
    return [
        {
            "key": s.category.key,
            "label": s.category.label(lang),
            "current": s.current,
            "best": s.best,
            "new_best": _flagged(ranking.new_best_until(site, s.best)),
        }
        for s in ranking.standings(site)
    ]


def _flagged(until: datetime | None) -> bool:
    return until is not None and utcnow() < until


def _rankings_page(code: int = 200, **context: Any) -> Response:
    return page(
        "admin/rankings.html",
        code,
        rows=_standing_rows(g.site, g.lang),
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        **context,
    )


@blp.get("/rankings")
def rankings() -> Response:
    """One form for every category's position, and each category's history chart."""
    return _rankings_page()


@blp.post("/rankings")
def record() -> Response:
    """Record the filled-in positions in one transaction; empty fields are skipped."""
    values = {
        c.key: unicodedata.normalize("NFKC", request.form.get(f"position-{c.key}", "")).strip()
        for c in g.site.categories
    }
    observed_at = request.form.get("observed_at", "").strip()
    positions: dict[str, Any] = {}
    for key, value in values.items():
        if value:  # anything but a position stays a string, which the schema refuses
            number = ascii_int(value, 1, MAX_POSITION)
            positions[key] = value if number is None else number
    body: dict[str, Any] = {"positions": positions}
    if observed_at:
        # Typed without a zone, it is the site's local time (the API itself refuses that).
        typed = read_time(g.site, unicodedata.normalize("NFKC", observed_at))
        body["observed_at"] = typed.isoformat() if typed is not None else observed_at
    errors: dict[str, str] = {}
    try:
        loaded = RecordPositions().load(body)
    except ValidationError as error:
        refused = error.messages if isinstance(error.messages, dict) else {}
        problems = refused.get("positions", {})
        if isinstance(problems, dict):
            errors.update({key: g.t("position_invalid") for key in problems})
        else:
            errors["_form"] = g.t("nothing_to_record")
        if "observed_at" in refused:
            errors["observed_at"] = g.t("observed_at_invalid")
        values["observed_at"] = observed_at
        return _rankings_page(422, values=values, errors=errors)
    ranking.record_positions(g.site, loaded["positions"], loaded.get("observed_at"))
    return done(g.t("recorded", n=len(loaded["positions"])), "admin.rankings")
