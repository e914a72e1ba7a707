"""What a real export file holds, read independently of the importer, and the variants the
tests derive from it (a Japanese-slug blog, a blog on plain permalinks).

The reading here is deliberately plain (ElementTree, any namespace whose URI contains
``wordpress.org/export/``) and states WordPress's own rules, so that a test compares the
public API with the file, not the importer with itself.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DATA = Path(__file__).parent / "data"
WXR_FILES = (
    "wptt-theme-unit-test.xml",
    "wpimporter-small-export.xml",
    "wpimporter-valid-wxr-1.0.xml",
    "wpimporter-valid-wxr-1.1.xml",
    "isso-wordpress.xml",
)
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
MAX_DEPTH = 5
JA_SLUGS = ("経営", "マーケティング", "コンサルタント", "日本語の記事", "棚卸し", "お知らせ")


@dataclass
class ExpectedComment:
    comment_id: str
    parent: str
    author: str
    status: str
    user_id: str
    email: str
    depth: int = 1
    is_author: bool = False


@dataclass
class ExpectedThread:
    key: str
    link: str
    comments: list[ExpectedComment] = field(default_factory=list)

    def by_status(self) -> Counter[str]:
        return Counter(c.status for c in self.comments)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _wp(element: ET.Element, name: str) -> str:
    for child in element:
        if "wordpress.org/export/" in child.tag and _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if "wordpress.org/export/" in c.tag and _local(c.tag) == name]


def key_of(link: str) -> str:
    """The thread a reader of ``link`` opens: the decoded path in NFC, with ``?p=N`` or
    ``?page_id=N`` of a plain permalink (the files here have no reserved escapes)."""
    parts = urlsplit(link)
    key = unicodedata.normalize("NFC", unquote(parts.path or "/"))
    query = parse_qs(parts.query)
    for name in ("p", "page_id"):
        if query.get(name, [""])[0].isdigit():
            return f"{key}?{name}={query[name][0]}"
    return key


def expected_threads(path: Path) -> dict[str, ExpectedThread]:
    """Reader comments of each post or page, by the key of its link, as WordPress has them:
    status 1 public, 0 pending, spam kept, trash not; pingbacks and trackbacks are not
    reader comments; depth from the parents (replies past level 5 stay at 5); the author
    mark for a signed-in user who wrote a post or page of the file (by id, or by e-mail or
    name where the authors have no id, the user id then being that author's)."""
    root = ET.parse(path).getroot()
    channel = root.find("channel")
    assert channel is not None
    ids: dict[str, str] = {}  # user id -> login
    emails: dict[str, str] = {}  # of authors without an id
    names: dict[str, str] = {}
    for author in _children(channel, "author"):
        login = _wp(author, "author_login")
        if _wp(author, "author_id"):
            ids[_wp(author, "author_id")] = login
            continue
        emails[_wp(author, "author_email").lower()] = login
        names[login] = login
        names.setdefault(_wp(author, "author_display_name"), login)
    creators: set[str] = set()
    threads: dict[str, ExpectedThread] = {}
    all_comments: list[tuple[ExpectedThread, ExpectedComment]] = []
    for item in channel.findall("item"):
        if (_wp(item, "post_type") or "post") not in ("post", "page"):
            continue
        creators.add((item.findtext(DC_CREATOR) or "").strip())
        link = (item.findtext("link") or "").strip()
        if not link:
            continue
        thread = threads.setdefault(key_of(link), ExpectedThread(key_of(link), link))
        for element in _children(item, "comment"):
            if _wp(element, "comment_type") not in ("", "comment"):
                continue
            status = {"1": "approved", "0": "pending", "spam": "spam"}.get(
                _wp(element, "comment_approved")
            )
            if status is None:
                continue
            comment = ExpectedComment(
                comment_id=_wp(element, "comment_id"),
                parent=_wp(element, "comment_parent"),
                author=_wp(element, "comment_author"),
                status=status,
                user_id=_wp(element, "comment_user_id"),
                email=_wp(element, "comment_author_email").lower(),
            )
            thread.comments.append(comment)
            all_comments.append((thread, comment))
    for _thread, comment in all_comments:  # user ids learned from e-mail or name matches
        if comment.user_id not in ("", "0") and comment.user_id not in ids:
            login = emails.get(comment.email) or names.get(comment.author)
            if login:
                ids[comment.user_id] = login
    for thread in threads.values():
        known = {c.comment_id: c for c in thread.comments}
        for comment in thread.comments:
            depth, parent = 1, known.get(comment.parent)
            while parent is not None and depth < 50:
                depth, parent = depth + 1, known.get(parent.parent)
            comment.depth = min(depth, MAX_DEPTH)
            login = ids.get(comment.user_id) if comment.user_id not in ("", "0") else None
            comment.is_author = login in creators
    return {key: thread for key, thread in threads.items() if thread.comments}


def japanese_variant(source: Path, target: Path) -> dict[str, str]:
    """The file as a Japanese blog's export: each post's link gets a Japanese slug written
    the way WordPress writes it (lower-case percent-escapes). Returns new link by old."""
    text = source.read_text(encoding="utf-8")
    links = sorted(set(re.findall(r"<link>(https?://[^<]+)</link>", text)))
    renamed: dict[str, str] = {}
    for number, link in enumerate(links):
        parts = urlsplit(link)
        if parts.path in ("", "/") and not parts.query:
            continue  # the channel's own link
        slug = JA_SLUGS[number % len(JA_SLUGS)]  # WordPress escapes only what is not ASCII
        escaped = "".join(f"%{b:02x}" for b in slug.encode("utf-8")) + f"-{number}"
        renamed[link] = f"{parts.scheme}://{parts.netloc}/2023/05/{escaped}/"
    for old, new in renamed.items():
        text = text.replace(f"<link>{old}</link>", f"<link>{new}</link>")
    target.write_text(text, encoding="utf-8")
    return renamed


def plain_permalink_variant(source: Path, target: Path) -> dict[str, str]:
    """The file as a blog on WordPress's default, plain permalinks: each post's link is
    ``/?p=<post id>`` (``/?page_id=<id>`` for a page)."""
    text = source.read_text(encoding="utf-8")
    renamed: dict[str, str] = {}

    def relink(match: re.Match[str]) -> str:
        item = match.group(0)
        link = re.search(r"<link>(https?://[^/<]+)[^<]*</link>", item)
        post_id = re.search(r"<wp:post_id>(\d+)</wp:post_id>", item)
        if link is None or post_id is None:
            return item
        name = "page_id" if "<wp:post_type>page" in item else "p"
        new = f"{link.group(1)}/?{name}={post_id.group(1)}"
        renamed[link.group(0)[6:-7]] = new
        return item.replace(link.group(0), f"<link>{new}</link>", 1)

    target.write_text(re.sub(r"<item>.*?</item>", relink, text, flags=re.S), encoding="utf-8")
    return renamed


def comments_by_thread(client: object, site: str, key: str) -> list[dict[str, object]]:
    """Every public comment of a thread, flat, with its depth: pages followed to the end."""
    found: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {"article": key, "limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = client.get(f"/api/v1/sites/{site}/comments", query_string=query)  # type: ignore[attr-defined]
        body = answer.get_json()
        assert answer.status_code == 200, body
        assert body["article"] == key

        def walk(nodes: list[dict[str, object]], depth: int) -> None:
            for node in nodes:
                found.append({**node, "depth": depth})
                walk(node["replies"], depth + 1)  # type: ignore[arg-type]

        walk(body["comments"], 1)
        cursor = body["next_cursor"]
        if not cursor:
            return found


def counted(comments: list[ExpectedComment]) -> Counter[tuple[str, int, bool]]:
    return Counter((c.author, c.depth, c.is_author) for c in comments if c.status == "approved")
