"""Every text of the admin pages (catalogue area ``admin``), in each language."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "admin": {"ja": "管理画面", "en": "Admin"},
    "skip": {"ja": "本文へスキップ", "en": "Skip to content"},
    "menu": {"ja": "管理メニュー", "en": "Admin menu"},
    "language": {"ja": "表示言語", "en": "Language"},
    "sign_in": {"ja": "サインイン", "en": "Sign in"},
    "sign_in_intro": {
        "ja": "サイトのスラッグと管理トークンを入力してください。",
        "en": "Enter your site's slug and its admin token.",
    },
    "sign_in_note": {
        "ja": "トークンは `ranklet site create`、`ranklet token rotate` または"
        " `ranklet demo`（サイトは demo）で表示されたものです。",
        "en": "The token is the one printed by `ranklet site create`, `ranklet token rotate`"
        " or `ranklet demo` (whose site is demo).",
    },
    "site_slug": {"ja": "サイト（スラッグ）", "en": "Site (slug)"},
    "slug_mark": {"ja": "（{slug}）", "en": " ({slug})"},
    "site_token": {"ja": "管理トークン", "en": "Admin token"},
    "bad_sign_in": {
        "ja": "サイトまたはトークンが正しくありません。",
        "en": "The site or the token is not correct.",
    },
    "signed_in": {"ja": "{name} にサインインしました。", "en": "Signed in to {name}."},
    "sign_out": {"ja": "サインアウト", "en": "Sign out"},
    "signed_out": {"ja": "サインアウトしました。", "en": "You are signed out."},
    "session_ended": {
        "ja": "セッションが終了しました。もう一度サインインしてください。",
        "en": "Your session has ended. Please sign in again.",
    },
    "csrf_failed": {
        "ja": "フォームの有効期限が切れたか、別のページから送信されました。"
        "ページを読み込み直してからもう一度お試しください。",
        "en": "The form has expired or was sent from another page. Reload the page and try again.",
    },
    "error_title": {"ja": "エラー", "en": "Error"},
    "not_found": {"ja": "ページまたはコメントが見つかりません。", "en": "No such page or comment."},
    "bad_request": {"ja": "リクエストが正しくありません。", "en": "The request is not valid."},
    "back_to_admin": {"ja": "管理画面に戻る", "en": "Back to the admin page"},
    "moderation": {"ja": "コメントの承認", "en": "Moderation"},
    "articles": {"ja": "記事ごとのコメント", "en": "Comments by article"},
    "rankings": {"ja": "順位の記録", "en": "Record positions"},
    "settings": {"ja": "サイト設定", "en": "Site settings"},
    "erase": {"ja": "個人データの削除", "en": "Erase personal data"},
    "token": {"ja": "トークンの再発行", "en": "Rotate token"},
    "status_tabs": {"ja": "コメントの状態", "en": "Comment status"},
    "status_pending": {"ja": "承認待ち", "en": "Pending"},
    "status_spam": {"ja": "スパム", "en": "Spam"},
    "status_approved": {"ja": "公開中", "en": "Approved"},
    "status_deleted": {"ja": "削除済み", "en": "Deleted"},
    "queue_empty": {"ja": "このタブにコメントはありません。", "en": "No comments here."},
    "selected": {"ja": "選択したコメント", "en": "Selected comments"},
    "select_comment": {"ja": "選択", "en": "Select"},
    "bulk_approve": {"ja": "選択を承認", "en": "Approve selected"},
    "bulk_spam": {"ja": "選択をスパムに", "en": "Mark selected as spam"},
    "bulk_delete": {"ja": "選択を削除", "en": "Delete selected"},
    "bulk_restore": {"ja": "選択を復元", "en": "Restore selected"},
    "do_approve": {"ja": "承認", "en": "Approve"},
    "do_spam": {"ja": "スパム", "en": "Spam"},
    "do_block": {"ja": "投稿者をブロック", "en": "Block commenter"},
    "bulk_block": {"ja": "選択の投稿者をブロック", "en": "Block selected commenters"},
    "done_block": {
        "ja": "投稿者をブロックしてスパムにしました",
        "en": "blocked and marked as spam",
    },
    "do_delete": {"ja": "削除", "en": "Delete"},
    "do_restore": {"ja": "復元", "en": "Restore"},
    "done_approve": {"ja": "承認しました", "en": "approved"},
    "done_spam": {"ja": "スパムにしました", "en": "marked as spam"},
    "done_delete": {"ja": "削除しました", "en": "deleted"},
    "done_restore": {"ja": "復元しました", "en": "restored"},
    "moderated": {"ja": "{n}件のコメントを{action}。", "en": "{n} comment(s) {action}."},
    "nothing_selected": {"ja": "コメントが選択されていません。", "en": "No comment was selected."},
    "erased_cannot_restore": {
        "ja": "消去されたコメントは承認・復元できません。",
        "en": "An erased comment cannot be approved or restored.",
    },
    "older": {"ja": "さらに古いコメント", "en": "Older comments"},
    "search_label": {"ja": "コメントを検索", "en": "Search comments"},
    "search_button": {"ja": "検索", "en": "Search"},
    "search_clear": {"ja": "検索をやめる", "en": "Clear the search"},
    "search_hint": {
        "ja": "本文・名前・サイト・記事から探します。"
        "スペースで区切ると、すべての語を含むコメントだけを表示します。",
        "en": "Finds words in the text, name, website or article; with several words,"
        " only comments that contain them all.",
    },
    "search_empty": {
        "ja": "この条件に合うコメントはありません。",
        "en": "No comment here matches the search.",
    },
    "pinned_tag": {"ja": "固定中", "en": "Pinned"},
    "do_pin": {"ja": "固定する", "en": "Pin"},
    "do_unpin": {"ja": "固定を外す", "en": "Unpin"},
    "done_pin": {
        "ja": "コメントを固定しました。記事のコメント欄でいちばん上に表示されます。",
        "en": "Pinned: the comment now leads its thread.",
    },
    "done_unpin": {"ja": "コメントの固定を外しました。", "en": "Unpinned."},
    "on_article": {"ja": "記事：", "en": "On:"},
    "reply_to": {"ja": "#{id} への返信", "en": "reply to #{id}"},
    "author_badge": {"ja": "ブログ著者", "en": "Blog author"},
    "no_email": {"ja": "メールなし", "en": "no e-mail"},
    "notify_on": {"ja": "返信通知あり", "en": "wants reply e-mails"},
    "likes": {"ja": "いいね {n}", "en": "{n} likes"},
    "article_list_intro": {
        "ja": "コメントのある記事の一覧です。",
        "en": "Articles that have comments.",
    },
    "article_column": {"ja": "記事", "en": "Article"},
    "approved_column": {"ja": "公開中", "en": "Approved"},
    "pending_column": {"ja": "承認待ち", "en": "Pending"},
    "open_article": {"ja": "記事を開く", "en": "Open the article"},
    "show_comments": {"ja": "コメントを見る", "en": "Show comments"},
    "no_articles": {
        "ja": "まだコメントのある記事はありません。",
        "en": "No article has comments yet.",
    },
    "no_comments": {
        "ja": "この記事にコメントはありません。",
        "en": "This article has no comments.",
    },
    "article_comments": {"ja": "この記事のコメント", "en": "Comments on this article"},
    "previous_page": {"ja": "前のページ", "en": "Previous page"},
    "next_page": {"ja": "次のページ", "en": "Next page"},
    "record_intro": {
        "ja": "記録する順位だけを入力してください。空欄のカテゴリは記録されません。",
        "en": "Fill in only the positions to record; empty categories are skipped.",
    },
    "category": {"ja": "カテゴリ", "en": "Category"},
    "current_rank": {"ja": "現在", "en": "Current"},
    "best_rank": {"ja": "最高順位", "en": "Best rank"},
    "new_position": {"ja": "新しい順位", "en": "New position"},
    "not_ranked": {"ja": "未登録", "en": "not ranked"},
    "pos": {"ja": "{n}位", "en": "#{n}"},
    "observed_at": {"ja": "観測日時（任意）", "en": "Observed at (optional)"},
    "observed_at_hint": {
        "ja": "空欄なら現在時刻。例：2026-01-05T09:00（{zone} の時刻として記録します）",
        "en": "Empty means now. E.g. 2026-01-05T09:00 (read as {zone} time)",
    },
    "record": {"ja": "記録する", "en": "Record"},
    "recorded": {"ja": "{n}件の順位を記録しました。", "en": "Recorded {n} position(s)."},
    "position_invalid": {
        "ja": "1〜1,000,000 の整数を入力してください。",
        "en": "Enter a whole number from 1 to 1,000,000.",
    },
    "observed_at_invalid": {
        "ja": "日時を 2026-01-05T09:00 の形で、現在より5分以上先にならないように入力してください。",
        "en": "Enter a time like 2026-01-05T09:00, no more than 5 minutes ahead.",
    },
    "nothing_to_record": {
        "ja": "順位を1つ以上入力してください。",
        "en": "Enter at least one position.",
    },
    "fix_errors": {"ja": "入力内容を確認してください。", "en": "Please correct the fields below."},
    "history": {"ja": "順位の推移", "en": "History"},
    "chart_alt": {
        "ja": "{label}の順位の推移（上ほど良い順位）",
        "en": "{label}: rank history (better ranks higher)",
    },
    "best_pos": {"ja": "{pos}（最高順位）", "en": "Best rank: {pos}"},
    "best_since": {"ja": "{date} に初めて到達", "en": "First reached on {date}"},
    "no_history": {"ja": "最高順位：まだ記録がありません", "en": "Best rank: nothing recorded yet"},
    "site_name": {"ja": "サイト名", "en": "Site name"},
    "origins": {"ja": "許可するオリジン", "en": "Allowed origins"},
    "origins_hint": {
        "ja": "1行に1つ。例：https://blog.example.com（コメント投稿を受け付けるブログのURL）",
        "en": "One per line, e.g. https://blog.example.com (where your blog is served)",
    },
    "site_lang": {"ja": "サイトの言語", "en": "Site language"},
    "lang_ja": {"ja": "日本語", "en": "Japanese"},
    "lang_en": {"ja": "英語", "en": "English"},
    "moderation_mode": {"ja": "承認方法", "en": "Moderation"},
    "moderation_none": {
        "ja": "すぐに公開（スパム判定されたものだけ承認待ち）",
        "en": "Publish at once (only suspicious comments wait)",
    },
    "moderation_all": {
        "ja": "すべてのコメントを承認してから公開",
        "en": "Approve every comment before it is published",
    },
    "notifications": {"ja": "通知", "en": "Notifications"},
    "webhook_url": {"ja": "Webhook URL", "en": "Webhook URL"},
    "webhook_hint": {
        "ja": "新しいURLを保存すると署名用シークレットが一度だけ表示されます。空欄で解除。",
        "en": "A new URL shows its signing secret once, after saving. Empty removes it.",
    },
    "notify_email": {"ja": "通知先メールアドレス", "en": "Notification e-mail"},
    "notify_pending": {
        "ja": "承認待ちのコメントも通知する",
        "en": "Also notify me of comments that wait for approval",
    },
    "rank_events": {
        "ja": "順位の通知（Webhook・メール）",
        "en": "Rank notifications (webhook and e-mail)",
    },
    "rank_events_best": {
        "ja": "最高順位を更新したときだけ",
        "en": "Only when a category reaches a new best rank",
    },
    "rank_events_all": {
        "ja": "最高順位の更新と、順位を記録するたび（Webhook のみ）",
        "en": "New best ranks, and every recorded batch (webhook only)",
    },
    "rank_events_none": {"ja": "送らない", "en": "None"},
    "best_flag_days": {
        "ja": "「最高順位更新！」を表示する日数",
        "en": "Days the badge says “New best!”",
    },
    "best_flag_days_hint": {
        "ja": "最高順位を更新してからバッジに表示する日数。0 で表示しません。",
        "en": "How long after a new best rank the badge shows it. 0 turns it off.",
    },
    "invalid_best_flag_days": {
        "ja": "0 から 365 までの整数を入れてください。",
        "en": "Enter a whole number from 0 to 365.",
    },
    "invalid_rank_events": {"ja": "選択肢から選んでください。", "en": "Choose one of the options."},
    "new_best": {"ja": "最高順位更新！", "en": "New best!"},
    "banned_words": {"ja": "禁止語", "en": "Banned words"},
    "banned_words_hint": {
        "ja": "1行に1つ。含むコメントはスパムとして保留します。全角・半角や大文字・小文字、"
        "Markdown の装飾やゼロ幅文字をはさんでも見つけます。",
        "en": "One per line; comments that contain one are held as spam, however they are "
        "written (full-width letters, case, Markdown emphasis or zero-width characters).",
    },
    "spam_guards": {"ja": "スパム対策", "en": "Spam guards"},
    "spam_patterns": {
        "ja": "禁止パターン（正規表現）",
        "en": "Blocked patterns (regular expressions)",
    },
    "spam_patterns_hint": {
        "ja": "1行に1つ。一致したコメントはスパムとして保留します（例：bit\\.ly/）。"
        "処理に時間のかかるパターンは保存できません。",
        "en": "One per line; a comment that matches is held as spam (e.g. bit\\.ly/). "
        "Patterns that could run too long are refused.",
    },
    "invalid_spam_patterns": {
        "ja": "正規表現として正しくないか、処理に時間がかかりすぎるパターンがあります。",
        "en": "A pattern is not a valid regular expression, or could run too long.",
    },
    "spam_threshold": {"ja": "学習フィルタのしきい値", "en": "Learning filter threshold"},
    "spam_threshold_hint": {
        "ja": "auto（既定）または 0.5〜1。スコアがこれを超えたコメントはスパムとして保留します。"
        "auto では、このサイトで公開されたコメントの約80件に1件しか超えない値を学習します"
        "（学習できるまでは 0.95）。フィルタは公開・承認・スパム判定から学習し、それぞれ20件"
        "以上になるまでは保留しません。",
        "en": "auto (the default) or 0.5 to 1. Comments scored above it are held as spam. "
        "With auto, the threshold is learned from this site's published comments so that about "
        "1 in 80 of them would score above it (0.95 until then). The filter learns from what "
        "you publish, approve and mark as spam, and holds nothing until it has seen 20 of each.",
    },
    "spam_threshold_now_learned": {
        "ja": "現在のしきい値：{value}（学習済み）",
        "en": "In force now: {value} (learned)",
    },
    "spam_threshold_now_fixed": {
        "ja": "現在のしきい値：{value}",
        "en": "In force now: {value}",
    },
    "invalid_spam_threshold": {
        "ja": "auto か、0.5 から 1 までの数を入れてください。",
        "en": "Enter auto or a number from 0.5 to 1.",
    },
    "challenge": {"ja": "自動投稿の防止（プルーフ・オブ・ワーク）", "en": "Proof of work"},
    "challenge_off": {"ja": "使わない", "en": "Off"},
    "challenge_pow": {
        "ja": "使う（読者の画面にパズルは出ず、入力中にブラウザが計算します）",
        "en": "On (no puzzle: the reader's browser solves it while they type)",
    },
    "invalid_challenge": {"ja": "選択肢から選んでください。", "en": "Choose one of the options."},
    "blocks": {"ja": "ブロック中の投稿者", "en": "Blocked commenters"},
    "blocks_hint": {
        "ja": "IPアドレスやメールアドレスそのものは保存していません（鍵付きハッシュのみ）。",
        "en": "Addresses themselves are never stored, only keyed hashes of them.",
    },
    "no_blocks": {"ja": "ブロック中の投稿者はいません。", "en": "Nobody is blocked."},
    "block_kind_client": {"ja": "接続元", "en": "address"},
    "block_kind_email": {"ja": "メール", "en": "e-mail"},
    "unblock": {"ja": "ブロックを解除", "en": "Unblock"},
    "unblocked": {"ja": "ブロックを解除しました。", "en": "Unblocked."},
    "spam_score": {"ja": "スパムスコア", "en": "Spam score"},
    "spam_reasons": {"ja": "判定の決め手", "en": "Weighed most"},
    "save": {"ja": "保存する", "en": "Save"},
    "saved": {"ja": "設定を保存しました。", "en": "Settings saved."},
    "invalid_name": {
        "ja": "サイト名は1〜200文字で入力してください。",
        "en": "The name must be 1 to 200 characters.",
    },
    "invalid_origins": {
        "ja": "オリジンは https://blog.example.com の形式で入力してください。",
        "en": "Enter origins like https://blog.example.com.",
    },
    "invalid_lang": {"ja": "言語を選んでください。", "en": "Choose a language."},
    "timezone": {"ja": "タイムゾーン", "en": "Time zone"},
    "timezone_hint": {
        "ja": "管理画面・メール・コマンドの日時と、ランキング推移グラフの日付に使います"
        "（例：Asia/Tokyo）。空欄なら言語に合わせます（日本語は Asia/Tokyo、英語は UTC）。",
        "en": "Times in this admin, in e-mails and in commands, and the dates of the history"
        " charts, are in it (e.g. Europe/London). Empty follows the language (Japanese:"
        " Asia/Tokyo, English: UTC).",
    },
    "invalid_timezone": {
        "ja": "Asia/Tokyo や UTC のような IANA のタイムゾーン名を入力してください。",
        "en": "Enter an IANA time zone name such as Asia/Tokyo or UTC.",
    },
    "invalid_moderation": {"ja": "承認方法を選んでください。", "en": "Choose a moderation mode."},
    "invalid_webhook_url": {
        "ja": "公開されたアドレスの http:// か https:// で始まるURLを入力してください（localhost"
        " や社内ネットワークのアドレスは使えません）。",
        "en": "Enter an http(s) URL on a public address (not localhost or a private network).",
    },
    "invalid_notify_email": {
        "ja": "メールアドレスの形式が正しくありません。",
        "en": "This is not an e-mail address.",
    },
    "invalid_banned_words": {"ja": "禁止語を確認してください。", "en": "Check the banned words."},
    "webhook_secret": {"ja": "Webhook の署名用シークレット", "en": "Webhook signing secret"},
    "chat_channels": {"ja": "チャットへの通知", "en": "Chat notifications"},
    "chat_hint": {
        "ja": "新しいコメント・承認待ちのコメント・最高順位の更新を短いメッセージで送ります。"
        "入力した値は暗号化して保存され、二度と表示されません。空欄のまま保存すると今の設定が残ります。",
        "en": "New and held comments and new best ranks, as a short message. What you enter"
        " is stored encrypted and never shown again; leave a field empty to keep it as it is.",
    },
    "notify_line": {"ja": "LINE（Messaging API）", "en": "LINE (Messaging API)"},
    "notify_slack": {"ja": "Slack（Incoming Webhook）", "en": "Slack (incoming webhook)"},
    "notify_discord": {"ja": "Discord（Webhook）", "en": "Discord (webhook)"},
    "notify_telegram": {"ja": "Telegram（ボット）", "en": "Telegram (bot)"},
    "chat_format_line": {"ja": "TOKEN:TO", "en": "TOKEN:TO"},
    "chat_format_slack": {
        "ja": "https://hooks.slack.com/services/…",
        "en": "https://hooks.slack.com/services/…",
    },
    "chat_format_discord": {
        "ja": "https://discord.com/api/webhooks/…",
        "en": "https://discord.com/api/webhooks/…",
    },
    "chat_format_telegram": {"ja": "BOT_TOKEN:CHAT_ID", "en": "BOT_TOKEN:CHAT_ID"},
    "chat_set": {"ja": "設定済み（値は表示されません）", "en": "Set (never shown again)"},
    "chat_unset": {"ja": "未設定", "en": "Not set"},
    "chat_remove": {"ja": "この通知先を削除する", "en": "Remove this channel"},
    "invalid_notify_line": {
        "ja": "チャネルアクセストークンと送信先IDを `TOKEN:TO` の形で入力してください。"
        "送信先IDは U・C・R のいずれかで始まる33文字です。",
        "en": "Enter the channel access token and the id to push to as `TOKEN:TO`; the id is"
        " the 33-character user (U…), group (C…) or room (R…) id.",
    },
    "invalid_notify_slack": {
        "ja": "Slack の Incoming Webhook の https:// で始まるURLを入力してください。",
        "en": "Enter the https URL of a Slack incoming webhook.",
    },
    "invalid_notify_discord": {
        "ja": "Discord の Webhook の https:// で始まるURLを入力してください。",
        "en": "Enter the https URL of a Discord webhook.",
    },
    "invalid_notify_telegram": {
        "ja": "ボットのトークンとチャットIDを `BOT_TOKEN:CHAT_ID` の形で入力してください"
        "（例：`123456789:AAH…:-1001234567890`）。",
        "en": "Enter the bot token and the chat id as `BOT_TOKEN:CHAT_ID`, e.g."
        " `123456789:AAH…:-1001234567890`.",
    },
    "shown_once": {
        "ja": "この値は今回だけ表示されます。安全な場所に保存してください。",
        "en": "This is shown only once. Keep it somewhere safe.",
    },
    "erase_intro": {
        "ja": "あるメールアドレスで投稿されたコメントと個人データをすべて削除します。"
        "取り消せません。",
        "en": "Delete every comment and all personal data of one e-mail address. This cannot be"
        " undone.",
    },
    "email": {"ja": "メールアドレス", "en": "E-mail address"},
    "continue": {"ja": "確認へ進む", "en": "Continue"},
    "erase_confirm_title": {"ja": "削除の確認", "en": "Confirm erasure"},
    "erase_confirm": {
        "ja": "{email} のコメント {n}件と個人データを削除します。",
        "en": "This erases {n} comment(s) and all personal data of {email}.",
    },
    "erase_confirm_box": {
        "ja": "取り消せないことを理解しました",
        "en": "I understand that this cannot be undone",
    },
    "erase_now": {"ja": "削除する", "en": "Erase"},
    "erase_cancel": {"ja": "やめる", "en": "Cancel"},
    "erased": {
        "ja": "{n}件のコメントと個人データを削除しました。",
        "en": "Erased {n} comment(s) and the personal data.",
    },
    "invalid_email": {"ja": "メールアドレスを入力してください。", "en": "Enter an e-mail address."},
    "must_confirm": {"ja": "確認のチェックを入れてください。", "en": "Tick the confirmation box."},
    "token_intro": {
        "ja": "管理トークンを新しくします。古いトークンはすぐに使えなくなり、"
        "他の端末のサインインも終了します。API で使っているスクリプトも更新してください。",
        "en": "Issue a new admin token. The old one stops working at once and signs out every"
        " other browser; update scripts that use the API too.",
    },
    "token_confirm_box": {
        "ja": "古いトークンが使えなくなることを理解しました",
        "en": "I understand that the old token stops working",
    },
    "rotate": {"ja": "トークンを再発行する", "en": "Rotate the token"},
    "rotated": {"ja": "トークンを再発行しました。", "en": "A new token was issued."},
    "new_token": {"ja": "新しい管理トークン", "en": "New admin token"},
}
