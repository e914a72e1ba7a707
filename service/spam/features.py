"""The features the learning filter counts, hashed into a fixed number of buckets.

Japanese has no spaces between words, so CJK text gives character bigrams; Latin text gives
words, word pairs and the words' character 4-grams. Link spam often reads harmless, so the
links' hosts, domains and top-level domains, the website field and the name are features too.
Domains written out in the text without a link (``movi5.com``, ``bit.ly/x``, ``site. com``)
count as the links' hosts do, with a feature of their own: link spam that dodges the link
rules is as much a clue as a link. Each feature is counted once per comment (presence, not
frequency): a repeated word says no more than one.

The features decide which rows a comment counts in, and a comment's move between classes
finds them again from its text: changing what this module extracts needs a migration that
recounts the stored comments (as ``0014_spam_mentioned_hosts`` does).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib

from service.spam.text import link_hosts, normalize, rendered_text, url_host

BUCKETS = 1 << 18  # the model's size bound: at most this many rows per site
DOCS_BUCKET = -1  # the row that counts the comments of each class
UNITS_BUCKET = -2  # the row that sums the weighted units of each class (service.spam.model)
# Rows HAM_SCORES_BUCKET + bin (bin from -SCORE_LIMIT to SCORE_LIMIT) count the learned ham
# comments by the score they got on arrival: the histogram of the learned threshold.
HAM_SCORES_BUCKET = -10_000
MAX_FEATURES = 400

_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:['’][a-z]+)?")
# Hiragana, katakana, CJK ideographs, Hangul, full/half-width forms left after NFKC.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f]+")
_DIGITS = re.compile(r"\d")
# A host name written in the text: labels, a dot and a top-level domain, not part of an
# e-mail address or a longer dotted word ("3.5" and "e.g." are not hosts). One
# space is allowed before the three common top-level domains ("site. com"). The edges are
# ASCII: Japanese written right against it ("詳しくはexample.jpへ") does not hide it.
_MENTIONED_HOST = re.compile(
    r"(?<![@a-z0-9_.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+)( ?)([a-z]{2,7})"
    r"(?![a-z0-9_@-])(?!\.[a-z0-9_])"
)
# What every such host has somewhere: a cheap test that lets most comments skip the above.
_MAYBE_HOST = re.compile(r"[a-z0-9]\.[a-z]|\. (?:com|net|org)\b")
_SPACED_TLDS = frozenset(("com", "net", "org"))
# Generic top-level domains seen in spam; every two-letter (country) one counts too.
_GENERIC_TLDS = frozenset(
    (
        *("com", "net", "org", "info", "biz", "xyz", "top", "online", "site", "club", "shop"),
        *("store", "app", "dev", "live", "life", "link", "click", "win", "vip", "pro", "fun"),
        *("space", "website", "today", "world", "news", "blog"),
    )
)
_FILE_EXTENSIONS = frozenset(("js", "ts", "rb", "py"))  # two letters, yet "node.js" is no host


def _size(n: int) -> str:
    return str(min(int(math.log2(n + 1)), 12))


def comment_features(
    body_html: str,
    author: str | None,
    website: str | None,
    has_email: bool,
    *,
    mentions: bool = True,
) -> list[str]:
    """The named features of one comment, deduplicated, in a stable order; ``mentions``
    False: without the hosts written in the text (the features before migration 0014, for
    its downgrade)."""
    text = normalize(rendered_text(body_html))
    found: dict[str, None] = {}
    words = _WORD.findall(text)
    for word in words:
        if 1 < len(word) <= 24:
            found["w:" + ("#" if word.isdigit() else word)] = None
    for first, second in itertools.pairwise(words):
        found[f"p:{first} {second}"] = None
    for word in words:  # character 4-grams: plurals, inflections and s.p.e.l.l.i.n.g tricks
        padded = f" {word} "
        for i in range(len(padded) - 3):
            found["g:" + padded[i : i + 4]] = None
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            found["c:" + run] = None
        for i in range(len(run) - 1):
            found["c:" + run[i : i + 2]] = None
    hosts = link_hosts(body_html)
    found["links:" + str(min(len(hosts), 4))] = None
    mentioned = mentioned_hosts(text) if mentions else []
    if mentions:
        found["mention:" + ("yes" if mentioned else "no")] = None
    for host in hosts + mentioned:
        found["host:" + host] = None
        found["dom:" + _domain(host)] = None
        found["tld:" + host.rsplit(".", 1)[-1]] = None
    site_host = url_host(website)
    found["web:" + ("yes" if site_host else "no")] = None
    if site_host:
        found["webhost:" + site_host] = None
        found["webdom:" + _domain(site_host)] = None
        found["webtld:" + site_host.rsplit(".", 1)[-1]] = None
    name = normalize(author or "")
    found["name:" + ("none" if not name else "digits" if _DIGITS.search(name) else "plain")] = None
    for word in _WORD.findall(name) + _CJK_RUN.findall(name):
        found["nw:" + word] = None
    found["mail:" + ("yes" if has_email else "no")] = None
    found["len:" + _size(len(text))] = None
    found["latin:" + _size(len(words))] = None
    return list(found)[:MAX_FEATURES]


def mentioned_hosts(text: str) -> list[str]:
    """The host names written in normalized ``text`` (linked or not), ``www.`` left out."""
    hosts: list[str] = []
    if not _MAYBE_HOST.search(text):
        return hosts
    for match in _MENTIONED_HOST.finditer(text):
        labels, space, tld = match.groups()
        if space and tld not in _SPACED_TLDS:
            continue
        if tld in _FILE_EXTENSIONS or (len(tld) != 2 and tld not in _GENERIC_TLDS):
            continue
        host = (labels + tld).removeprefix("www.")
        first = host.split(".", 1)[0]
        if len(first) > 1 and not first.isdigit():
            hosts.append(host)
    return hosts


def _domain(host: str) -> str:
    """The last two labels (three under a two-letter country code's second level, such as
    co.jp): subdomains that spammers rotate share it."""
    labels = host.split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and len(labels[-2]) <= 3 else 2
    return ".".join(labels[-keep:])


def bucket(feature: str) -> int:
    return zlib.crc32(feature.encode()) % BUCKETS


def buckets(features: list[str]) -> list[int]:
    """The distinct buckets of these features, ascending (the lock order of every update)."""
    return sorted({zlib.crc32(f.encode()) % BUCKETS for f in features})  # bucket(f), inline
