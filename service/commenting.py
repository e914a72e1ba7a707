# ruff: noqa: I001, F401 - one name a line: the move rewrites each importer and deletes this
"""Until the package move: the comment names other modules still import from here.

The comments domain lives in one module per job: ``comment_threads``, ``comment_posting``,
``comment_reading``, ``comment_editing``, ``comment_likes``, ``comment_moderation``, with
``comment_guards`` (spam) and ``comment_representation`` (public and private fields). Import
from those; this module only hands the old names on, and goes away with the move.
"""

from __future__ import annotations

from service.comment_editing import delete_comment
from service.comment_editing import edit_comment
from service.comment_editing import edit_window_open
from service.comment_guards import MAX_LINKS
from service.comment_likes import like_comment
from service.comment_moderation import MODERATION_STATUS
from service.comment_moderation import ErasedComment
from service.comment_moderation import moderate
from service.comment_moderation import moderate_many
from service.comment_moderation import moderation_page
from service.comment_posting import EDIT_TOKEN_PREFIX
from service.comment_posting import Posted
from service.comment_posting import post_comment
from service.comment_reading import VISIBLE
from service.comment_reading import Page
from service.comment_reading import thread_page
from service.comment_representation import ANONYMOUS
from service.comment_representation import private
from service.comment_representation import public
from service.comment_threads import MAX_DEPTH
from service.comment_threads import ensure_thread
from service.comment_threads import find_thread
from service.comment_threads import get_comment_or_404
from service.comment_threads import site_and_thread
