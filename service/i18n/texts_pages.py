"""What readers and authors see outside the API and the admin: the e-mail link pages
(``link``), the badges and charts (``badge``), the notification e-mails (``mail``), the
feeds (``feed``) and the names of things (``comment``). Catalogue areas, one dict each."""

from __future__ import annotations

COMMENT: dict[str, dict[str, str]] = {
    "anonymous": {"ja": "名無し", "en": "Anonymous"},
    "status_pending": {"ja": "承認待ち", "en": "pending"},
    "status_approved": {"ja": "公開中", "en": "approved"},
    "status_spam": {"ja": "スパム", "en": "spam"},
    "status_deleted": {"ja": "削除済み", "en": "deleted"},
}

LINK: dict[str, dict[str, str]] = {
    "approve.title": {"ja": "コメントを承認しますか？", "en": "Approve this comment?"},
    "approve.button": {"ja": "承認する", "en": "Approve"},
    "approve.done": {"ja": "コメントを承認しました。", "en": "The comment is approved."},
    "approve.moot": {
        "ja": "このコメントは承認待ちではありません（現在：{status}）。",
        "en": "This comment is not waiting for approval (it is {status}).",
    },
    "delete.title": {"ja": "コメントを削除しますか？", "en": "Delete this comment?"},
    "delete.button": {"ja": "削除する", "en": "Delete"},
    "delete.done": {"ja": "コメントを削除しました。", "en": "The comment is deleted."},
    "delete.moot": {
        "ja": "このコメントはすでに削除されています。",
        "en": "This comment is already deleted.",
    },
    "spam.title": {"ja": "コメントをスパムにしますか？", "en": "Mark this comment as spam?"},
    "spam.button": {"ja": "スパムにする", "en": "Mark as spam"},
    "spam.done": {
        "ja": "コメントをスパムにしました。スパムフィルタが学習しました。",
        "en": "The comment is marked as spam; the spam filter has learned from it.",
    },
    "spam.moot": {
        "ja": "このコメントはすでにスパムです。",
        "en": "This comment is already marked as spam.",
    },
    "by": {"ja": "投稿者：{author}", "en": "By {author}"},
    "used.title": {"ja": "使用済みのリンクです", "en": "This link has been used"},
    "used.text": {
        "ja": "このリンクはすでに使われました。リンクは一度しか使えません。",
        "en": "This link was used already; each link works only once.",
    },
    "expired.title": {"ja": "リンクの期限が切れています", "en": "This link has expired"},
    "expired.text": {
        "ja": "このリンクは有効期限（7日）を過ぎています。管理画面から操作してください。",
        "en": "This link is older than 7 days. Please use the admin page instead.",
    },
    "forged.title": {"ja": "無効なリンクです", "en": "This link is not valid"},
    "forged.text": {
        "ja": "このリンクは正しくありません。メールのリンクをそのまま開いてください。",
        "en": "This link is not correct. Please open the link from the e-mail as it is.",
    },
    "gone.title": {"ja": "コメントが見つかりません", "en": "Comment not found"},
    "gone.text": {
        "ja": "このコメントはもう存在しません。",
        "en": "This comment does not exist any more.",
    },
    "unsubscribe.title": {
        "ja": "返信の通知メールを停止しますか？",
        "en": "Stop reply notifications?",
    },
    "unsubscribe.text": {
        "ja": "{site} のコメントへの返信をメールでお知らせするのをやめます。",
        "en": "You will no longer get an e-mail when someone replies to your comments on {site}.",
    },
    "unsubscribe.button": {"ja": "配信を停止する", "en": "Unsubscribe"},
    "unsubscribe.done": {
        "ja": "配信を停止しました。{site} から返信の通知メールは届きません。",
        "en": "You are unsubscribed: {site} will send you no more reply e-mails.",
    },
    "check_admin": {
        "ja": "管理画面で確認してください。",
        "en": "Please check it on the admin page.",
    },
    "admin_link": {"ja": "管理画面を開く", "en": "Open the admin page"},
    "confirm.title": {
        "ja": "返信の通知を受け取りますか？",
        "en": "Get an e-mail when someone replies?",
    },
    "confirm.text": {
        "ja": "{site} であなたのコメントに返信があったとき、このアドレスにメールでお知らせします。",
        "en": "{site} will e-mail this address when someone replies to your comments.",
    },
    "confirm.button": {"ja": "通知を受け取る", "en": "Yes, notify me"},
    "confirm.done": {
        "ja": "確認しました。{site} から返信の通知メールが届きます。",
        "en": "Confirmed: {site} will e-mail you when someone replies.",
    },
}

