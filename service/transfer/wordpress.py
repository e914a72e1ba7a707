"""Reading a WordPress WXR export (Tools → Export) into an import batch.

The file is read as a stream (``transfer_xml``: DTDs and entities refused) and every
``<item>`` is handed on and dropped as soon as it has been read, so neither the XML tree
nor anything else grows with the file; ``transfer_pipeline`` writes the comments as they
come, in one transaction. What WordPress knows about readers' machines
(``comment_author_IP``) and agents is never read.

Choices where the contract leaves room, so that a blogger moving in gets what their
WordPress showed:

* A comment whose ``comment_date_gmt`` is empty or ``0000-00-00 00:00:00`` (WordPress
  writes that for some imported or scheduled content) takes ``comment_date`` as UTC: a
  WXR file does not carry the blog's time zone, so UTC is the one reading that is never
  more than a day off; the summary counts those comments.
* Comment types other than a plain comment (``""``/``comment``) and WooCommerce's
  ``review`` are not reader comments: pingbacks and trackbacks are counted by name,
  anything else (order notes, plugin types) likewise.
* ``source_key`` is ``wordpress:<post id>:<comment id>``: comment ids are unique in one
  WordPress site, and the post id keeps two exports of a multisite network apart when
  they go into one Ranklet site.
* Each post or page is the thread of the canonical key of its ``<link>``
  (``article_from_url``: the path, with ``p``/``page_id`` of plain permalinks kept), so the
  thread is the one the embed opens on that page. An item without ``wp:post_type`` is a
  post, as WordPress reads it.
* The author mark goes to comments by a WordPress user who wrote a post or page in the
  file: ``comment_user_id`` matched to ``wp:author`` by id, or, in exports whose authors
  have no id (WordPress.com's), by e-mail or name; a ``comment_user_id`` of 0 never. When
  the user's own post comes later in the file than the comment, the mark is given once the
  file is read (``AuthorComments``).
* A file in which nothing was recognized (no post, page or comment) is refused: an import
  that "succeeds" with nothing is how a wrong file would look fine.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO
from xml.etree.ElementTree import Element

from service.core.text_rules import article_from_url
from service.transfer.items import (
    AuthorComments,
    ImportRefused,
    ImportSource,
    IncomingComment,
    IncomingThread,
    Item,
    foreign_comment,
)
from service.transfer.rows import MAX_HTML
from service.transfer.wpautop import wordpress_paragraphs
from service.transfer.xml_stream import (
    XmlFileReader,
    local_name,
    refusing_unsafe_xml,
    root_element,
    xml_events,
)

__all__ = ["read_wordpress", "wordpress_paragraphs"]

# WordPress's own importer finds its namespace in the document: 1.0 to 1.2 so far, http or
# https (WordPress.com writes https://wordpress.org/export/1.2/). The excerpt namespace
# (".../1.2/excerpt/") is another one and does not match.
WP_NAMESPACE = re.compile(r"\{https?://wordpress\.org/export/1\.[0-9]{1,3}/\}")
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
THREAD_TYPES = frozenset({"post", "page"})
COMMENT_TYPES = frozenset({"", "comment", "review"})
WP_STATUSES = {"1": "approved", "0": "pending", "spam": "spam"}
TRASH_STATUSES = frozenset({"trash", "post-trashed"})
_NOT_WXR = "item without WordPress fields"
_ZERO_DATE = "0000-00-00 00:00:00"
_WP_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass
class _Post:
    """The item being read, known from its fields before its first comment."""

    post_id: str = ""
    post_type: str = "post"
    thread: IncomingThread | None = None
    unpublished: bool = False


def _laid_out(content: str) -> str:
    """WordPress's paragraphs, for a body the writer may take: one over its limit is
    refused there (``transfer_rows``) without being laid out first."""
    return wordpress_paragraphs(content) if len(content) <= MAX_HTML else content


def _wp_time(value: str) -> datetime | None:
    value = value.strip()
    if not value or value == _ZERO_DATE:
        return None
    try:
        if _WP_DATE.fullmatch(value):  # how WordPress writes it; much faster to read
            moment = datetime.fromisoformat(value)
        else:
            moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC)


class _WxrReader(XmlFileReader):
    """Hands on one WXR file's posts (as threads) and comments while it is parsed.

    Each ``<wp:comment>`` is handled at its end tag and dropped from its item at once, so
    memory holds one comment at a time, however many a post has: WordPress writes a post's
    own fields (link, id, type) before its comments, and those are read at the first one.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, "WordPress")
        self.wp: str | None = None  # the document's "{http(s)://wordpress.org/export/1.x/}"
        self.threads: dict[str, IncomingThread] = {}  # article -> thread (one per post)
        self.used: set[str] = set()  # articles handed on, each before its first comment
        self.login_by_id: dict[str, str] = {}  # wp:author's id (or one learned) -> login
        self.login_by_email: dict[str, str] = {}  # of authors without an id
        self.login_by_name: dict[str, str] = {}  # login or display name of those -> login
        self.creators: set[str] = set()  # logins that wrote a post or page in the file
        self.maybe_authors: list[tuple[str, str]] = []  # (source key, user id), decided last
        self.items_skipped: Counter[str] = Counter()
        self.items = 0
        self.comments = 0  # <wp:comment> elements seen on posts and pages
        self.posts = 0  # items that are posts or pages
        self.unpublished = 0
        self.saw_channel = False
        self.post: _Post | None = None

    def open(self) -> ImportSource:
        with self._refusals():
            root = root_element(self.path)
        if local_name(root.tag) != "rss":
            raise ImportRefused(
                f"{self.path} is not a WordPress export: its root element is "
                f"<{local_name(root.tag)}>, not <rss>"
            )
        return self.source

    def _refusals(self) -> AbstractContextManager[None]:
        return refusing_unsafe_xml(
            self.path,
            "WordPress",
            lambda error: (
                f"{self.path} is not a complete, valid XML file ({error}); a truncated "
                "export (an interrupted download?) ends like this: export it again"
            ),
        )

    def _wp_name(self, tag: str) -> str | None:
        """The local name of a ``wp:`` element, else None; the first one names the prefix."""
        if self.wp is None:
            if (found := WP_NAMESPACE.match(tag)) is None:
                return None
            self.wp = found.group(0)
        return tag[len(self.wp) :] if tag.startswith(self.wp) else None

    def _wp_fields(self, element: Element) -> dict[str, str]:
        """The text of each ``wp:`` child by its local name (the first one of a name), read
        in one pass over the children rather than one pass per field."""
        fields: dict[str, str] = {}
        for child in element:
            name = self._wp_name(child.tag)
            if name is not None and name != "comment":
                fields.setdefault(name, child.text or "")
        return fields

    def _items(self) -> Iterator[Item]:
        with self._refusals(), open(self.path, "rb") as handle:
            self.handle = handle
            yield from self._parse(handle)
        if not self.saw_channel:
            raise ImportRefused(
                f"{self.path} is not a WordPress export: it has no <rss><channel> "
                "(export it in WordPress under Tools → Export)"
            )
        if not self.posts and not self.comments:
            self._refuse_empty()
        yield from self._finish()

    def _refuse_empty(self) -> None:
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.items_skipped.most_common())
        found = f"{self.items} <item> elements" + (f" ({kinds})" if kinds else "")
        hint = (
            "it has no element of WordPress's export namespace (wordpress.org/export/1.x/)"
            if self.wp is None
            else "none of them is a post or page"
        )
        raise ImportRefused(
            f"nothing to import in {self.path}: found {found}, no post, page or comment; "
            f"{hint}. Export it again in WordPress under Tools → "
            "Export (All content or Posts)."
        )

    def _parse(self, handle: IO[bytes]) -> Iterator[Item]:
        depth = 0
        root: Element | None = None
        channel: Element | None = None
        item: Element | None = None
        for event, element in xml_events(handle):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                elif depth == 2 and element.tag == "channel":
                    channel = element
                    self.saw_channel = True
                elif depth == 3 and channel is not None and element.tag == "item":
                    item, self.post = element, None
                continue
            depth -= 1
            if depth == 3 and item is not None and self._wp_name(element.tag) == "comment":
                yield from self._on_comment(item, element)
                item.remove(element)  # one comment in memory at a time
            elif depth == 2 and channel is not None:
                if element is item:
                    self._end_item(element)
                    item = None
                elif self._wp_name(element.tag) == "author":
                    self._author(element)
                channel.remove(element)  # read: let it go, memory stays flat
            elif depth == 1 and root is not None and element is channel:
                root.remove(element)

    def _author(self, element: Element) -> None:
        fields = self._wp_fields(element)
        login = fields.get("author_login", "").strip()
        if not login:
            return
        user_id = fields.get("author_id", "").strip()
        if user_id:
            self.login_by_id[user_id] = login
            return
        # WordPress.com's style: no ids, the author known by login and e-mail.
        if email := fields.get("author_email", "").strip().lower():
            self.login_by_email[email] = login
        self.login_by_name[login] = login
        if name := fields.get("author_display_name", "").strip():
            self.login_by_name.setdefault(name, login)

    def _start_post(self, item: Element) -> _Post:
        """The item's own fields, read once, at its first comment or at its end."""
        fields = self._wp_fields(item)
        post = _Post(post_id=fields.get("post_id", "").strip())
        # No post_type is a post, as WordPress reads it; no wp: field at all is not WXR.
        is_wxr = bool(fields) or any(self._wp_name(child.tag) for child in item)
        post.post_type = fields.get("post_type", "").strip() or ("post" if is_wxr else _NOT_WXR)
        if post.post_type not in THREAD_TYPES:
            return post
        self.posts += 1
        creator = (item.findtext(DC_CREATOR) or "").strip()
        if creator:
            self.creators.add(creator)
        link = (item.findtext("link") or "").strip()
        article = article_from_url(link)
        if article is None:
            return post
        if not post.post_id:  # seen in hand-made exports: the link names the post instead
            post.post_id = "link-" + hashlib.sha256(article.encode()).hexdigest()[:16]
        title = (item.findtext("title") or "").strip() or None
        thread = self.threads.get(article)
        if thread is None:
            url = link if link.startswith(("http://", "https://")) else None
            thread = self.threads[article] = IncomingThread(article, title, url)
        post.thread = thread
        post.unpublished = fields.get("status", "").strip() not in ("publish", "")
        return post

    def _on_comment(self, item: Element, element: Element) -> Iterator[Item]:
        post = self.post = self.post or self._start_post(item)
        if post.post_type not in THREAD_TYPES:
            self.source.skipped[
                "on an item without WordPress fields"
                if post.post_type == _NOT_WXR
                else f"on a WordPress {post.post_type}, not a post or page"
            ] += 1
            return
        self.comments += 1
        if post.thread is None:
            self.source.skipped["on a post without a link"] += 1
            return
        incoming = self._comment(element, post.thread, post.post_id)
        if incoming is None:
            return
        self.unpublished += post.unpublished
        if post.thread.article not in self.used:
            self.used.add(post.thread.article)
            yield post.thread
        yield incoming

    def _end_item(self, item: Element) -> None:
        self.items += 1
        post = self.post or self._start_post(item)
        if post.post_type not in THREAD_TYPES:
            self.items_skipped[post.post_type] += 1
        self.post = None

    def _comment(
        self, element: Element, thread: IncomingThread, post_id: str
    ) -> IncomingComment | None:
        skipped, adjusted = self.source.skipped, self.source.adjusted
        fields = self._wp_fields(element)
        comment_id = fields.get("comment_id", "").strip()
        if not comment_id:
            skipped["comment without comment_id"] += 1
            return None
        comment_type = fields.get("comment_type", "").strip()
        if comment_type not in COMMENT_TYPES:
            skipped[f"{comment_type} (not a reader comment)"] += 1
            return None
        approved = fields.get("comment_approved", "").strip()
        if approved in TRASH_STATUSES:
            skipped["in WordPress's trash"] += 1
            return None
        status = WP_STATUSES.get(approved)
        if status is None:
            status = "pending"
            adjusted[f"unknown comment_approved {approved[:20]!r}: held as pending"] += 1
        created_at = _wp_time(fields.get("comment_date_gmt", ""))
        if created_at is None:
            created_at = _wp_time(fields.get("comment_date", ""))
            if created_at is None:
                skipped["no valid comment_date"] += 1
                return None
            adjusted["no comment_date_gmt: comment_date taken as UTC"] += 1
        parent = fields.get("comment_parent", "").strip()
        incoming = foreign_comment(
            f"wordpress:{post_id}",
            comment_id,
            parent if parent not in ("", "0") else None,
            article=thread.article,
            created_at=created_at,
            status=status,
            author=fields.get("comment_author", ""),
            email=fields.get("comment_author_email", ""),
            website=fields.get("comment_author_url", ""),
            body_html=_laid_out(fields.get("comment_content", "")),
        )
        user_id = fields.get("comment_user_id", "").strip()
        if user_id in ("", "0"):  # not signed in: never the mark, whatever e-mail it gives
            return incoming
        login = self._author_login(user_id, fields)
        if login is not None and login in self.creators:
            incoming.is_author = True
        else:  # the post, or the user's id, may come later in the file
            self.maybe_authors.append((incoming.source_key, user_id))
        return incoming

    def _author_login(self, user_id: str, fields: dict[str, str]) -> str | None:
        """The export author who wrote a comment while signed in: ``comment_user_id`` by
        the authors' ids, or, where the export gives authors no id (WordPress.com), by the
        comment's e-mail or name; a user id matched so is that author's for the rest of the
        file (WordPress marks by user id, whatever name a comment shows)."""
        if user_id in self.login_by_id:
            return self.login_by_id[user_id]
        email = fields.get("comment_author_email", "").strip().lower()
        login = self.login_by_email.get(email) if email else None
        login = login or self.login_by_name.get(fields.get("comment_author", "").strip())
        if login is not None:
            self.login_by_id[user_id] = login
        return login

    def _finish(self) -> Iterator[Item]:
        # Only now is every post's author known: a post may come after comments by its author.
        late = [
            key
            for key, user_id in self.maybe_authors
            if self.login_by_id.get(user_id) in self.creators
        ]
        if late:
            yield AuthorComments(late)
        remarks = self.source.remarks
        remarks.append(
            "Not imported, on purpose: IP addresses and browser user agents. WordPress "
            "comment HTML was laid out by WordPress's paragraph rules and sanitized by "
            "Ranklet's allowlist (scripts, images and unsafe links removed)."
        )
        if self.items_skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in self.items_skipped.most_common())
            remarks.append(f"Items that are not posts or pages, not imported: {kinds}.")
        if self.unpublished:
            remarks.append(
                f"{self.unpublished} comments are on posts that are not published (drafts, "
                "private or scheduled); they were filed under the path of the post's link."
            )


def read_wordpress(path: str) -> ImportSource:
    """A WordPress WXR export (1.0 to 1.2, any ``wordpress.org/export/1.x/`` namespace):
    posts and pages, comments, replies, statuses, the author mark."""
    return _WxrReader(path).open()
