"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from service.core.errors import error_response
from service.core.extensions import db

blp = Blueprint("ops", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process is up (no database call: a load balancer's cheapest probe)."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """The database answers; 503 otherwise, so a balancer stops sending traffic here."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception:
        db.session.rollback()
        return error_response(503, "The database is unavailable.", headers={"Retry-After": "5"})
    return jsonify(status="ready")
