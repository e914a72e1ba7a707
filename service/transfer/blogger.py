"""Reading a Blogger export: Settings → Back up content, or Google Takeout's ``feed.atom``.

Both are one Atom feed of every post, page and comment (and, in the old backup, the
settings and template), told apart by a ``kind#post`` category in the backup and by
``<blogger:type>`` in Takeout's ``blogger:`` namespace (``schemas.google.com/blogger/2018``).
Neither promises that a post comes before its comments (Takeout often lists comments
first). The file is read once as a stream (``transfer_xml``: DTDs and entities refused,
each entry dropped once read), keeping one small record per post or page (its path,
title and state); a comment whose post has not come yet waits for it in
``ParkedComments`` (on disk past a few thousand), as Disqus posts wait for their thread.
Memory grows with the number of articles, never with the number of comments.

What the file records, honoured:

* a post's or page's thread is the path of its ``alternate`` link (Takeout:
  ``blogger:filename`` where there is no link); comments on a trashed or deleted post are
  not imported, comments on a draft are (filed under its path) and counted;
* a comment's post is ``blogger:parent`` (Takeout) or ``thr:in-reply-to`` (backup); its
  parent comment, for a reply, is ``blogger:inReplyTo`` (Takeout) or the backup's
  ``related`` link; ``blogger:status`` LIVE is public, PENDING held, SPAM kept as spam,
  and a trashed, emptied or removed comment is not imported;
* ``noreply@blogger.com``, Blogger's placeholder for "no address", is not an address;
  a comment whose author's profile (``uri``) is that of the author of a post read so far
  (its own post's author at least) is the blog author's.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from service.transfer.items import (
    ImportRefused,
    ImportSource,
    IncomingComment,
    IncomingThread,
    Item,
)
from service.transfer.parked import ParkedComments
from service.transfer.wordpress import wordpress_paragraphs
from service.transfer.xml_stream import (
    XmlFileReader,
    local_name,
    refusing_unsafe_xml,
    root_element,
    xml_events,
)

ATOM = "{http://www.w3.org/2005/Atom}"
BLOGGER = "{http://schemas.google.com/blogger/2018}"
THR = "{http://purl.org/syndication/thread/1.0}"
GD = "{http://schemas.google.com/g/2005}"
KIND_SCHEME = "http://schemas.google.com/g/2005#kind"
NO_ADDRESS = "noreply@blogger.com"
COMMENT_STATUSES = {"LIVE": "approved", "PENDING": "pending", "SPAM": "spam"}
GONE_STATUSES = frozenset({"DELETED", "EMPTIED", "SOFT_TRASHED", "TRASHED", "REMOVED"})
DRAFT_STATUSES = frozenset({"DRAFT", "SCHEDULED", "IMPORTED"})
KINDS = frozenset({"post", "page", "comment", "settings", "template"})
_ID_NUMBER = re.compile(r"(?:post|page|comment)-(\d+)$|/(\d+)$")


@dataclass(slots=True)
class _Article:
    path: str | None
    title: str | None
    url: str | None
    state: str  # "live", "draft" or "deleted"


def _text(element: Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def _number(identifier: str) -> str:
    """Blogger's ids (``tag:blogger.com,1999:blog-1.post-42``, a feed URL ending ``/42``)
    by their number, the part that is the same in every place an id is written."""
    identifier = identifier.strip()
    match = _ID_NUMBER.search(identifier)
    return next((g for g in match.groups() if g), identifier) if match else identifier


def _kind(entry: Element) -> str:
    kind = _text(entry, BLOGGER + "type").lower()
    if kind:
        return kind
    for category in entry.iter(ATOM + "category"):
        if category.get("scheme") == KIND_SCHEME:
            return (category.get("term") or "").rpartition("#")[2].lower()
    return ""


def _link(entry: Element, rel: str) -> str:
    for link in entry.findall(ATOM + "link"):
        if link.get("rel") == rel and link.get("href"):
            return (link.get("href") or "").strip()
    return ""


def _path(address: str) -> str | None:
    if not address:
        return None
    try:
        parts = urlsplit(address)
    except ValueError:
        return None
    return (parts.path or "/") if parts.scheme in ("http", "https", "") else None


def _moment(value: str) -> tuple[datetime | None, bool]:
    """(time, whether its zone had to be assumed) from an Atom date."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, False
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC), True
    return moment.astimezone(UTC), False


def _gone(entry: Element) -> bool:
    if _text(entry, BLOGGER + "trashed"):
        return True
    if _text(entry, BLOGGER + "status").upper() in GONE_STATUSES:
        return True
    return any(
        prop.get("name") == "blogger.contentRemoved" and prop.get("value") == "true"
        for prop in entry.findall(GD + "extendedProperty")
    )