BADGE: dict[str, dict[str, str]] = {
    "ranking": {"ja": "{label}ランキング", "en": "{label} ranking"},
    "pos": {"ja": "{n}位", "en": "#{n}"},
    "best_only": {"ja": "（最高順位）", "en": " (best)"},
    "both": {"ja": "（最高順位 {top}）", "en": " (best {top})"},
    "none": {"ja": "未登録", "en": "not ranked"},
    "empty": {"ja": "まだ履歴がありません", "en": "No ranking history yet"},
    "unknown site": {"ja": "サイトが見つかりません", "en": "unknown site"},
    "unknown category": {"ja": "ランキングが見つかりません", "en": "unknown category"},
    "invalid": {"ja": "{name}の値が不正です", "en": "invalid {name}"},
    "list_separator": {"ja": "、", "en": ", "},
    "alt": {"ja": "{label} {value}", "en": "{label}: {value}"},
}

MAIL: dict[str, dict[str, str]] = {
    "subject.created": {
        "ja": "[{site}] 新しいコメント：{title}",
        "en": "[{site}] New comment on {title}",
    },
    "subject.pending": {
        "ja": "[{site}] 承認待ちのコメント：{title}",
        "en": "[{site}] Comment awaiting approval on {title}",
    },
    "subject.reply": {
        "ja": "[{site}] {author}さんがあなたのコメントに返信しました",
        "en": "[{site}] {author} replied to your comment",
    },
    "wrote": {
        "ja": "{author}さんが「{title}」にコメントしました。",
        "en": "{author} commented on “{title}”.",
    },
    "pending": {
        "ja": "このコメントは承認待ちです。",
        "en": "This comment is waiting for your approval.",
    },
    "approve": {"ja": "承認する", "en": "Approve"},
    "delete": {"ja": "削除する", "en": "Delete"},
    "spam": {"ja": "スパムにする", "en": "Mark as spam"},
    "link_line": {"ja": "{label}：{url}", "en": "{label}: {url}"},
    "links": {
        "ja": "リンクは一度だけ使え、7日で期限が切れます。",
        "en": "Each link works once and expires in 7 days.",
    },
    "replied": {
        "ja": "{author}さんが「{title}」のあなたのコメントに返信しました。",
        "en": "{author} replied to your comment on “{title}”.",
    },
    "yours": {"ja": "あなたのコメント：", "en": "Your comment:"},
    "open": {"ja": "記事を開く", "en": "Open the article"},
    "unsubscribe": {"ja": "返信の通知メールを停止する", "en": "Stop reply e-mails"},
    "why": {
        "ja": "このメールは、コメント時に「返信を通知」を選んだため送られています。",
        "en": "You get this e-mail because you asked to be notified of replies.",
    },
    "subject.confirm": {
        "ja": "[{site}] 返信の通知メールの確認",
        "en": "[{site}] Confirm reply notifications",
    },
    "confirm": {
        "ja": "{site} へのコメントで「返信を通知」が選ばれました。"
        "返信をメールで受け取るには、次のリンクを開いて確認してください。",
        "en": "A comment on {site} asked to be notified of replies at this address. "
        "To get those e-mails, open the link below and confirm.",
    },
    "confirm_link": {"ja": "通知を受け取る", "en": "Confirm"},
    "confirm_ignore": {
        "ja": "お心当たりがなければ、このメールは無視してください。これ以上メールは届きません。",
        "en": "If this was not you, ignore this e-mail: nothing more will be sent to you.",
    },
    "rank.best": {
        "ja": "{label}ランキングで最高順位を更新しました：{position}位",
        "en": "New best rank in {label}: #{position}",
    },
    "rank.previous": {"ja": "（前回の最高 {position}位）", "en": " (previous best #{position})"},
    "rank.first": {"ja": "（初めての記録）", "en": " (the first entry)"},
    "rank.at": {"ja": "記録日時：{at}", "en": "Observed: {at}"},
}

# Chat messages (LINE, Slack, Discord, Telegram): short, plain text, links on lines of their own.
CHAT: dict[str, dict[str, str]] = {
    "created": {
        "ja": "【{site}】{author}さんが「{title}」にコメントしました",
        "en": "[{site}] {author} commented on “{title}”",
    },
    "pending": {
        "ja": "【{site}】{author}さんのコメントが承認待ちです（「{title}」）",
        "en": "[{site}] A comment by {author} on “{title}” awaits your approval",
    },
    "rank": {"ja": "【{site}】{line}", "en": "[{site}] {line}"},
    "article": {"ja": "記事：{url}", "en": "Article: {url}"},
    "approve": {"ja": "承認する：{url}", "en": "Approve: {url}"},
    "delete": {"ja": "削除する：{url}", "en": "Delete: {url}"},
    "admin": {"ja": "管理画面：{url}", "en": "Admin: {url}"},
}

FEED: dict[str, dict[str, str]] = {
    "title": {"ja": "{site} のコメント", "en": "{site}: comments"},
    "entry": {"ja": "{author} — {where}：{text}", "en": "{author} — {where}: {text}"},
}
