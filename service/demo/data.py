"""The demo blog's data: a Japanese consultant's site with rank history and comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from service.comments import likes as comment_likes
from service.comments import posting, threads
from service.core.extensions import db
from service.db.models import Comment, Site
from service.db.types import utcnow
from service.rankings import history as ranking
from service.sites.local_time import site_zone
from service.sites.settings import SiteSettings, create_site, get_site, rotate_token, update_site

DEMO_SLUG = "demo"
DEMO_ARTICLE = "/demo/"
PORTAL = "https://ranking.example.jp"

# Positions over the last 60 days, every 3 days; the best rank (最高順位) is reached late.
HISTORY: dict[str, list[int]] = {
    "consulting": [31, 28, 25, 22, 19, 17, 15, 14, 12, 11, 9, 8, 8, 7, 6, 6, 5, 5, 4, 4],
    "management": [40, 37, 35, 30, 26, 22, 20, 18, 15, 13, 12, 9, 10, 11, 12, 12, 13, 12, 12, 12],
    "marketing": [22, 20, 18, 15, 14, 12, 11, 9, 9, 8, 7, 6, 5, 6, 6, 7, 7, 6, 7, 7],
}

ARTICLES = {
    "/demo/": "中小企業のDX、最初の90日でやるべき5つのこと",
    "/demo/pricing-strategy/": "値上げを恐れない：コンサルが教える価格戦略の基本",
    "/demo/kpi-design/": "KPIは3つで十分です：現場が動く指標の作り方",
}

# The date the demo article shows (templates/demo/article.html): 2026-11-20 09:00 JST.
ARTICLE_PUBLISHED = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)

# (key, parent key, author, body, hours after the article was published, by the author)
COMMENTS: list[tuple[str, str | None, str | None, str, int, bool]] = [
    (
        "c1",
        None,
        "佐藤 健一",
        "「まず業務の棚卸しから」という点、本当にその通りだと思います。"
        "弊社はツール選定から入ってしまい、半年で**「誰も使わないシステム」**が残りました。",
        27,
        False,
    ),
    (
        "c2",
        "c1",
        "山田 コンサルティング",
        "コメントありがとうございます。ツールから入る失敗は本当によく見かけます。"
        "棚卸しは*Excel 1枚*からで十分ですので、ぜひ再挑戦してみてください。",
        30,
        True,
    ),
    (
        "c3",
        "c2",
        "佐藤 健一",
        "ありがとうございます。来週の部内会議で提案してみます！",
        33,
        False,
    ),
    (
        "c4",
        None,
        "Emily Carter",
        "Great checklist. We used a similar 90-day plan for a client in Osaka — "
        "the point about naming one owner per process made the biggest difference.",
        98,
        False,
    ),
    (
        "c5",
        None,
        None,
        "質問です。従業員10名ほどの会社でも、専任の担当者を置くべきでしょうか？\n"
        "兼任だとどうしても後回しになってしまいます。",
        190,
        False,
    ),
    (
        "c6",
        "c5",
        "山田 コンサルティング",
        "10名規模なら兼任で構いません。ただし、週に半日など**時間を先に確保**するのがコツです。"
        "詳しくは [KPI設計の記事](https://example.jp/demo/kpi-design/) も参考にしてください。",
        196,
        True,
    ),
    (
        "c7",
        None,
        "田中",
        "DXという言葉に身構えていましたが、やることが具体的で読みやすかったです。",
        290,
        False,
    ),
]


def seed_demo(base_url: str) -> str:
    """Create or refresh the demo site; returns a fresh admin token (the old one stops)."""
    origins = sorted({base_url.rstrip("/"), base_url.replace("127.0.0.1", "localhost")})
    site = get_site(DEMO_SLUG)
    if site is None:
        site, token = create_site(
            DEMO_SLUG,
            SiteSettings(name="山田コンサルティング ブログ", origins=origins, lang="ja"),
        )
    else:
        update_site(site, SiteSettings(origins=sorted({*site.origins, *origins})))
        token = rotate_token(site)
    for category in site.categories:
        if category.url is None:
            category.url = f"{PORTAL}/{category.key}/"
    db.session.commit()
    _seed_history(site)
    _seed_comments(site)
    return token


def _seed_history(site: Site) -> None:
    if any(s.entries for s in ranking.standings(site)):
        return
    # Checked every third morning at 09:00 on the site's clock (JST for a ja site), as a
    # blogger would, so the admin's 「…に初めて到達」 reads as a morning, not 05:00.
    local_now = utcnow().astimezone(site_zone(site))
    last = local_now.replace(hour=9, minute=0, second=0, microsecond=0)
    if last > local_now:
        last -= timedelta(days=1)
    steps = len(HISTORY["consulting"])
    for step in range(steps):
        at = (last - timedelta(days=3 * (steps - 1 - step))).astimezone(UTC)
        ranking.record_positions(site, {k: v[step] for k, v in HISTORY.items()}, at)


def _seed_comments(site: Site) -> None:
    existing = db.session.scalar(select(func.count()).where(Comment.site_id == site.id))
    if existing:
        return
    ids: dict[str, int] = {}
    for article, title in ARTICLES.items():
        threads.ensure_thread(site, article, title, None)
    dated: dict[int, datetime] = {}
    for key, parent, author, body, hours, is_author in COMMENTS:
        data: dict[str, Any] = {
            "article": DEMO_ARTICLE,
            "article_title": ARTICLES[DEMO_ARTICLE],
            "author": author,
            "body": body,
            "parent_id": ids.get(parent) if parent else None,
        }
        posted, _ = posting.post_comment(site, data, as_author=is_author)
        ids[key] = posted.comment.id
        dated[posted.comment.id] = _after_publication(hours)
    for article, likes in (("/demo/pricing-strategy/", 2), ("/demo/kpi-design/", 0)):
        for number in range(likes):
            posted, _ = posting.post_comment(
                site,
                {"article": article, "body": f"参考になりました（{number + 1}）", "author": "読者"},
                as_author=False,
            )
            dated[posted.comment.id] = _after_publication(50 + 40 * number)
    liked = db.session.get(Comment, ids["c4"])
    assert liked is not None
    for reader in range(3):  # documentation addresses (RFC 5737), liked like real readers
        comment_likes.like_comment(liked, f"198.51.100.{reader + 1}")
    # Dated by UPDATE after posting: a thread read while posting has each comment's time.
    for comment_id, moment in dated.items():
        db.session.execute(
            update(Comment).where(Comment.id == comment_id).values(created_at=moment)
        )
    db.session.commit()


def _after_publication(hours: int) -> datetime:
    """Hours after the article's date, spread over the days after it; never in the future
    (a demo started before a comment's day shows it as just written)."""
    return min(ARTICLE_PUBLISHED + timedelta(hours=hours), utcnow() - timedelta(minutes=1))