class _BloggerReader(XmlFileReader):
    """One streaming pass; a comment read before its post waits for it (``ParkedComments``)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "Blogger")
        self.articles: dict[str, _Article] = {}  # post or page number -> article
        self.author_uris: set[str] = set()
        self.used: set[str] = set()
        self.early = ParkedComments()  # comments read before their post, by its number
        self.kinds: Counter[str] = Counter()
        self.on_drafts = 0
        self.no_address = 0
        self.takeout = False

    def open(self) -> ImportSource:
        with self._refusals():
            root = root_element(self.path)
        if root.tag != ATOM + "feed":
            raise ImportRefused(
                f"{self.path} is not a Blogger export: its root element is "
                f"<{local_name(root.tag)}>, not an Atom <feed>"
            )
        return self.source

    def _refusals(self) -> AbstractContextManager[None]:
        return refusing_unsafe_xml(
            self.path,
            "Blogger",
            lambda error: (
                f"{self.path} is not a complete, valid XML file ({error}); a truncated "
                "export (an interrupted download?) ends like this: export it again"
            ),
        )

    def _items(self) -> Iterator[Item]:
        try:
            with self._refusals(), open(self.path, "rb") as handle:
                self.handle = handle
                for entry in self._entries(handle):
                    kind = _kind(entry)
                    self.kinds[kind if kind in KINDS else "other"] += 1
                    if _text(entry, BLOGGER + "type"):
                        self.takeout = True
                    if kind in ("post", "page"):
                        yield from self._article(entry)
                    elif kind == "comment":
                        yield from self._comment(entry)
            if not self.articles and not self.kinds["comment"]:
                raise ImportRefused(
                    f"{self.path} is not a Blogger export: it has no posts, pages or "
                    "comments (Blogger: Settings → Back up content; or Google Takeout's "
                    "feed.atom)"
                )
            for _comment in self.early.drain():
                self.source.skipped["comment on a post that is not in the file"] += 1
        finally:
            self.early.close()
        self._finish()

    def _entries(self, handle: IO[bytes]) -> Iterator[Element]:
        depth = 0
        root: Element | None = None
        for event, element in xml_events(handle):
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                continue
            depth -= 1
            if depth == 1 and root is not None:
                if element.tag == ATOM + "entry":
                    yield element
                root.remove(element)  # read: let it go, memory stays flat

    def _article(self, entry: Element) -> Iterator[Item]:
        status = _text(entry, BLOGGER + "status").upper()
        draft = entry.find("{http://purl.org/atom/app#}control/{http://purl.org/atom/app#}draft")
        if _gone(entry):
            state = "deleted"
        elif status in DRAFT_STATUSES or (draft is not None and (draft.text or "") == "yes"):
            state = "draft"
        else:
            state = "live"
        link = _link(entry, "alternate")
        path = _path(link) or _path(_text(entry, BLOGGER + "filename"))
        url = link if link.startswith(("http://", "https://")) and len(link) <= 2048 else None
        title = _text(entry, ATOM + "title")[:512] or None  # kept per article: kept short
        number = _number(_text(entry, ATOM + "id"))
        article = self.articles[number] = _Article(path, title, url, state)
        if state != "deleted" and (uri := _text(entry, f"{ATOM}author/{ATOM}uri")):
            self.author_uris.add(uri)
        for incoming in self.early.take(number):
            yield from self._on_article(incoming, article)

    def _comment(self, entry: Element) -> Iterator[Item]:
        skipped, adjusted = self.source.skipped, self.source.adjusted
        reply_to = entry.find(THR + "in-reply-to")
        post = _number(
            _text(entry, BLOGGER + "parent")
            or (reply_to.get("ref", "") if reply_to is not None else "")
        )
        if _gone(entry):
            skipped["deleted or trashed in Blogger"] += 1
            return
        status_text = _text(entry, BLOGGER + "status").upper()
        status = COMMENT_STATUSES.get(status_text or "LIVE")
        if status is None:
            status = "pending"
            adjusted[f"unknown blogger:status {status_text[:20]!r}: held as pending"] += 1
        created_at, assumed = _moment(_text(entry, ATOM + "published"))
        if created_at is None:
            skipped["comment without a valid published date"] += 1
            return
        if assumed:
            adjusted["published date without a zone: taken as UTC"] += 1
        parent = _text(entry, BLOGGER + "inReplyTo") or _link(entry, "related")
        author = entry.find(ATOM + "author")
        name = email = uri = ""
        if author is not None:
            name, email, uri = (_text(author, ATOM + part) for part in ("name", "email", "uri"))
        if email.lower() == NO_ADDRESS:
            email = ""
            self.no_address += 1
        content = entry.find(ATOM + "content")
        body = (content.text or "") if content is not None else ""
        if content is not None and content.get("type", "html") == "text":
            body = wordpress_paragraphs(html.escape(body, quote=False))
        incoming = IncomingComment(
            source_key=f"blogger:{_number(_text(entry, ATOM + 'id'))}",
            parent_key=f"blogger:{_number(parent)}" if parent else None,
            article="",  # the post's path, once the post is known
            created_at=created_at,
            status=status,
            author=name or None,
            email=email or None,
            website=uri or None,
            body_html=body,
        )
        article = self.articles.get(post)
        if article is None:
            self.early.add(post, incoming)  # Takeout often lists comments before their post
        else:
            yield from self._on_article(incoming, article)

    def _on_article(self, incoming: IncomingComment, article: _Article) -> Iterator[Item]:
        skipped = self.source.skipped
        if article.state == "deleted":
            skipped["comment on a deleted post"] += 1
            return
        if article.path is None:
            skipped["comment on a post without an address (a draft never published?)"] += 1
            return
        if article.state == "draft":
            self.on_drafts += 1
        incoming.article = article.path
        incoming.is_author = bool(incoming.website) and incoming.website in self.author_uris
        if article.path not in self.used:
            self.used.add(article.path)
            yield IncomingThread(article.path, article.title, article.url)
        yield incoming

    def _finish(self) -> None:
        remarks = self.source.remarks
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.kinds.items()))
        remarks.append(
            f"Read as {'Google Takeout feed.atom' if self.takeout else 'Blogger backup'}"
            f" ({kinds} entries)."
        )
        if self.on_drafts:
            remarks.append(
                f"{self.on_drafts} comments are on drafts or scheduled posts; they were "
                "filed under the path the post has."
            )
        if self.no_address:
            remarks.append(
                f"{self.no_address} comments gave Blogger's placeholder {NO_ADDRESS}: "
                "kept without an e-mail address."
            )


def read_blogger(path: str) -> ImportSource:
    """A Blogger backup (Atom) or Takeout feed.atom: posts' and pages' comments, replies."""
    return _BloggerReader(path).open()
