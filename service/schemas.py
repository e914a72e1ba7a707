# ruff: noqa: I001, F401 - one name a line: the move rewrites each importer and deletes this
"""Until the package move: the schema names other modules still import from here.

The schemas live by resource (``comment_schemas``, ``ranking_schemas``), on shared fields
(``schema_fields``) and the text rules (``text_rules``); import them from there. This module
only hands the old names on, and goes away with the move.
"""

from __future__ import annotations

from service.comment_cursors import COMMENTS_CURSOR_PATTERN
from service.comment_cursors import EARLIEST_TIME
from service.comment_cursors import LATEST_TIME
from service.comment_cursors import comments_cursor_field
from service.comment_cursors import decode_comments_cursor
from service.comment_cursors import encode_comments_cursor
from service.comment_schemas import SORTS
from service.comment_schemas import CommentInput
from service.comment_schemas import CommentPatch
from service.comment_schemas import CommentResult
from service.comment_schemas import CommentsPage
from service.comment_schemas import CommentsQuery
from service.comment_schemas import Counts
from service.comment_schemas import CountsQuery
from service.comment_schemas import Features
from service.comment_schemas import LikeResult
from service.comment_schemas import ModerateAction
from service.comment_schemas import ModerationPage
from service.comment_schemas import ModerationQuery
from service.comment_schemas import PostResult
from service.comment_schemas import PrivateComment
from service.comment_schemas import PublicComment
from service.comment_schemas import Widget
from service.comment_schemas import WidgetQuery
from service.comment_schemas import WidgetSite
from service.ranking_schemas import CATEGORY_KEY_RE
from service.ranking_schemas import CategoryInput
from service.ranking_schemas import CategoryOutput
from service.ranking_schemas import CategoryRanking
from service.ranking_schemas import History
from service.ranking_schemas import HistoryEntry
from service.ranking_schemas import HistoryQuery
from service.ranking_schemas import Labels
from service.ranking_schemas import LangQuery
from service.ranking_schemas import Observation
from service.ranking_schemas import Rankings
from service.ranking_schemas import RecordPositions
from service.schema_fields import FUTURE_TOLERANCE
from service.schema_fields import ArticleField
from service.schema_fields import CollapsedLine
from service.schema_fields import FullMatch
from service.schema_fields import QueryInteger
from service.schema_fields import StrictBoolean
from service.schema_fields import StrictInteger
from service.schema_fields import StrictSchema
from service.schema_fields import UtcDateTime
from service.schema_fields import article_key
from service.schema_fields import body_text
from service.schema_fields import display_name
from service.schema_fields import email_address
from service.schema_fields import http_url
from service.schema_fields import name_field
from service.schema_fields import not_in_future
from service.schema_fields import plain_line
from service.text_rules import ARTICLE_MAX
from service.text_rules import ARTICLE_PATTERN
from service.text_rules import AUTHOR_MAX
from service.text_rules import BIDI_RE
from service.text_rules import BODY_MAX
from service.text_rules import BODY_PATTERN
from service.text_rules import CONTROL_RE
from service.text_rules import EMAIL_MAX
from service.text_rules import EMAIL_PATTERN
from service.text_rules import LABEL_MAX
from service.text_rules import LINE_CONTROL_RE
from service.text_rules import LINE_PATTERN
from service.text_rules import LINK_URL_RE
from service.text_rules import MAX_ID
from service.text_rules import MAX_INT_DIGITS
from service.text_rules import MAX_ORDER
from service.text_rules import MAX_POSITION
from service.text_rules import NAME_PATTERN
from service.text_rules import TITLE_MAX
from service.text_rules import URL_MAX
from service.text_rules import WEBSITE_MAX
from service.text_rules import article_problem
from service.text_rules import body_problem
from service.text_rules import collapse_line
from service.text_rules import email_problem
from service.text_rules import line_problem
from service.text_rules import name_problem
