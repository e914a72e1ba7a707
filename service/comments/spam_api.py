"""The spam guards' API (contract §4): the proof-of-work challenge, the author's rules and
threshold, and blocked commenters."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate

from service.comments.threads import get_comment_or_404
from service.core.errors import describe
from service.core.extensions import db
from service.core.request_input import ApiBlueprint
from service.core.schema_fields import StrictSchema, UtcDateTime, plain_line
from service.core.text_rules import BANNED_WORD_MAX, LINE_PATTERN
from service.db.models import SpamBlock
from service.http.auth import require_admin
from service.sites.settings import (
    AUTO_THRESHOLD,
    SiteError,
    SiteSettings,
    get_site_or_404,
    update_site,
)
from service.spam import blocks, challenge, model, scoring

blp = ApiBlueprint("spam", __name__, url_prefix="/api/v1/sites", description="Spam guards")


class Challenge(Schema):
    algorithm = fields.String(required=True)
    challenge = fields.String(required=True)
    maxnumber = fields.Integer(required=True)
    salt = fields.String(required=True)
    signature = fields.String(required=True)


class Learned(Schema):
    ham = fields.Integer(required=True)
    spam = fields.Integer(required=True)
    ready = fields.Boolean(
        required=True, metadata={"description": "Enough of each class to hold comments."}
    )


_THRESHOLD_DOC = {
    "oneOf": [
        {"type": "string", "enum": [AUTO_THRESHOLD]},
        {"type": "number", "minimum": 0.5, "maximum": 1.0},
    ],
    "description": '"auto" (learned from the site\'s own legitimate comments) or a fixed '
    "score from 0.5 to 1 above which the learning filter holds a comment as spam.",
}


class ThresholdField(fields.Field):
    """``"auto"`` or a number from 0.5 to 1 (booleans and numeric strings refused)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == AUTO_THRESHOLD:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(describe("threshold_invalid", low=0.5, high=1))
        if not 0.5 <= value <= 1.0:
            raise ValidationError(describe("out_of_range", low=0.5, high=1))
        return float(value)


class SpamRules(Schema):
    words = fields.List(fields.String(), required=True)
    patterns = fields.List(fields.String(), required=True)
    threshold = ThresholdField(required=True, metadata=_THRESHOLD_DOC)
    threshold_in_force = fields.Float(
        required=True,
        metadata={
            "description": "The score above which a comment is held now: the learned one in "
            "auto mode once 50 legitimate comments were scored, else the fixed one (0.95 by "
            "default)."
        },
    )
    learned_threshold = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "What auto mode has learned (null until it has)."},
    )
    challenge = fields.String(required=True)
    learned = fields.Nested(Learned, required=True)


class SpamRulesInput(StrictSchema):
    """A PUT replaces the rules: words and patterns are both given (empty lists clear)."""

    words = fields.List(
        fields.String(
            validate=[validate.Length(max=BANNED_WORD_MAX), plain_line],
            metadata={"pattern": LINE_PATTERN},
        ),
        required=True,
        validate=validate.Length(max=1000),
    )
    patterns = fields.List(
        fields.String(
            validate=[validate.Length(max=200), plain_line], metadata={"pattern": LINE_PATTERN}
        ),
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": "Regular expressions; each must compile and run fast."},
    )
    threshold = ThresholdField(metadata=_THRESHOLD_DOC)
    challenge = fields.String(validate=validate.OneOf(challenge.CHALLENGE_MODES))


class Block(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"description": "client or email"})
    note = fields.String(required=True)
    created_at = UtcDateTime(required=True)


class Blocks(Schema):
    blocks = fields.List(fields.Nested(Block), required=True)


def _rules(site: Any) -> dict[str, Any]:
    counts = model.load_counts(site.id, [])
    learned = scoring.learned_threshold(counts.ham_scores)
    return {
        "words": list(site.banned_words or []),
        "patterns": list(site.spam_patterns or []),
        "threshold": AUTO_THRESHOLD if site.spam_threshold_auto else site.spam_threshold,
        "threshold_in_force": model.threshold_in_force(site, learned),
        "learned_threshold": None if learned is None else round(learned, 6),
        "challenge": site.challenge,
        "learned": {"ham": counts.ham_docs, "spam": counts.spam_docs, "ready": counts.ready},
    }


@blp.route("/<site>/challenge")
class ChallengeView(MethodView):
    @blp.response(200, Challenge)
    def get(self, site: str) -> Response:
        """A fresh proof-of-work challenge (ALTCHA) for a reader's next post."""
        answer = challenge.new_challenge(get_site_or_404(site))
        response = Response(Challenge().dumps(answer), mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response


@blp.route("/<site>/spam-rules")
class SpamRulesView(MethodView):
    @blp.response(200, SpamRules)
    def get(self, site: str) -> dict[str, Any]:
        """The site's blocked words and patterns, threshold, challenge and what the filter
        has learned."""
        target = get_site_or_404(site)
        require_admin(target)
        return _rules(target)

    @blp.arguments(SpamRulesInput())
    @blp.response(200, SpamRules)
    def put(self, body: dict[str, Any], site: str) -> dict[str, Any]:
        """Replace the given rules; patterns are checked to be valid and safe to run."""
        target = get_site_or_404(site)
        require_admin(target)
        settings = SiteSettings(
            banned_words=body.get("words"),
            spam_patterns=body.get("patterns"),
            spam_threshold=body.get("threshold"),
            challenge=body.get("challenge"),
        )
        try:
            update_site(target, settings)
        except SiteError as error:
            db.session.rollback()
            field = "patterns" if "pattern" in str(error) else "words"
            abort(422, message="Invalid spam rules.", errors={field: [str(error)]})
        return _rules(target)


@blp.route("/<site>/blocks")
class BlocksView(MethodView):
    @blp.response(200, Blocks)
    def get(self, site: str) -> dict[str, Any]:
        """Blocked commenters, newest first (keyed hashes are never shown)."""
        target = get_site_or_404(site)
        require_admin(target)
        return {"blocks": blocks.site_blocks(target)}


@blp.route("/<site>/blocks/<int:block_id>")
class BlockView(MethodView):
    @blp.response(204)
    def delete(self, site: str, block_id: int) -> None:
        """Unblock: later comments of that commenter are checked like anyone's."""
        target = get_site_or_404(site)
        require_admin(target)
        if not blocks.unblock(target, block_id):
            abort(404, message=f"No block {block_id} on this site.")


@blp.route("/<site>/comments/<int:comment_id>/block")
class BlockCommenterView(MethodView):
    @blp.response(201, Blocks)
    def post(self, site: str, comment_id: int) -> dict[str, Any]:
        """Block this comment's commenter (by address and e-mail): later comments are spam."""
        target = get_site_or_404(site)
        require_admin(target)
        comment = get_comment_or_404(target, comment_id)
        note = f"{comment.author or '-'} #{comment.id}"
        created: list[SpamBlock] = blocks.block_commenter(target, comment, note)
        db.session.commit()
        return {"blocks": created}
