"""The API's error texts (catalogue area ``error``), as raised in English and in Japanese.

The English text is what the validators, ``abort()`` calls and werkzeug raise: the one error
handler finds an entry by it (``messages.translate``), so the code that raises stays as it
is. ``{name}`` stands for a value inside the raised text; ``{name!r}`` for one raised with
its quotes. Entries named ``field.<field>.<name>`` word a message for one field, where the
field's name alone would leave a reader guessing (the embed shows them under its label).
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # marshmallow's own messages
    "unknown_field": {"en": "Unknown field.", "ja": "この項目は受け付けていません。"},
    "required": {"en": "Missing data for required field.", "ja": "必須の項目です。"},
    "null": {"en": "Field may not be null.", "ja": "空にできない項目です。"},
    "not_string": {"en": "Not a valid string.", "ja": "文字列で指定してください。"},
    "not_bool": {"en": "Not a valid boolean.", "ja": "true か false で指定してください。"},
    "not_int": {"en": "Not a valid integer.", "ja": "型が正しくありません。"},
    "not_number": {"en": "Not a valid number.", "ja": "数値で指定してください。"},
    "special_number": {
        "en": "Special numeric values (nan or infinity) are not permitted.",
        "ja": "NaN や無限大は指定できません。",
    },
    "not_mapping": {"en": "Not a valid mapping type.", "ja": "型が正しくありません。"},
    "not_list": {"en": "Not a valid list.", "ja": "型が正しくありません。"},
    "wrong_type": {"en": "Invalid input type.", "ja": "型が正しくありません。"},
    "not_email": {
        "en": "Not a valid email address.",
        "ja": "メールアドレスの形式が正しくありません。",
    },
    "longer": {
        "en": "Longer than maximum length {max}.",
        "ja": "{max}文字以内で入力してください。",
    },
    "shorter": {
        "en": "Shorter than minimum length {min}.",
        "ja": "{min}文字以上で入力してください。",
    },
    "length_between": {
        "en": "Length must be between {min} and {max}.",
        "ja": "{min}〜{max}文字で入力してください。",
    },
    "range": {
        "en": "Must be greater than or equal to {min} and less than or equal to {max}.",
        "ja": "{min}〜{max}の整数で指定してください。",
    },
    "at_least": {
        "en": "Must be greater than or equal to {min}.",
        "ja": "{min}以上で指定してください。",
    },
    "at_most": {
        "en": "Must be less than or equal to {max}.",
        "ja": "{max}以下で指定してください。",
    },
    "one_of": {
        "en": "Must be one of: {choices}.",
        "ja": "次のいずれかを指定してください：{choices}",
    },
    "no_match": {"en": "String does not match expected pattern.", "ja": "形式が正しくありません。"},
    "must_match": {"en": "Must match {regex}.", "ja": "{regex} の形式で指定してください。"},
    # ours: schemas.py and errors.describe (the keys the text rules return)
    "not_time": {
        "en": "Not a valid RFC 3339 time with a zone.",
        "ja": "タイムゾーン付きの日時（例：2026-12-03T09:00:00+09:00）で指定してください。",
    },
    "time_range": {
        "en": "Out of the supported range of times.",
        "ja": "扱える範囲の外の日時です。",
    },
    "future": {
        "en": "May not lie more than 5 minutes in the future.",
        "ja": "5分より先の日時は指定できません。",
    },
    "no_positions": {
        "en": "Give at least one category's position.",
        "ja": "少なくとも1つのカテゴリの順位を指定してください。",
    },
    "control_chars": {"en": "Control characters are not allowed.", "ja": "制御文字は使えません。"},
    "bidi_chars": {
        "en": "Bidirectional control characters are not allowed.",
        "ja": "文字の向きを変える制御文字は使えません。",
    },
    "control_chars_body": {
        "en": "Control characters are not allowed (except newlines and tabs).",
        "ja": "制御文字（改行とタブを除く）は使えません。",
    },
    "body_length": {
        "en": "Must be 1 to 5000 characters.",
        "ja": "1〜5,000文字で入力してください。",
    },
    "article_length": {
        "en": "Must be 1 to 512 characters.",
        "ja": "1〜512文字で入力してください。",
    },
    "name_length": {
        "en": "Must be 1 to {max_length} characters, not only spaces.",
        "ja": "空白以外の文字を含めて1〜{max_length}文字で入力してください。",
    },
    "email_length": {
        "en": "Must be at most 254 characters.",
        "ja": "254文字以内で入力してください。",
    },
    "email_invalid": {
        "en": "Not a valid email address.",
        "ja": "メールアドレスの形式が正しくありません。",
    },
    "url_length": {
        "en": "Must be at most {max_length} characters.",
        "ja": "{max_length}文字以内で入力してください。",
    },
    "too_long": {
        "en": "Must be at most {max_length} characters.",
        "ja": "{max_length}文字以内で入力してください。",
    },
    "url_invalid": {
        "en": "Must be an http(s) URL without spaces, quotes or control characters.",
        "ja": "http:// か https:// で始まるURLを、"
        "空白・引用符・制御文字を含めずに入力してください。",
    },
    "origin_invalid": {
        "en": "{value!r} is not an origin like https://blog.example.com.",
        "ja": "「{value}」はオリジン（例：https://blog.example.com）の形式ではありません。",
    },
    "not_integer": {"en": "Must be an integer.", "ja": "整数で指定してください。"},
    "not_boolean": {"en": "Must be true or false.", "ja": "true か false で指定してください。"},
    "out_of_range": {
        "en": "Must be from {low} to {high}.",
        "ja": "{low}〜{high}で指定してください。",
    },
    "threshold_invalid": {
        "en": 'Must be "auto" or a number from {low} to {high}.',
        "ja": "「auto」か、{low}〜{high}の数で指定してください。",
    },
    "cursor_invalid": {"en": "Invalid cursor.", "ja": "ページの位置（cursor）が正しくありません。"},
    "json_invalid": {
        "en": "The body is not valid JSON.",
        "ja": "送信された内容が正しい JSON ではありません。",
    },
    "json_too_deep": {
        "en": "The body is not valid JSON here: it nests deeper than {depth} levels.",
        "ja": "送信された JSON の入れ子が深すぎます（{depth}段まで）。",
    },
    "json_long_number": {
        "en": "The body is not valid JSON here: a number has more than {digits} digits.",
        "ja": "送信された JSON に{digits}桁を超える数があります。",
    },
    "json_constant": {
        "en": "The body is not valid JSON: NaN and Infinity are not JSON numbers.",
        "ja": "送信された内容が正しい JSON ではありません（NaN と Infinity は使えません）。",
    },
    "json_surrogate": {
        "en": "The body is not valid JSON (an unpaired surrogate).",
        "ja": "送信された内容が正しい JSON ではありません（対になっていないサロゲートがあります）"
        "。",
    },
    "not_json": {
        "en": "Send the body as JSON (Content-Type: application/json).",
        "ja": "本文は JSON で送信してください（Content-Type: application/json）。",
    },
    "internal": {
        "en": "The server failed to answer this request; it has been logged.",
        "ja": "サーバーがこのリクエストに答えられませんでした。問題は記録されています。",
    },
    # the views' messages
    "invalid_fields": {"en": "Some fields are invalid.", "ja": "入力内容に誤りがあります。"},
    "invalid_parent": {"en": "Invalid parent.", "ja": "返信先が正しくありません。"},
    "parent_not_visible": {
        "en": "Not a visible comment of this article.",
        "ja": "この記事に表示されているコメントではありません。",
    },
    "invalid_article": {"en": "Invalid article.", "ja": "記事の指定が正しくありません。"},
    "article_key": {"en": "Not a valid article key.", "ja": "記事の指定が正しくありません。"},
    "unknown_category": {"en": "Unknown category.", "ja": "このサイトにないカテゴリです。"},
    "invalid_key": {"en": "Invalid key.", "ja": "キーの形式が正しくありません。"},
    "no_site": {"en": "No site {slug!r}.", "ja": "サイト「{slug}」はありません。"},
    "no_comment": {
        "en": "No comment {id} on this site.",
        "ja": "このサイトにコメント #{id} はありません。",
    },
    "no_such_comment": {"en": "No such comment.", "ja": "コメントが見つかりません。"},
    # the spam guards (service/spam, comments/spam_api.py)
    "challenge_missing": {
        "en": "This comment could not be verified as sent from the page. "
        "Reload the page and send it again.",
        "ja": "ページからの送信であることを確認できませんでした。"
        "ページを再読み込みして、もう一度送信してください。",
    },
    "challenge_reused": {
        "en": "This comment was already sent. Reload the page to send another.",
        "ja": "このコメントは送信済みです。続けて投稿するときは、ページを再読み込みしてください。",
    },
    "spam_rules_invalid": {
        "en": "Invalid spam rules.",
        "ja": "スパム対策の設定を確認してください。",
    },
    "no_block": {
        "en": "No block {id} on this site.",
        "ja": "このサイトにブロック #{id} はありません。",
    },
    "no_category": {
        "en": "No category {key!r} on this site.",
        "ja": "このサイトにカテゴリ「{key}」はありません。",
    },
    "no_entry": {
        "en": "No entry {id} in this category.",
        "ja": "このカテゴリに記録 #{id} はありません。",
    },
    "token_required": {
        "en": "A site token is required: Authorization: Bearer <token>.",
        "ja": "サイトの管理トークンが必要です（Authorization: Bearer <トークン>）。",
    },
    "token_other_site": {
        "en": "This token belongs to another site.",
        "ja": "このトークンは別のサイトのものです。",
    },
    "token_invalid": {"en": "The token is not valid.", "ja": "トークンが正しくありません。"},
    "origin_refused": {
        "en": "This origin may not write to this site.",
        "ja": "このページ（オリジン）からはこのサイトに書き込めません。",
    },
    "edit_expired": {
        "en": "This comment can no longer be edited with this token.",
        "ja": "このコメントはもう編集できません。",
    },
    "delete_expired": {
        "en": "This comment can no longer be deleted with this token.",
        "ja": "このコメントはもう削除できません。",
    },
    "erased": {
        "en": "An erased comment cannot be approved or restored.",
        "ja": "消去されたコメントは承認・復元できません。",
    },
    "reply_not_pinnable": {
        "en": "A reply cannot be pinned.",
        "ja": "返信は固定できません。固定できるのはスレッド直下のコメントだけです。",
    },
    "too_many_seconds": {
        "en": "Too many comments in a short time; try again in {seconds} s.",
        "ja": "短い時間に続けて投稿されたため、受け付けを一時停止しています。"
        "{seconds}秒後にもう一度お試しください。",
    },
    "too_many_minutes": {
        "en": "Too many comments in a short time; try again in {minutes} min.",
        "ja": "短い時間に続けて投稿されたため、受け付けを一時停止しています。"
        "{minutes}分後にもう一度お試しください。",
    },
    "too_many_hours": {
        "en": "Too many comments today; try again in {hours} h.",
        "ja": "本日の投稿数の上限に達しました。{hours}時間後にもう一度お試しください。",
    },
    "database_down": {
        "en": "The database is unavailable; try again shortly.",
        "ja": "データベースに接続できません。しばらくしてからもう一度お試しください。",
    },
    "database_unavailable_short": {
        "en": "The database is unavailable.",
        "ja": "データベースに接続できません。",
    },
    # marshmallow's messages of the argument schemas' other fields
    "invalid_type": {"en": "Invalid type.", "ja": "型が正しくありません。"},
    "invalid_value": {"en": "Invalid value.", "ja": "値が正しくありません。"},
    "not_datetime": {
        "en": "Not a valid datetime.",
        "ja": "タイムゾーン付きの日時（例：2026-12-03T09:00:00+09:00）で指定してください。",
    },
    "not_aware_datetime": {
        "en": "Not a valid aware datetime.",
        "ja": "タイムゾーン付きの日時（例：2026-12-03T09:00:00+09:00）で指定してください。",
    },
    "not_utf8": {"en": "Not a valid utf-8 string.", "ja": "UTF-8 の文字列で指定してください。"},
    "number_too_large": {"en": "Number too large.", "ja": "数値が大きすぎます。"},
    # the worker's body deadline (service.server), answered through Flask
    "body_late": {
        "en": "The request body did not arrive within {seconds} seconds.",
        "ja": "送信内容が{seconds}秒以内に届きませんでした。",
    },
    "body_short": {
        "en": "The request body ended before it was complete.",
        "ja": "送信内容が途中で途切れました。",
    },
    "body_chunked": {
        "en": "The request body is malformed (chunked encoding).",
        "ja": "送信内容の形式（chunked エンコーディング）が正しくありません。",
    },
    # werkzeug's descriptions of the HTTP errors no view raises with a message of its own
    "http_400": {
        "en": "The browser (or proxy) sent a request that this server could not understand.",
        "ja": "リクエストが正しくありません。",
    },
    "http_401": {
        "en": "The server could not verify that you are authorized to access the URL requested."
        " You either supplied the wrong credentials (e.g. a bad password), or your browser"
        " doesn't understand how to supply the credentials required.",
        "ja": "認証が必要です。",
    },
    "http_403": {
        "en": "You don't have the permission to access the requested resource. It is either"
        " read-protected or not readable by the server.",
        "ja": "このページを見る権限がありません。",
    },
    "http_404": {
        "en": "The requested URL was not found on the server. If you entered the URL manually"
        " please check your spelling and try again.",
        "ja": "ページが見つかりません。",
    },
    "http_405": {
        "en": "The method is not allowed for the requested URL.",
        "ja": "このURLではこのメソッドは使えません。",
    },
    "http_408": {
        "en": "The server closed the network connection because the browser didn't finish the"
        " request within the specified time.",
        "ja": "リクエストが時間内に届きませんでした。",
    },
    "http_422": {
        "en": "The request was well-formed but was unable to be followed due to semantic errors.",
        "ja": "送信内容を処理できませんでした。",
    },
    "http_413": {
        "en": "The data value transmitted exceeds the capacity limit.",
        "ja": "送信内容が大きすぎます。",
    },
    "http_414": {
        "en": "The length of the requested URL exceeds the capacity limit for this server. The"
        " request cannot be processed.",
        "ja": "URLが長すぎます。",
    },
    "http_415": {
        "en": "The server does not support the media type transmitted in the request.",
        "ja": "送信された形式（Content-Type）には対応していません。",
    },
    "http_429": {
        "en": "This user has exceeded an allotted request count. Try again later.",
        "ja": "リクエストが多すぎます。しばらくしてからもう一度お試しください。",
    },
    "http_431": {
        "en": "One or more header fields exceeds the maximum size.",
        "ja": "リクエストのヘッダーが大きすぎます。",
    },
    "http_500": {
        "en": "The server encountered an internal error and was unable to complete your request."
        " Either the server is overloaded or there is an error in the application.",
        "ja": "サーバーで問題が起きました。しばらくしてからもう一度お試しください。",
    },
    "http_503": {
        "en": "The server is temporarily unable to service your request due to maintenance"
        " downtime or capacity problems. Please try again later.",
        "ja": "サーバーが一時的に応答できません。しばらくしてからもう一度お試しください。",
    },
}

# One field's own wording (catalogue keys ``field.<field>.<name>``); English stays as raised.
FIELD_TEXTS: dict[str, dict[str, str]] = {
    "body.length": {
        "en": "Must be 1 to {max} characters.",
        "ja": "コメントは1〜{max}文字で入力してください。",
    },
    "author.longer": {
        "en": "Longer than maximum length {max}.",
        "ja": "名前は{max}文字以内で入力してください。",
    },
    "email.invalid": {
        "en": "Not a valid email address.",
        "ja": "メールアドレスの形式が正しくありません（例：name@example.com）。",
    },
    "website.invalid": {
        "en": "String does not match expected pattern.",
        "ja": "ウェブサイトは http:// か https:// で始まるURLで入力してください。",
    },
    "article_url.invalid": {
        "en": "String does not match expected pattern.",
        "ja": "記事のURLは http:// か https:// で始まるURLで指定してください。",
    },
    "website.url": {
        "en": "Must be an http(s) URL without spaces, quotes or control characters.",
        "ja": "ウェブサイトは http:// か https:// で始まるURLで入力してください。",
    },
}
