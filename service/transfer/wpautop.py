"""WordPress's paragraph rules for comment text (``wpautop``), in linear time.

A WordPress comment is stored as typed: blank lines between paragraphs, single newlines
inside them, and any HTML the commenter wrote (lists, tables, headings). WordPress shows it
through ``wpautop``: every block tag stands on its own, text between blocks becomes a
paragraph, a newline inside a paragraph is a line break, and no ``<br>`` is ever put next
to a block tag. This is that reading, done with string scans and regexes that cannot
backtrack (every tag pattern stops at the next ``<``), so an 80 KB comment of unclosed
tags costs milliseconds, not seconds. Headings and tables, which the sanitizer's allowlist
does not keep, become a bold paragraph and one paragraph per row with ``|`` between cells,
so they stay readable as text.
"""

from __future__ import annotations

import re

_BLOCKS = (
    "table|thead|tfoot|caption|col|colgroup|tbody|tr|td|th|div|dl|dd|dt|ul|ol|li|pre|form|"
    "map|area|blockquote|address|math|style|p|h[1-6]|hr|fieldset|legend|section|article|"
    "aside|hgroup|header|footer|nav|figure|figcaption|details|menu|summary"
)
# A block tag; "[^<>]*" stops at the next "<", so no start position scans past another tag.
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCKS})(?=[\s/>])[^<>]*>", re.I)
_OPENING_BLOCKQUOTE = re.compile(r"<blockquote(?=[\s>])[^<>]*>$", re.I)
_DOUBLE_BR = re.compile(r"<br\s{0,20}/?>[ \t\n]{0,200}<br\s{0,20}/?>", re.I)
_BR = re.compile(r"<br\s{0,20}/?>", re.I)
_HEADING = re.compile(r"<(/?)h[1-6](?=[\s>])[^<>]*>", re.I)
_TABLE_FRAME = re.compile(r"</?(?:table|thead|tbody|tfoot|colgroup|col)(?=[\s/>])[^<>]*>", re.I)
_ROW = re.compile(r"<(/?)(?:tr|caption)(?=[\s>])[^<>]*>", re.I)
_CELL_GAP = re.compile(r"</t[dh]>\s{0,200}<t[dh](?=[\s>])[^<>]*>", re.I)
_CELL = re.compile(r"</?t[dh](?=[\s>])[^<>]*>", re.I)
_PRE_MARK = "\x00pre{}\x00"
_PRE_MARK_RE = re.compile("\x00pre(\\d+)\x00")


def _take_pre_blocks(text: str) -> tuple[str, list[str]]:
    """``<pre>`` blocks set aside whole (their newlines are the author's), by a forward
    scan: each ``<pre`` is matched with the next ``</pre>`` at most once."""
    lower = text.lower()
    kept: list[str] = []
    out: list[str] = []
    position = 0
    while (start := lower.find("<pre", position)) != -1:
        after = lower[start + 4 : start + 5]
        end = lower.find("</pre>", start)
        if after not in (">", " ", "\n", "\t", "\r") or end == -1:
            out.append(text[position : start + 4])
            position = start + 4
            if end == -1:
                break
            continue
        out.append(text[position:start])
        out.append("\n\n" + _PRE_MARK.format(len(kept)) + "\n\n")
        kept.append(text[start : end + 6])
        position = end + 6
    out.append(text[position:])
    return "".join(out), kept


def _chunk_html(chunk: str) -> str:
    """One chunk between blank lines: block tags at its edges stay as they are, the text
    between them is a paragraph (unless a block already holds it) with line breaks."""
    lead_end = 0
    while (tag := _BLOCK_TAG.match(chunk, lead_end)) is not None:
        lead_end = tag.end()
        while lead_end < len(chunk) and chunk[lead_end] in " \t\n":
            lead_end += 1
    lead = chunk[:lead_end].strip()
    rest = chunk[lead_end:]
    trail = ""
    while (tags := list(_BLOCK_TAG.finditer(rest))) and not rest[tags[-1].end() :].strip():
        trail = rest[tags[-1].start() :].strip() + trail
        rest = rest[: tags[-1].start()]
    middle = _without_edge_breaks(rest)
    if not middle:
        return "\n".join(part for part in (lead, trail) if part)
    middle = "\n".join(line.strip() for line in middle.split("\n")).replace("\n", "<br>\n")
    if not lead or _OPENING_BLOCKQUOTE.search(lead):
        return "\n".join(part for part in (lead, f"<p>{middle}</p>", trail) if part)
    return lead + middle + trail


def _without_edge_breaks(text: str) -> str:
    """A ``<br>`` at the start or end of a paragraph is only blank space: gone."""
    text = text.strip()
    while (found := _BR.match(text)) is not None:
        text = text[found.end() :].lstrip()
    while (start := text.lower().rfind("<br")) != -1 and _BR.fullmatch(text, start):
        text = text[:start].rstrip()
    return text


def _spaced(match: re.Match[str]) -> str:
    """A blank line before an opening block tag and after a closing one (and ``<hr>``)."""
    tag = match.group(0)
    if tag[1] == "/":
        return tag + "\n\n"
    return "\n\n" + tag + ("\n\n" if tag[1:3].lower() == "hr" else "")


def _readable_blocks(html: str) -> str:
    """Headings as bold paragraphs, table rows as paragraphs with ``|`` between cells."""
    html = _HEADING.sub(lambda m: "</strong></p>" if m.group(1) else "<p><strong>", html)
    html = _TABLE_FRAME.sub("", html)
    html = _ROW.sub(lambda m: "</p>" if m.group(1) else "<p>", html)
    html = _CELL_GAP.sub(" | ", html)
    return _CELL.sub("", html)


def wordpress_paragraphs(text: str) -> str:
    """Comment text as WordPress shows it (``wpautop``), ready for the sanitizer."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    text, kept = _take_pre_blocks(text)
    text = _DOUBLE_BR.sub("\n\n", text)
    text = _BLOCK_TAG.sub(_spaced, text)
    chunks: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            chunks.append("\n".join(current))
            current = []
    if current:
        chunks.append("\n".join(current))
    parts: list[str] = []
    for chunk in chunks:
        chunk = chunk.strip()
        if (mark := _PRE_MARK_RE.fullmatch(chunk)) is not None:
            parts.append(kept[int(mark.group(1))])
        elif part := _chunk_html(chunk):
            parts.append(part)
    return _readable_blocks("\n".join(parts))
