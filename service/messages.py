"""Every API error a reader or author can see, in the site's or the request's language.

The English text the validators and ``abort()`` calls raise is the key: the code that
raises stays as it is, and the one error handler (``errors.error_response``) looks the
text up here. A text not listed is shown as raised, in English. The admin pages and the
e-mail link pages have their own tables (``admin_text.WORDS``, ``email_links.TEXTS``);
this is the one for everything that answers JSON.

Language: a ``lang`` query or body parameter if given, else the language of the site in
the URL, else the best match of ``Accept-Language``, else English.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from flask import request

LANGS = ("ja", "en")

# (English as raised, {lang: text}); ``{0}``, ``{1}`` are the pattern's groups. Japanese
# uses full-width punctuation, as Japanese text does.
_TEXTS: list[tuple[str, dict[str, str]]] = [
    # marshmallow's own messages
    (r"Unknown field\.", {"ja": "この項目は受け付けていません。"}),
    (r"Missing data for required field\.", {"ja": "必須の項目です。"}),
    (r"Field may not be null\.", {"ja": "空にできない項目です。"}),
    (r"Not a valid string\.", {"ja": "文字列で指定してください。"}),
    (r"Not a valid boolean\.", {"ja": "true か false で指定してください。"}),
    (
        r"Not a valid (?:integer|mapping type|list|tuple)\.|Invalid (?:input )?type\.",
        {"ja": "型が正しくありません。"},
    ),
    (r"Invalid value\.", {"ja": "値が正しくありません。"}),
    (r"Not a valid utf-8 string\.", {"ja": "UTF-8 の文字列で指定してください。"}),
    (r"Number too large\.", {"ja": "数値が大きすぎます。"}),
    (r"Must be an integer\.", {"ja": "整数で指定してください。"}),
    (r"Not a valid email address\.", {"ja": "メールアドレスの形式が正しくありません。"}),
    (r"Longer than maximum length (\d+)\.", {"ja": "{0}文字以内で入力してください。"}),
    (r"Shorter than minimum length (\d+)\.", {"ja": "{0}文字以上で入力してください。"}),
    (r"Length must be between (\d+) and (\d+)\.", {"ja": "{0}〜{1}文字で入力してください。"}),
    (
        r"Must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)\.",
        {"ja": "{0}〜{1}の整数で指定してください。"},
    ),
    (r"Must be greater than or equal to (-?\d+)\.", {"ja": "{0}以上で指定してください。"}),
    (r"Must be less than or equal to (-?\d+)\.", {"ja": "{0}以下で指定してください。"}),
    (r"Must be one of: (.+)\.", {"ja": "次のいずれかを指定してください：{0}"}),
    (r"String does not match expected pattern\.", {"ja": "形式が正しくありません。"}),
    (r"Must match (.+)\.", {"ja": "{0} の形式で指定してください。"}),
    # ours (schemas.py)
    (
        r"Not a valid RFC 3339 time with a zone\.|Not a valid (?:aware )?datetime\.",
        {"ja": "タイムゾーン付きの日時（例：2026-12-03T09:00:00+09:00）で指定してください。"},
    ),
    (r"Out of the supported range of times\.", {"ja": "扱える範囲の外の日時です。"}),
    (
        r"May not lie more than 5 minutes in the future\.",
        {"ja": "5分より先の日時は指定できません。"},
    ),
    (
        r"Give at least one category's position\.",
        {"ja": "少なくとも1つのカテゴリの順位を指定してください。"},
    ),
    (r"Control characters are not allowed\.", {"ja": "制御文字は使えません。"}),
    (
        r"Bidirectional control characters are not allowed\.",
        {"ja": "文字の向きを変える制御文字は使えません。"},
    ),
    (
        r"Control characters are not allowed \(except newlines and tabs\)\.",
        {"ja": "制御文字（改行とタブを除く）は使えません。"},
    ),
    # the text rules (service.errors.MESSAGES)
    (r"Must be 1 to (\d+) characters\.", {"ja": "1〜{0}文字で入力してください。"}),
    (
        r"Must be 1 to (\d+) characters, not only spaces\.",
        {"ja": "空白以外の文字を含めて、1〜{0}文字で入力してください。"},
    ),
    (r"Must be at most (\d+) characters\.", {"ja": "{0}文字以内で入力してください。"}),
    (
        r"Must be an http\(s\) URL without spaces, quotes or control characters\.",
        {
            "ja": "http:// か https:// で始まり、空白・引用符・制御文字を含まない"
            "URLで入力してください。"
        },
    ),
    (
        r"(.+) is not an origin like https://blog\.example\.com\.",
        {"ja": "{0} はオリジン（例：https://blog.example.com）の形式ではありません。"},
    ),
    (r"Must be true or false\.", {"ja": "true か false で指定してください。"}),
    (r"Must be from (-?\d+) to (-?\d+)\.", {"ja": "{0}〜{1}の範囲で指定してください。"}),
    # the JSON loader and the request hooks (service.request_input, service.errors)
    (
        r"The body is not valid JSON here: it nests deeper than (\d+) levels\.",
        {"ja": "送信された JSON の入れ子が深すぎます（{0}段まで）。"},
    ),
    (
        r"The body is not valid JSON here: a number has more than (\d+) digits\.",
        {"ja": "送信された JSON の数値の桁が多すぎます（{0}桁まで）。"},
    ),
    (
        r"The body is not valid JSON: NaN and Infinity are not JSON numbers\.",
        {"ja": "送信された内容が正しい JSON ではありません（NaN と Infinity は使えません）。"},
    ),
    (
        r"The body is not valid JSON \(an unpaired surrogate\)\.",
        {"ja": "送信された JSON に不正な文字（対になっていないサロゲート）があります。"},
    ),
    (
        r"Send the body as JSON \(Content-Type: application/json\)\.",
        {"ja": "送信内容は JSON（Content-Type: application/json）で送ってください。"},
    ),
    # the worker's body deadline (service.server), answered through Flask
    (
        r"The request body did not arrive within (\d+(?:\.\d+)?) seconds\.",
        {"ja": "送信内容が{0}秒以内に届きませんでした。"},
    ),
    (r"The request body ended before it was complete\.", {"ja": "送信内容が途中で途切れました。"}),
    (
        r"The request body is malformed \(chunked encoding\)\.",
        {"ja": "送信内容の形式（chunked エンコーディング）が正しくありません。"},
    ),
    # the views' messages
    (r"Some fields are invalid\.", {"ja": "入力内容に誤りがあります。"}),
    (r"The body is not valid JSON\.", {"ja": "送信された内容が正しい JSON ではありません。"}),
    (r"Invalid cursor\.", {"ja": "ページの位置（cursor）が正しくありません。"}),
    (r"Invalid parent\.", {"ja": "返信先が正しくありません。"}),
    (
        r"Not a visible comment of this article\.",
        {"ja": "この記事に表示されているコメントではありません。"},
    ),
    (r"Invalid article\.|Not a valid article key\.", {"ja": "記事の指定が正しくありません。"}),
    (r"Unknown category\.", {"ja": "このサイトにないカテゴリです。"}),
    (r"Invalid key\.", {"ja": "キーの形式が正しくありません。"}),
    (r"No site '(.+)'\.", {"ja": "サイト「{0}」はありません。"}),
    (r"No comment (\d+) on this site\.", {"ja": "このサイトにコメント #{0} はありません。"}),
    (r"No such comment\.", {"ja": "コメントが見つかりません。"}),
    (r"No category '(.+)' on this site\.", {"ja": "このサイトにカテゴリ「{0}」はありません。"}),
    (r"No entry (\d+) in this category\.", {"ja": "このカテゴリに記録 #{0} はありません。"}),
    (
        r"A site token is required: Authorization: Bearer <token>\.",
        {"ja": "サイトの管理トークンが必要です（Authorization: Bearer <トークン>）。"},
    ),
    (r"This token belongs to another site\.", {"ja": "このトークンは別のサイトのものです。"}),
    (r"The token is not valid\.", {"ja": "トークンが正しくありません。"}),
    (
        r"This origin may not write to this site\.",
        {"ja": "このページ（オリジン）からはこのサイトに書き込めません。"},
    ),
    (
        r"This comment can no longer be edited with this token\.",
        {"ja": "このコメントはもう編集できません。"},
    ),
    (
        r"This comment can no longer be deleted with this token\.",
        {"ja": "このコメントはもう削除できません。"},
    ),
    (
        r"An erased comment cannot be approved or restored\.",
        {"ja": "消去されたコメントは承認・復元できません。"},
    ),
    (
        r"Too many comments; try again later\.",
        {"ja": "短い間にコメントが多すぎます。しばらくしてからもう一度お試しください。"},
    ),
    (
        r"The database is unavailable(?:; try again shortly)?\.",
        {"ja": "データベースに接続できません。しばらくしてからもう一度お試しください。"},
    ),
    # werkzeug's descriptions of the HTTP errors no view raises by itself
    (r"The requested URL was not found on the server\..*", {"ja": "ページが見つかりません。"}),
    (
        r"The method is not allowed for the requested URL\.",
        {"ja": "このURLではこのメソッドは使えません。"},
    ),
    (
        r"The data value transmitted exceeds the capacity limit\.",
        {"ja": "送信内容が大きすぎます。"},
    ),
    (
        r"The server encountered an internal error.*",
        {"ja": "サーバーで問題が起きました。しばらくしてからもう一度お試しください。"},
    ),
    (
        r"The server failed to answer this request; it has been logged\.",
        {"ja": "サーバーで問題が起きたため応答できませんでした。問題は記録されています。"},
    ),
    (r"The browser \(or proxy\) sent a request .*", {"ja": "リクエストの形式が正しくありません。"}),
    (r"The server could not verify that you are authorized.*", {"ja": "認証が必要です。"}),
    (
        r"You don't have the permission to access the requested resource\..*",
        {"ja": "このリソースにアクセスする権限がありません。"},
    ),
    (
        r"The server closed the network connection because the browser didn't finish.*",
        {"ja": "リクエストが時間内に届きませんでした。"},
    ),
    (
        r"The server does not support the media type transmitted in the request\.",
        {"ja": "この形式の送信内容には対応していません。"},
    ),
    (
        r"The request was well-formed but was unable to be followed due to semantic errors\.",
        {"ja": "送信内容を処理できませんでした。"},
    ),
    (
        r"This user has exceeded an allotted request count\..*",
        {"ja": "リクエストが多すぎます。しばらくしてからもう一度お試しください。"},
    ),
    (
        r"The server is temporarily unable to service your request.*",
        {"ja": "ただいまサービスを利用できません。しばらくしてからもう一度お試しください。"},
    ),
]

# Field-specific wording where the field name alone would leave the reader guessing; the
# embed shows ``errors`` under its own label of the field, so these read as sentences.
_FIELD_TEXTS: dict[tuple[str, str], dict[str, str]] = {
    ("body", "Must be 1 to 5000 characters."): {"ja": "コメントは1〜5000文字で入力してください。"},
    ("email", "Not a valid email address."): {
        "ja": "メールアドレスの形式が正しくありません（例：name@example.com）。"
    },
    ("website", "String does not match expected pattern."): {
        "ja": "ウェブサイトは http:// か https:// で始まるURLで入力してください。"
    },
}

_COMPILED = [(re.compile(pattern, re.DOTALL), texts) for pattern, texts in _TEXTS]


def translate(text: str, lang: str, field: str | None = None) -> str:
    """``text`` in ``lang``, or as it is when the table has no entry for it."""
    if lang == "en":
        return text
    specific = _FIELD_TEXTS.get((field or "", text))
    if specific and lang in specific:
        return specific[lang]
    for pattern, texts in _COMPILED:
        found = pattern.fullmatch(text)
        if found and lang in texts:
            return texts[lang].format(*found.groups())
    return text


def translate_errors(errors: Any, lang: str, field: str | None = None) -> Any:
    """The ``errors`` mapping with every message translated; keys and shape unchanged."""
    if isinstance(errors, dict):
        return {
            key: translate_errors(value, lang, field if field is not None else str(key))
            for key, value in errors.items()
        }
    if isinstance(errors, list):
        return [translate_errors(item, lang, field) for item in errors]
    if isinstance(errors, str):
        return translate(errors, lang, field)
    return errors


def request_language(look_up_site: bool = True) -> str:
    """The language of this request's error: ``lang`` given, the site's, or the browser's."""
    chosen = request.args.get("lang")
    if chosen is None and request.is_json:
        with contextlib.suppress(Exception):  # a body too large or unreadable has no lang
            body = request.get_json(silent=True)
            chosen = body.get("lang") if isinstance(body, dict) else None
    if isinstance(chosen, str) and chosen.lower() in LANGS:
        return chosen.lower()
    slug = (request.view_args or {}).get("site")
    if look_up_site and isinstance(slug, str):
        site_lang = _site_language(slug)
        if site_lang in LANGS:
            return str(site_lang)
    return request.accept_languages.best_match(LANGS, default="en") or "en"


def _site_language(slug: str) -> str | None:
    from service.sites import get_site

    with contextlib.suppress(Exception):  # an error page never fails on the lookup
        site = get_site(slug)
        return site.lang if site is not None else None
    return None
