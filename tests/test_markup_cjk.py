"""Emphasis next to Japanese punctuation (API.md §4, the CJK-friendly flanking rules).

A Japanese writer bolds a quotation or a label without spaces around the asterisks;
CommonMark's punctuation clause left those asterisks visible. These tests check the cases
writers type, that English is rendered exactly as before, and, by property, that no literal
``**`` is left around Japanese text that a writer means to be bold.
"""

from __future__ import annotations

import mistune
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mistune.inline_parser import InlineParser
from mistune.util import escape

from service.comments.cjk_emphasis import CjkInlineParser, is_cjk
from service.comments.markup import render_comment


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("**「棚卸し」**から", "<p><strong>「棚卸し」</strong>から</p>"),
        ("**注意：**必ず確認してください", "<p><strong>注意：</strong>必ず確認してください</p>"),
        ("*「強調」*です", "<p><em>「強調」</em>です</p>"),
        ("**100%**の確率で", "<p><strong>100%</strong>の確率で</p>"),
        ("これは**「重要」**です。", "<p>これは<strong>「重要」</strong>です。</p>"),
        ("「**強調**」と書く", "<p>「<strong>強調</strong>」と書く</p>"),
        ("**（株）**の決算", "<p><strong>（株）</strong>の決算</p>"),
        ("**`pip`**を実行", "<p><strong><code>pip</code></strong>を実行</p>"),
        ("***「両方」***です", "<p><em><strong>「両方」</strong></em>です</p>"),
        ("한국어 **「강조」**입니다", "<p>한국어 <strong>「강조」</strong>입니다</p>"),
    ],
)
def test_emphasis_next_to_japanese_punctuation(body: str, html: str) -> None:
    assert render_comment(body).strip() == html


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("*(a)*b", "<p>*(a)*b</p>"),  # CommonMark: not right-flanking before a letter
        ("snake_case_name", "<p>snake_case_name</p>"),
        ("日本_語_です", "<p>日本_語_です</p>"),  # intraword underscores stay text
        ("a * b * c", "<p>a * b * c</p>"),
        ("**bold**text and *em*", "<p><strong>bold</strong>text and <em>em</em></p>"),
        ("2 * 3 * 4 = 24", "<p>2 * 3 * 4 = 24</p>"),
    ],
)
def test_what_stays_literal(body: str, html: str) -> None:
    assert render_comment(body).strip() == html


def test_cjk_character_classes() -> None:
    assert all(is_cjk(c) for c in "あア漢「」：。、！？（）％ｱ한")
    assert not any(is_cjk(c) for c in "a1%(:.! \u00e9")
    assert not is_cjk("😀")  # a wide emoji is no Japanese letter


_ASCII_MARKUP = "ab *_.()`,!?'\"-:;%[]x1 "
_plain = mistune.Markdown(renderer=mistune.HTMLRenderer(escape=True), inline=InlineParser())
_friendly = mistune.Markdown(renderer=mistune.HTMLRenderer(escape=True), inline=CjkInlineParser())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ASCII_MARKUP, min_size=1, max_size=16))
def test_text_without_cjk_renders_as_commonmark_did(text: str) -> None:
    """The amendment changes nothing where no CJK character is next to a delimiter."""
    assert _friendly(text) == _plain(text)


_KANA_KANJI = st.sampled_from(list("あいうえおかきくけこアイウエオ日本語経営注意確率棚卸強調"))
_JA_PUNCT = st.sampled_from(list("「」『』：。、！？（）・〜"))
_INNER_EDGE = st.one_of(_KANA_KANJI, _JA_PUNCT, st.sampled_from(list("0123456789%")))
_OUTER = st.text(alphabet=st.one_of(_KANA_KANJI, _JA_PUNCT), max_size=6)


@settings(max_examples=400, deadline=None)
@given(
    before=_OUTER,
    first=_INNER_EDGE,
    middle=st.text(alphabet=st.one_of(_KANA_KANJI, _JA_PUNCT, st.just("1")), max_size=6),
    last=_INNER_EDGE,
    after=_OUTER,
    marker=st.sampled_from(["*", "**"]),
)
def test_japanese_emphasis_never_leaves_asterisks(
    before: str, first: str, middle: str, last: str, after: str, marker: str
) -> None:
    """Bold or italic Japanese text, with punctuation inside or outside, is always rendered."""
    inner = first + middle + last
    html = render_comment(f"{before}{marker}{inner}{marker}{after}")
    tag = "strong" if marker == "**" else "em"
    assert "*" not in html
    assert f"<{tag}>{escape(inner)}</{tag}>" in html
