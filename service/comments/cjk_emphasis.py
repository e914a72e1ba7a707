"""Emphasis next to Japanese punctuation: CommonMark's flanking rules, CJK-friendly.

CommonMark decides whether ``**`` may open or close emphasis from the characters on each
side. Its punctuation clause was written for languages that put spaces between words, so
``**「棚卸し」**から`` and ``**注意：**必ず`` stay literal asterisks: the closing run has
punctuation inside and a letter outside. The CJK-friendly amendment (the rule behind
markdown-it-cjk-friendly and remark-cjk-friendly, proposed as commonmark-spec#650) fixes
that by (1) not counting CJK punctuation as "punctuation" on the inner side and (2)
letting a CJK character on the outer side count like whitespace or punctuation.

mistune resolves delimiters after scanning, asking two module functions whether a run can
open or close. mistune has no hook for them, so ``CjkInlineParser.finalize_tokens`` runs
mistune's own delimiter algorithm on delimiters whose flags come from the amended rules
below. The algorithm's helpers are mistune internals, which is why pyproject pins mistune
to the minor version this was written against (tests/test_markup.py would catch a change).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from mistune._inline import emphasis as _mistune_emphasis
from mistune.inline_parser import InlineParser

__all__ = ["CjkInlineParser", "can_close", "can_open", "is_cjk"]

# Wide characters that are emoji by default: they do not write Japanese and keep
# CommonMark's ordinary treatment (UTS #51 Emoji_Presentation, by block).
_EMOJI_BLOCKS = ((0x1F000, 0x1FAFF), (0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF))
# Hangul letters whose East Asian Width is not W (conjoining jamo, Jamo Extended-B).
_HANGUL_NARROW = ((0x1160, 0x11FF), (0xD7B0, 0xD7FF))
# What mistune puts in the flanking source for a non-text token (code span, link...).
_OBJECT = "\ufffc"


def _in(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def is_cjk(char: str) -> bool:
    """A CJK character as the amendment defines it: wide (W, F, H) and no emoji, or Hangul."""
    code = ord(char)
    if _in(code, _HANGUL_NARROW):
        return True
    return unicodedata.east_asian_width(char) in {"W", "F", "H"} and not _in(code, _EMOJI_BLOCKS)


def _is_space(char: str) -> bool:
    return char.isspace()


def _is_punctuation(char: str) -> bool:
    """mistune's notion (anything but letters, digits and space), kept for compatibility."""
    return not char.isspace() and not char.isalnum()


def _is_plain_punctuation(char: str) -> bool:
    """Punctuation that is not CJK: the only kind the amended clauses still look at."""
    return _is_punctuation(char) and (char == _OBJECT or not is_cjk(char))


def _left_flanking(previous: str, following: str) -> bool:
    if _is_space(following):
        return False
    if not _is_plain_punctuation(following):
        return True
    return _is_space(previous) or _is_punctuation(previous) or is_cjk(previous)


def _right_flanking(previous: str, following: str) -> bool:
    if _is_space(previous):
        return False
    if not _is_plain_punctuation(previous):
        return True
    return _is_space(following) or _is_plain_punctuation(following) or is_cjk(following)


def _neighbours(text: str, start: int, size: int) -> tuple[str, str]:
    """The characters just outside a run; a line's edges count as whitespace."""
    previous = text[start - 1] if start > 0 else "\n"
    following = text[start + size] if start + size < len(text) else "\n"
    return previous, following


def can_open(text: str, start: int, size: int, marker: str) -> bool:
    """Whether the run ``text[start:start+size]`` of ``marker`` may open emphasis."""
    previous, following = _neighbours(text, start, size)
    left = _left_flanking(previous, following)
    if marker == "*":
        return left
    return left and (not _right_flanking(previous, following) or _is_punctuation(previous))


def can_close(text: str, start: int, size: int, marker: str) -> bool:
    """Whether the run ``text[start:start+size]`` of ``marker`` may close emphasis."""
    previous, following = _neighbours(text, start, size)
    right = _right_flanking(previous, following)
    if marker == "*":
        return right
    return right and (not _left_flanking(previous, following) or _is_punctuation(following))


def _split_text_token(
    token: dict[str, Any],
    source: str,
    source_start: int,
    parts: list[dict[str, Any]],
    delimiters: list[Any],
) -> None:
    """mistune's splitter of text into text parts and delimiter runs, with our flags."""
    text = token["raw"]
    pos = 0
    while pos < len(text):
        if text[pos] not in "*_":
            end = _mistune_emphasis._next_delimiter_run(text, pos)
            parts.append({"type": "text", "raw": text[pos:end]})
            pos = end
            continue
        marker = text[pos]
        end = pos
        while end < len(text) and text[end] == marker:
            end += 1
        length = end - pos
        absolute = source_start + pos
        opens = can_open(source, absolute, length, marker)
        closes = can_close(source, absolute, length, marker)
        index = len(parts)
        parts.append({"type": "text", "raw": text[pos:end]})
        if opens or closes:
            delimiters.append(
                _mistune_emphasis._Delimiter(
                    index, marker, length, opens, closes, length, len(delimiters)
                )
            )
        pos = end


def _finalize_emphasis(
    tokens: list[dict[str, Any]], enabled: bool, max_depth: int
) -> list[dict[str, Any]]:
    """``mistune._inline.emphasis.finalize_emphasis_tokens`` with the amended flags."""
    m = _mistune_emphasis
    if len(tokens) > 1:
        tokens = m._coalesce_emphasis_text(tokens)
    if not enabled or not m._contains_emphasis_marker(tokens):
        return [m._clean_emphasis_token(token) for token in tokens]
    parts: list[dict[str, Any]] = []
    delimiters: list[Any] = []
    source = m._emphasis_source_text(tokens)
    source_pos = 0
    for token in tokens:
        if token["type"] == "text" and token.get("_emphasis", True):
            _split_text_token(token, source, source_pos, parts, delimiters)
        else:
            parts.append(m._clean_emphasis_token(token))
        source_pos += m._emphasis_source_length(token)
    if not m._process_dense_emphasis(parts, delimiters):
        m._process_emphasis_delimiters(parts, delimiters, max_depth)
    return m._merge_text_tokens(parts)


class CjkInlineParser(InlineParser):
    """mistune's inline parser with the CJK-friendly flanking rules."""

    def finalize_tokens(self, tokens: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
        """Resolve emphasis delimiters as mistune does, flagged by the amended rules."""
        remaining = self.max_nested_level - depth
        return _finalize_emphasis(tokens, "emphasis" in self.rules and remaining > 0, remaining)
