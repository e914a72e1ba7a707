"""Reading a WordPress WXR export (Tools → Export) into an import batch.

The file is read as a stream (defusedxml's ``iterparse``, DTDs and entities refused) and
every ``<item>`` is dropped once it has been read, so the XML tree never grows with the
file. What WordPress knows about readers' machines (``comment_author_IP``) and agents is
never read. ``transfer.apply_batch`` writes the batch in one transaction.

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
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import IO
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml import ElementTree as SafeElementTree

from service.transfer import ImportBatch, ImportRefused, IncomingComment, IncomingThread

WP_NAMESPACE_PREFIX = "{http://wordpress.org/export/"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
THREAD_TYPES = frozenset({"post", "page"})
COMMENT_TYPES = frozenset({"", "comment", "review"})
WP_STATUSES = {"1": "approved", "0": "pending", "spam": "spam"}
TRASH_STATUSES = frozenset({"trash", "post-trashed"})
_ZERO_DATE = "0000-00-00 00:00:00"
_BLANK_LINE = re.compile(r"\n\s*\n")
# Blocks that wpautop does not wrap in <p>: they are paragraphs (or lists) already.
_BLOCK_START = re.compile(r"^\s*<(?:p|blockquote|ul|ol|pre|div|h[1-6]|table)[\s>]", re.I)
_PRE_BLOCK = re.compile(r"<pre[\s>].*?</pre>", re.I | re.S)


def _local(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _is_wp(tag: str, name: str) -> bool:
    return tag.startswith(WP_NAMESPACE_PREFIX) and tag.endswith("}" + name)


def _wp_text(element: Element, name: str) -> str:
    for child in element:
        if _is_wp(child.tag, name):
            return child.text or ""
    return ""


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


class _WxrReader:
    """Collects one WXR file's posts and comments; the XML itself is dropped as it is read."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.batch = ImportBatch(source="WordPress")
        self.threads: dict[str, IncomingThread] = {}
        self.used: dict[str, IncomingThread] = {}
        self.seen: set[str] = set()
        self.author_ids: dict[str, str] = {}  # login -> WordPress user id (wp:author)
        self.creators: set[str] = set()  # logins that wrote a post or page in the file
        self.by_user: list[tuple[IncomingComment, str]] = []
        self.items_skipped: Counter[str] = Counter()
        self.unpublished = 0
        self.saw_channel = False

    def read(self) -> ImportBatch:
        try:
            with open(self.path, "rb") as handle:
                self._parse(handle)
        except defusedxml.DTDForbidden:
            raise ImportRefused(
                f"{self.path} declares a DTD (<!DOCTYPE ...>); WordPress exports never do, "
                "and DTDs carry entity-expansion ('billion laughs') and external-entity "
                "attacks, so the file is refused"
            ) from None
        except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
            raise ImportRefused(
                f"{self.path} declares XML entities or external references; WordPress "
                "exports never do, so the file is refused"
            ) from None
        except ParseError as error:
            raise ImportRefused(
                f"{self.path} is not a complete, valid XML file ({error}); a truncated "
                "export (an interrupted download?) ends like this: export it again"
            ) from None
        except RecursionError:
            raise ImportRefused(f"{self.path} is nested too deeply to be a WXR file") from None
        except LookupError as error:  # <?xml encoding="..."?> names no known encoding
            raise ImportRefused(f"{self.path} is not valid XML ({error})") from None
        if not self.saw_channel:
            raise ImportRefused(
                f"{self.path} is not a WordPress export: it has no <rss><channel> "
                "(export it in WordPress under Tools → Export)"
            )
        return self._finish()

    def _parse(self, handle: IO[bytes]) -> None:
        depth = 0
        root: Element | None = None
        channel: Element | None = None
        events = SafeElementTree.iterparse(handle, events=("start", "end"), forbid_dtd=True)
        for event, element in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    root = element
                    if _local(element.tag)[1] != "rss":
                        raise ImportRefused(
                            f"{self.path} is not a WordPress export: its root element is "
                            f"<{_local(element.tag)[1]}>, not <rss>"
                        )
                elif depth == 2 and element.tag == "channel":
                    channel = element
                    self.saw_channel = True
                continue
            depth -= 1
            if depth == 2 and channel is not None:
                if element.tag == "item":
                    self._item(element)
                elif _is_wp(element.tag, "author"):
                    login = _wp_text(element, "author_login").strip()
                    user_id = _wp_text(element, "author_id").strip()
                    if login and user_id:
                        self.author_ids[login] = user_id
                channel.remove(element)  # read: let it go, memory stays flat
            elif depth == 1 and root is not None and element is channel:
                root.remove(element)

    def _item(self, item: Element) -> None:
        post_type = _wp_text(item, "post_type").strip()
        comments = [child for child in item if _is_wp(child.tag, "comment")]
        if post_type not in THREAD_TYPES:
            self.items_skipped[post_type or "without a type"] += 1
            if comments:
                self.batch.skipped[f"on a WordPress {post_type or 'item'}, not a post or page"] += (
                    len(comments)
                )
            return
        creator = (item.findtext(DC_CREATOR) or "").strip()
        if creator:
            self.creators.add(creator)
        article = _article(item.findtext("link") or "")
        post_id = _wp_text(item, "post_id").strip()
        if article is None or not post_id:
            if comments:
                self.batch.skipped["on a post without a link or post_id"] += len(comments)
            return
        title = (item.findtext("title") or "").strip() or None
        thread = self.threads.get(article)
        if thread is None:
            link = (item.findtext("link") or "").strip()
            url = link if link.startswith(("http://", "https://")) else None
            thread = self.threads[article] = IncomingThread(article, title, url)
        if _wp_text(item, "status").strip() not in ("publish", "") and comments:
            self.unpublished += len(comments)
        for comment in comments:
            self._comment(comment, thread, post_id)

    def _comment(self, element: Element, thread: IncomingThread, post_id: str) -> None:
        batch = self.batch
        comment_id = _wp_text(element, "comment_id").strip()
        if not comment_id:
            batch.skipped["comment without comment_id"] += 1
            return
        key = f"wordpress:{post_id}:{comment_id}"
        if key in self.seen:
            batch.skipped["appears twice in the file"] += 1
            return
        self.seen.add(key)
        comment_type = _wp_text(element, "comment_type").strip()
        if comment_type not in COMMENT_TYPES:
            batch.skipped[f"{comment_type} (not a reader comment)"] += 1
            return
        approved = _wp_text(element, "comment_approved").strip()
        if approved in TRASH_STATUSES:
            batch.skipped["in WordPress's trash"] += 1
            return
        status = WP_STATUSES.get(approved)
        if status is None:
            status = "pending"
            batch.adjusted[f"unknown comment_approved {approved[:20]!r}: held as pending"] += 1
        created_at = _wp_time(_wp_text(element, "comment_date_gmt"))
        if created_at is None:
            created_at = _wp_time(_wp_text(element, "comment_date"))
            if created_at is None:
                batch.skipped["no valid comment_date"] += 1
                return
            batch.adjusted["no comment_date_gmt: comment_date taken as UTC"] += 1
        parent = _wp_text(element, "comment_parent").strip()
        incoming = IncomingComment(
            source_key=key,
            article=thread.article,
            created_at=created_at,
            status=status,
            parent_key=f"wordpress:{post_id}:{parent}" if parent not in ("", "0") else None,
            author=_wp_text(element, "comment_author") or None,
            email=_wp_text(element, "comment_author_email") or None,
            website=_wp_text(element, "comment_author_url") or None,
            body_html=wordpress_paragraphs(_wp_text(element, "comment_content")),
        )
        user_id = _wp_text(element, "comment_user_id").strip()
        if user_id not in ("", "0"):
            self.by_user.append((incoming, user_id))
        self.used.setdefault(thread.article, thread)
        batch.comments.append(incoming)

    def _finish(self) -> ImportBatch:
        batch = self.batch
        # Only now is every post's author known: a post may come after comments by its author.
        author_users = {
            self.author_ids[login] for login in self.creators if login in self.author_ids
        }
        for incoming, user_id in self.by_user:
            incoming.is_author = user_id in author_users
        batch.threads = list(self.used.values())
        batch.remarks.append(
            "Not imported, on purpose: IP addresses and browser user agents. WordPress "
            "comment HTML was laid out by WordPress's paragraph rules and sanitized by "
            "Ranklet's allowlist (scripts, images and unsafe links removed)."
        )
        if self.items_skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in self.items_skipped.most_common())
            batch.remarks.append(f"Items that are not posts or pages, not imported: {kinds}.")
        if self.unpublished:
            batch.remarks.append(
                f"{self.unpublished} comments are on posts that are not published (drafts, "
                "private or scheduled); they were filed under the path of the post's link."
            )
        return batch


def read_wordpress(path: str) -> ImportBatch:
    """A WordPress WXR export (1.1 or 1.2): posts and pages, comments, replies, statuses."""
    return _WxrReader(path).read()
