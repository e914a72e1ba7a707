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
* The author mark goes to comments by a WordPress user who wrote a post or page in the
  file. WordPress lists those users (``wp:author``) before the items, so a comment's user
  is known as one at once; when the user's own post comes later in the file than the
  comment, the mark is given once the file is read (``AuthorComments``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import IO
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from service.transfer.items import (
    AuthorComments,
    ImportRefused,
    ImportSource,
    IncomingComment,
    IncomingThread,
    Item,
    foreign_comment,
)
from service.transfer.xml_stream import (
    XmlFileReader,
    local_name,
    refusing_unsafe_xml,
    root_element,
    xml_events,
)

WP_NAMESPACE_PREFIX = "{http://wordpress.org/export/"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
THREAD_TYPES = frozenset({"post", "page"})
COMMENT_TYPES = frozenset({"", "comment", "review"})
WP_STATUSES = {"1": "approved", "0": "pending", "spam": "spam"}
TRASH_STATUSES = frozenset({"trash", "post-trashed"})
_ZERO_DATE = "0000-00-00 00:00:00"
_WP_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_BLANK_LINE = re.compile(r"\n\s*\n")
# Blocks that wpautop does not wrap in <p>: they are paragraphs (or lists) already.
_BLOCK_START = re.compile(r"^\s*<(?:p|blockquote|ul|ol|pre|div|h[1-6]|table)[\s>]", re.I)
_PRE_BLOCK = re.compile(r"<pre[\s>].*?</pre>", re.I | re.S)


def _is_wp(tag: str, name: str) -> bool:
    return tag.startswith(WP_NAMESPACE_PREFIX) and tag.endswith("}" + name)


def _wp_fields(element: Element) -> dict[str, str]:
    """The text of each ``wp:`` child by its local name (the first one of a name), read in
    one pass over the children rather than one pass per field."""
    fields: dict[str, str] = {}
    for child in element:
        if child.tag.startswith(WP_NAMESPACE_PREFIX):
            fields.setdefault(child.tag.rpartition("}")[2], child.text or "")
    return fields


def wordpress_paragraphs(text: str) -> str:
    """WordPress's display rules for comment text (wpautop): a blank line starts a new
    paragraph, a single newline is a line break, and blocks written as HTML stay blocks.
    Newlines inside ``<pre>`` are kept as they are."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _PRE_BLOCK.sub(keep, text)
    out: list[str] = []
    for chunk in _BLANK_LINE.split(text):
        chunk = chunk.strip()
        if not chunk:
            continue
        if chunk.startswith("\x00") or _BLOCK_START.match(chunk):
            out.append(chunk)
        else:
            out.append("<p>" + chunk.replace("\n", "<br>\n") + "</p>")
    html = "\n".join(out)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], html)


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


def _article(link: str) -> str | None:
    """The thread key of a post: its link's path as written (percent-encoding kept)."""
    link = link.strip()
    if not link:
        return None
    try:
        return urlsplit(link).path or "/"
    except ValueError:
        return None


class _WxrReader(XmlFileReader):
    """Hands on one WXR file's posts (as threads) and comments while it is parsed."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "WordPress")
        self.threads: dict[str, IncomingThread] = {}  # article -> thread (one per post)
        self.used: set[str] = set()  # articles handed on, each before its first comment
        self.author_ids: dict[str, str] = {}  # login -> WordPress user id (wp:author)
        self.creators: set[str] = set()  # logins that wrote a post or page in the file
        self.author_users: set[str] = set()  # user ids of those
        self.maybe_authors: list[tuple[str, str]] = []  # (source key, user id), decided last
        self.items_skipped: Counter[str] = Counter()
        self.unpublished = 0
        self.saw_channel = False

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

    def _items(self) -> Iterator[Item]:
        with self._refusals(), open(self.path, "rb") as handle:
            self.handle = handle
            yield from self._parse(handle)
        if not self.saw_channel:
            raise ImportRefused(
                f"{self.path} is not a WordPress export: it has no <rss><channel> "
                "(export it in WordPress under Tools → Export)"
            )
        yield from self._finish()

    def _parse(self, handle: IO[bytes]) -> Iterator[Item]:
        depth = 0
        root: Element | None = None
        channel: Element | None = None
        for event, element in xml_events(handle):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                elif depth == 2 and element.tag == "channel":
                    channel = element
                    self.saw_channel = True
                continue
            depth -= 1
            if depth == 2 and channel is not None:
                if element.tag == "item":
                    yield from self._item(element)
                elif _is_wp(element.tag, "author"):
                    self._author(element)
                channel.remove(element)  # read: let it go, memory stays flat
            elif depth == 1 and root is not None and element is channel:
                root.remove(element)

    def _author(self, element: Element) -> None:
        fields = _wp_fields(element)
        login = fields.get("author_login", "").strip()
        user_id = fields.get("author_id", "").strip()
        if login and user_id:
            self.author_ids[login] = user_id
            if login in self.creators:
                self.author_users.add(user_id)

    def _item(self, item: Element) -> Iterator[Item]:
        fields = _wp_fields(item)
        post_type = fields.get("post_type", "").strip()
        comments = [child for child in item if _is_wp(child.tag, "comment")]
        skipped = self.source.skipped
        if post_type not in THREAD_TYPES:
            self.items_skipped[post_type or "without a type"] += 1
            if comments:
                skipped[f"on a WordPress {post_type or 'item'}, not a post or page"] += len(
                    comments
                )
            return
        creator = (item.findtext(DC_CREATOR) or "").strip()
        if creator and creator not in self.creators:
            self.creators.add(creator)
            if creator in self.author_ids:
                self.author_users.add(self.author_ids[creator])
        article = _article(item.findtext("link") or "")
        post_id = fields.get("post_id", "").strip()
        if article is None or not post_id:
            if comments:
                skipped["on a post without a link or post_id"] += len(comments)
            return
        title = (item.findtext("title") or "").strip() or None
        thread = self.threads.get(article)
        if thread is None:
            link = (item.findtext("link") or "").strip()
            url = link if link.startswith(("http://", "https://")) else None
            thread = self.threads[article] = IncomingThread(article, title, url)
        if fields.get("status", "").strip() not in ("publish", "") and comments:
            self.unpublished += len(comments)
        for element in comments:
            incoming = self._comment(element, thread, post_id)
            if incoming is None:
                continue
            if article not in self.used:
                self.used.add(article)
                yield thread
            yield incoming

    def _comment(
        self, element: Element, thread: IncomingThread, post_id: str
    ) -> IncomingComment | None:
        skipped, adjusted = self.source.skipped, self.source.adjusted
        fields = _wp_fields(element)
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
            body_html=wordpress_paragraphs(fields.get("comment_content", "")),
        )
        user_id = fields.get("comment_user_id", "").strip()
        if user_id in self.author_users:
            incoming.is_author = True
        elif user_id in self.author_ids.values():  # a post author whose post comes later
            self.maybe_authors.append((incoming.source_key, user_id))
        return incoming

    def _finish(self) -> Iterator[Item]:
        # Only now is every post's author known: a post may come after comments by its author.
        late = [key for key, user_id in self.maybe_authors if user_id in self.author_users]
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
    """A WordPress WXR export (1.1 or 1.2): posts and pages, comments, replies, statuses."""
    return _WxrReader(path).open()
