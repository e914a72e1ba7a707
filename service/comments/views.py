"""The comments API (contract §4): threads, posting, editing, likes, counts, moderation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import abort

from service.comments import editing, likes, markup, moderation, posting, reading, recent, threads
from service.comments.representation import public
from service.comments.schemas import (
    CommentInput,
    CommentPatch,
    CommentResult,
    CommentsPage,
    CommentsQuery,
    Counts,
    CountsQuery,
    LikeResult,
    ModerateAction,
    ModerationPage,
    ModerationQuery,
    PinAction,
    PostResult,
    RecentComments,
    RecentQuery,
    Widget,
    WidgetQuery,
)
from service.core.client import client_address
from service.core.extensions import db
from service.core.request_input import ApiBlueprint
from service.db.types import transaction_intent
from service.http.auth import require_admin, require_origin
from service.http.caching import (
    THREAD_CACHE,
    cached_response,
    etag_for,
    recent_read,
    render_json,
    thread_read,
)
from service.http.hot_reads import (
    ReadCheck,
    counts_found,
    counts_parameters,
    counts_statement,
    counts_token,
    mark,
)
from service.http.rate_limits import check_comment_rate
from service.rankings import history as ranking
from service.sites.settings import SLUG_RE, get_site_or_404, no_site
from service.spam import challenge

blp = ApiBlueprint("comments", __name__, url_prefix="/api/v1/sites", description="Comments")


@blp.after_request
def _vary_on_origin(response: Response) -> Response:
    """Every answer depends on Origin (CORS headers, the origin check), not only those that
    got an Access-Control-Allow-Origin: else a cache could serve one origin's answer to all."""
    response.headers.add("Vary", "Origin")  # merged with any other Vary line by create_app
    return response


def _admin_or_origin(site: Any) -> bool:
    """An Authorization header must be valid; otherwise the write must come from the site."""
    if "Authorization" in request.headers:
        require_admin(site)
        return True
    require_origin(site)
    return False


def _thread_answer(
    kind: str, site: str, query: dict[str, Any], render: Callable[[], bytes]
) -> Response:
    """A read of one article's thread: answered from the cache while its version stands
    (and the site's comments version, when the answer carries the recent comments)."""
    with_recent = "recent" in query
    known = thread_read(site, query["article"], with_recent=with_recent)
    parts = [known.site_id, known.site, known.thread, sorted(query.items())]
    if with_recent:
        parts.append(known.comments)
    etag = etag_for(kind, *parts)
    return cached_response(etag, THREAD_CACHE, render, "application/json")


def _comments_page(site: str, query: dict[str, Any]) -> bytes:
    page = reading.thread_page(
        get_site_or_404(site),
        query["article"],
        sort=query["sort"],
        limit=query["limit"],
        cursor=query.get("cursor"),
        lang=query.get("lang"),
    )
    return render_json(CommentsPage, page.as_dict())


@blp.route("/<site>/comments")
class CommentsView(MethodView):
    @blp.arguments(CommentsQuery(), location="query")
    @blp.response(200, CommentsPage)
    def get(self, query: dict[str, Any], site: str) -> Response:
        """A page of an article's approved comments, replies nested under their parents."""
        return _thread_answer("comments", site, query, lambda: _comments_page(site, query))

    @blp.arguments(CommentInput())
    @blp.response(201, PostResult)
    @blp.alt_response(202, schema=PostResult, description="Held for moderation")
    @blp.alt_response(429, description="Rate limited; see Retry-After")
    def post(self, body: dict[str, Any], site: str) -> tuple[dict[str, Any], int]:
        """Post a comment or a reply; the site token posts as the blog's author."""
        # Rendered before the first query: the post is one writing transaction from its
        # first read (on SQLite the write lock, taken at BEGIN), and Markdown need not be
        # rendered under it. On SQLite the write lane already runs one post at a time per
        # process; one transaction instead of a reading one and a writing one saved a
        # COMMIT, a BEGIN and a pool check-out (about 0.15 ms of 2.2 a post).
        body_html = markup.render_comment(body["body"].strip())
        with transaction_intent(True):
            target, thread = threads.site_and_thread(site, body["article"])
            if target is None:
                no_site(site)
            as_author = _admin_or_origin(target)
        if not as_author:
            check_comment_rate(target)
            if target.challenge == "pow":
                challenge.require_solution(target, body.get("altcha"))
        posted, status = posting.post_comment(
            target, body, as_author=as_author, body_html=body_html, thread=thread
        )
        answer = {
            "comment": public(posted.comment, target.lang),
            "status": status,
            "edit_token": posted.edit_token,
            "editable_until": posted.editable_until,
        }
        return answer, 201 if status == "approved" else 202


@blp.route("/<site>/comments/<int:comment_id>")
class CommentView(MethodView):
    @blp.arguments(CommentPatch())
    @blp.response(200, CommentResult)
    @blp.alt_response(403, description="Wrong edit token or the edit window is closed")
    def patch(self, body: dict[str, Any], site: str, comment_id: int) -> dict[str, Any]:
        """Edit one's own comment within the edit window (X-Edit-Token)."""
        target = get_site_or_404(site)
        require_origin(target)
        comment = threads.get_comment_or_404(target, comment_id, lock=True)
        if not editing.edit_window_open(comment, request.headers.get("X-Edit-Token")):
            abort(403, message="This comment can no longer be edited with this token.")
        editing.edit_comment(target, comment, body)
        return {"comment": public(comment, target.lang)}

    @blp.response(204)
    @blp.alt_response(403, description="Wrong edit token or the edit window is closed")
    def delete(self, site: str, comment_id: int) -> None:
        """Delete one's own comment within the window, or any comment with the site token."""
        target = get_site_or_404(site)
        admin = _admin_or_origin(target)
        comment = threads.get_comment_or_404(target, comment_id, lock=True)
        if not admin and not editing.edit_window_open(comment, request.headers.get("X-Edit-Token")):
            abort(403, message="This comment can no longer be deleted with this token.")
        editing.delete_comment(comment)


