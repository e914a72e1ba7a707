"""Issue 12 §2: one message table. Every key has every language with the same fields, every
message the code raises has its entry, and Japanese reads as Japanese: full-width
punctuation, no English left inside a Japanese page."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from service.db.models import LANGS as SITE_LANGS
from service.i18n.messages import CATALOGUE, LANGS, Texts, text, translate

SERVICE = Path(__file__).resolve().parent.parent / "service"
JA = {key: entry["ja"] for key, entry in CATALOGUE.items()}

# Half-width marks where Japanese uses full-width ones: ?!() anywhere in a Japanese text
# (outside `code` marks), and a colon next to a Japanese character (「例: 」「記事:」).
HALF_WIDTH = re.compile(r"[?!()]|(?<=[^\x00-\x7f]):|:(?=\s*[^\x00-\x7f\s])")


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def half_width_marks(japanese: str) -> list[str]:
    outside_code = re.sub(r"`[^`]*`", "", japanese)
    return HALF_WIDTH.findall(outside_code)


def test_the_catalogue_speaks_the_sites_languages():
    assert set(LANGS) == set(SITE_LANGS)


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_key_has_every_language_with_the_same_fields(key: str):
    entry = CATALOGUE[key]
    assert set(entry) == set(LANGS), key
    assert all(entry[lang].strip() for lang in LANGS), key
    assert fields_of(entry["ja"]) == fields_of(entry["en"]), key


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_japanese_uses_full_width_punctuation(key: str):
    assert half_width_marks(JA[key]) == [], (key, JA[key])


def test_the_punctuation_rule_catches_what_it_should():
    assert half_width_marks("削除しますか?") == ["?"]
    assert half_width_marks("最高順位更新!") == ["!"]
    assert half_width_marks("4位(最高順位)") == ["(", ")"]
    assert half_width_marks("例: 2026-01-05") == [":"]
    assert half_width_marks("記事:") == [":"]
    assert half_width_marks("（Authorization: Bearer <トークン>）") == []
    assert half_width_marks("`ranklet demo --help` を実行") == []


def sample(template: str) -> dict[str, str]:
    return dict.fromkeys(fields_of(template), "7")


@pytest.mark.parametrize("key", sorted(k for k in CATALOGUE if k.startswith("error.")))
def test_every_error_as_raised_is_found_and_translated(key: str):
    english = CATALOGUE[key]["en"]
    raised = text(key, "en", **sample(english))
    japanese = translate(raised, "ja")
    assert japanese == text(key, "ja", **sample(english)), (raised, japanese)
    assert japanese != raised
    assert translate(raised, "en") == raised


def test_a_field_wording_wins_for_its_field_only():
    raised = "Must be 1 to 5000 characters."
    assert translate(raised, "ja", "body") == "コメントは1〜5,000文字で入力してください。"
    assert translate(raised, "ja", "title") == "1〜5,000文字で入力してください。"


def test_the_range_is_not_read_as_a_minimum():
    raised = "Must be greater than or equal to 1 and less than or equal to 1000000."
    assert translate(raised, "ja") == "1〜1,000,000の整数で指定してください。"
    assert translate("Must be greater than or equal to 1.", "ja") == "1以上で指定してください。"


def test_a_quoted_value_is_quoted_the_japanese_way():
    assert translate("No site 'my blog'.", "ja") == "サイト「my blog」はありません。"
    assert translate('No category "it\'s" on this site.', "ja") == (
        "このサイトにカテゴリ「it's」はありません。"
    )


def described_keys() -> set[str]:
    found: set[str] = set()
    for path in SERVICE.rglob("*.py"):
        found.update(re.findall(r"describe\(\s*\"(\w+)\"", path.read_text(encoding="utf-8")))
    return found


def test_every_described_message_is_in_the_catalogue():
    keys = described_keys()
    assert {"internal", "not_json", "cursor_invalid"} <= keys  # the scan finds them
    assert {f"error.{key}" for key in keys} <= set(CATALOGUE)


def test_an_unknown_language_falls_back_to_english():
    assert text("badge.none", "fr") == "not ranked"
    assert Texts("badge", "xx")("none") == "not ranked"


# --- the templates ------------------------------------------------------------------------------


def template_texts(path: Path) -> list[str]:
    """The text a reader sees in a template: without Jinja, tags and attribute values."""
    source = path.read_text(encoding="utf-8")
    source = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", source, flags=re.S)
    source = re.sub(r"<style.*?</style>|<script.*?</script>", " ", source, flags=re.S)
    return [part.strip() for part in re.split(r"<[^>]*>", source) if part.strip()]


TEMPLATES = sorted((SERVICE / "templates").rglob("*.html"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_templates_use_full_width_punctuation_in_japanese(path: Path):
    japanese = [t for t in template_texts(path) if re.search(r"[^\x00-\x7f]", t)]
    assert [t for t in japanese if half_width_marks(t)] == []


@pytest.mark.parametrize(
    "path",
    [p for p in TEMPLATES if "demo" not in p.parts],  # the demo is a Japanese blog by design
    ids=lambda p: str(p.relative_to(SERVICE)),
)
def test_templates_of_both_languages_hold_no_words_of_their_own(path: Path):
    """Admin and e-mail link pages take every word from the catalogue, so nothing stays
    English on a Japanese page (or Japanese on an English one)."""
    words = [
        t
        for t in template_texts(path)
        if re.search(r"[A-Za-z]{2,}|[\u3040-\u30ff\u4e00-\u9fff]", t) and '="' not in t
    ]
    allowed = {"Ranklet", "日本語", "English", "· Ranklet", "| Ranklet"}
    assert [w for w in words if w not in allowed] == []
