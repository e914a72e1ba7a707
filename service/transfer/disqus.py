"""Reading a Disqus XML export as a stream: threads, posts, parents, deleted and spam flags.

Disqus writes every ``<thread>`` before the ``<post>`` elements; each post is handed on as
soon as it is read, and dropped (``transfer_xml``). A post before its thread waits for it
(``ParkedComments``), so any order of the file gives the same import. A post's parent
may come later in the file; the writer waits for it. Disqus's ``ipAddress`` is never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from service.core.text_rules import article_from_url
from service.transfer.items import (
    ImportRefused,
    ImportSource,
    IncomingComment,
    IncomingThread,
    Item,
    foreign_comment,
)
from service.transfer.parked import ParkedComments
from service.transfer.xml_stream import (
    XmlFileReader,
    refusing_unsafe_xml,
    root_element,
    xml_events,
)

DISQUS = "{http://disqus.com}"
DSQ_ID = "{http://disqus.com/disqus-internals}id"
_NO_THREAD = "its thread is not in the file (or has no link)"
_DELETED_THREAD = "on a thread deleted in Disqus"


def _text(element: Element, name: str, ns: str) -> str:
    return (element.findtext(ns + name) or "").strip()


def _flag(element: Element, name: str, ns: str) -> bool:
    return _text(element, name, ns).lower() == "true"


def _reference(element: Element, name: str, ns: str) -> str | None:
    child = element.find(ns + name)
    return child.get(DSQ_ID) if child is not None else None


def _disqus_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def article_from_link(link: str) -> str:
    """The article key the embed would send for this page: its path (``p``/``page_id`` of a
    WordPress plain permalink kept), in the one canonical spelling of every door."""
    return article_from_url(link) or "/"


class _DisqusReader(XmlFileReader):
    def __init__(self, path: str) -> None:
        super().__init__(
            path,
            "Disqus",
            remarks=[
                "Not imported, on purpose: IP addresses. Disqus bodies are HTML and were "
                "sanitized by Ranklet's allowlist (scripts, images and unsafe links removed)."
            ],
        )
        self.threads: dict[str, IncomingThread] = {}  # dsq:id -> thread, for those with a link
        self.linkless: set[str] = set()  # dsq:ids of threads without a link
        self.deleted: set[str] = set()  # dsq:ids of threads marked <isDeleted>true
        self.used: set[str] = set()  # articles handed on, each before its first post
        self.early = ParkedComments()  # posts read before their thread, by its dsq:id
        self.ns = ""

    def open(self) -> ImportSource:
        with self._refusals():
            root = root_element(self.path)
        if root.tag not in (f"{DISQUS}disqus", "disqus"):
            raise ImportRefused(
                f"{self.path} is not a Disqus export: its root element is <{root.tag}>, "
                "not <disqus>"
            )
        self.ns = DISQUS if root.tag.startswith(DISQUS) else ""
        return self.source

    def _refusals(self) -> AbstractContextManager[None]:
        return refusing_unsafe_xml(
            self.path, "Disqus", lambda error: f"{self.path} is not valid XML ({error})"
        )

    def _items(self) -> Iterator[Item]:
        try:
            with self._refusals(), open(self.path, "rb") as handle:
                self.handle = handle
                depth = 0
                root: Element | None = None
                for event, element in xml_events(handle):
                    if event == "start":
                        depth += 1
                        root = element if depth == 1 else root
                        continue
                    depth -= 1
                    if depth == 1 and root is not None:
                        if element.tag == self.ns + "thread":
                            yield from self._thread(element)
                        elif element.tag == self.ns + "post":
                            yield from self._post(element)
                        root.remove(element)  # read: let it go, memory stays flat
            for _post in self.early.drain():
                self.source.skipped[_NO_THREAD] += 1
        finally:
            self.early.close()

    def _thread(self, element: Element) -> Iterator[Item]:
        thread_id = element.get(DSQ_ID)
        link = _text(element, "link", self.ns)
        if not thread_id:
            return
        if _flag(element, "isDeleted", self.ns):  # Disqus hides its comments: so do we
            self.deleted.add(thread_id)
            self.source.skipped[_DELETED_THREAD] += len(self.early.take(thread_id))
            return
        if not link:
            self.linkless.add(thread_id)
            return
        thread = self.threads[thread_id] = IncomingThread(
            article_from_link(link),
            _text(element, "title", self.ns) or None,
            link if link.startswith(("http://", "https://")) else None,
        )
        for post in self.early.take(thread_id):
            yield from self._on_thread(post, thread)

    def _on_thread(self, post: IncomingComment, thread: IncomingThread) -> Iterator[Item]:
        post.article = thread.article
        if thread.article not in self.used:
            self.used.add(thread.article)
            yield thread
        yield post

    def _post(self, element: Element) -> Iterator[Item]:
        ns, skipped = self.ns, self.source.skipped
        post_id = element.get(DSQ_ID)
        if not post_id:
            skipped["post without dsq:id"] += 1
            return
        thread_id = _reference(element, "thread", ns) or ""
        if thread_id in self.deleted:
            skipped[_DELETED_THREAD] += 1
            return
        thread = self.threads.get(thread_id)
        if thread is None and (not thread_id or thread_id in self.linkless):
            skipped[_NO_THREAD] += 1
            return
        created_at = _disqus_time(_text(element, "createdAt", ns))
        if created_at is None:
            skipped["no valid createdAt"] += 1
            return
        if _flag(element, "isDeleted", ns):
            status = "deleted"
        elif _flag(element, "isSpam", ns):
            status = "spam"
        else:
            status = "approved"
        author = element.find(ns + "author")
        if author is None:
            author = Element("author")
        post = foreign_comment(
            "disqus",
            post_id,
            _reference(element, "parent", ns) or None,
            article=thread.article if thread else "",
            created_at=created_at,
            status=status,
            author=_text(author, "name", ns),
            email=_text(author, "email", ns),
            body_html=element.findtext(ns + "message") or "",
        )
        if thread is None:
            self.early.add(thread_id, post)  # its thread may still come
        else:
            yield from self._on_thread(post, thread)


def read_disqus(path: str) -> ImportSource:
    """A Disqus XML export: threads, posts, parents, deleted and spam flags."""
    return _DisqusReader(path).open()