@blp.route("/<site>/comments/<int:comment_id>/like")
class LikeView(MethodView):
    @blp.response(200, LikeResult)
    def post(self, site: str, comment_id: int) -> dict[str, Any]:
        """Like a comment; one like per client, repeats change nothing."""
        target = get_site_or_404(site)
        require_origin(target)
        comment = threads.get_comment_or_404(target, comment_id, lock=True)
        return {"likes": likes.like_comment(comment, client_address())}


@blp.route("/<site>/comments/<int:comment_id>/moderate")
class ModerateView(MethodView):
    @blp.arguments(ModerateAction())
    @blp.response(200, CommentResult)
    def post(self, body: dict[str, Any], site: str, comment_id: int) -> dict[str, Any]:
        """Approve, mark as spam, delete or restore a comment."""
        target = get_site_or_404(site)
        require_admin(target)
        comment = threads.get_comment_or_404(target, comment_id, lock=True)
        try:
            moderation.moderate(comment, body["action"])
        except moderation.ErasedComment as error:
            abort(422, message=str(error), errors={"action": [str(error)]})
        return {"comment": public(comment, target.lang)}


@blp.route("/<site>/moderation")
class ModerationView(MethodView):
    @blp.arguments(ModerationQuery(), location="query")
    @blp.response(200, ModerationPage)
    def get(self, query: dict[str, Any], site: str) -> dict[str, Any]:
        """Comments by status, newest first, with private fields (e-mail, status, article)."""
        target = get_site_or_404(site)
        require_admin(target)
        items, cursor = moderation.moderation_page(
            target, query["status"], query["limit"], query.get("cursor"), query.get("q")
        )
        return {"comments": items, "next_cursor": cursor}


@blp.route("/<site>/comments/<int:comment_id>/pin")
class PinView(MethodView):
    @blp.arguments(PinAction())
    @blp.response(200, CommentResult)
    def post(self, body: dict[str, Any], site: str, comment_id: int) -> dict[str, Any]:
        """Pin a top-level comment to the top of its thread, or unpin it."""
        target = get_site_or_404(site)
        require_admin(target)
        comment = threads.get_comment_or_404(target, comment_id)
        try:
            moderation.pin(comment, body["pinned"])
        except moderation.ReplyNotPinnable as error:
            abort(422, message=str(error), errors={"pinned": [str(error)]})
        return {"comment": public(comment, target.lang)}


@blp.route("/<site>/recent")
class RecentView(MethodView):
    @blp.arguments(RecentQuery(), location="query")
    @blp.response(200, RecentComments)
    def get(self, query: dict[str, Any], site: str) -> Response:
        """The site's latest approved comments, newest first (a sidebar's recent comments)."""
        known = recent_read(site)
        etag = etag_for("recent", known.site_id, known.site, known.comments, sorted(query.items()))
        return cached_response(etag, THREAD_CACHE, lambda: _recent(site, query), "application/json")


def _recent(site: str, query: dict[str, Any]) -> bytes:
    target = get_site_or_404(site)
    lang = query.get("lang") or target.lang
    return render_json(
        RecentComments, {"comments": recent.recent_comments(target, query["limit"], lang)}
    )


@blp.route("/<site>/counts")
class CountsView(MethodView):
    @blp.arguments(CountsQuery(), location="query")
    @blp.response(200, Counts)
    def get(self, query: dict[str, Any], site: str) -> Response:
        """Approved comment counts for up to 100 articles in one request."""
        articles = list(dict.fromkeys(query["article"]))
        token = None
        if SLUG_RE.fullmatch(site):
            statement = counts_statement(len(articles))
            rows = db.session.execute(statement, counts_parameters(site, articles)).all()
            token = counts_token(rows)
        if token is None:
            no_site(site)
        mark(request.environ, ReadCheck("counts", site, tuple(articles), token))
        found = counts_found(token)
        counts = {"counts": {article: found.get(article, 0) for article in articles}}
        response = Response(render_json(Counts, counts), mimetype="application/json")
        response.add_etag()
        response.headers["Cache-Control"] = THREAD_CACHE
        return response.make_conditional(request)


@blp.route("/<site>/widget")
class WidgetView(MethodView):
    @blp.arguments(WidgetQuery(), location="query")
    @blp.response(200, Widget)
    def get(self, query: dict[str, Any], site: str) -> Response:
        """Everything the embed needs in one round trip: site, rankings, first page."""
        return _thread_answer("widget", site, query, lambda: _widget(site, query))


def _widget(site: str, query: dict[str, Any]) -> bytes:
    target = get_site_or_404(site)
    lang = query.get("lang") or target.lang
    document = {
        "site": {
            "name": target.name,
            "lang": target.lang,
            "moderation": target.moderation,
            "edit_window": current_app.config["EDIT_WINDOW"],
        },
        "rankings": ranking.rankings_document(target, lang)["categories"],
        "comments": reading.thread_page(
            target, query["article"], sort=query["sort"], limit=query["limit"], lang=lang
        ).as_dict(),
        "features": {"notify": bool(current_app.config.get("SMTP_HOST"))},
    }
    if target.challenge == "pow":  # only then: the embed then loads its solver
        document["site"]["challenge"] = "pow"
    if "recent" in query:
        count = min(max(query["recent"], 1), recent.RECENT_MAX)
        document["recent"] = recent.recent_comments(target, count, lang)
    return render_json(Widget, document)
