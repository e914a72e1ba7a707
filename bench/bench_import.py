"""How fast `ranklet import` reads other systems' data, and how much memory it takes.

For each size (default 1k and 20k comments) it writes a WordPress WXR export, an Isso
database, a Disqus export, a Ranklet JSON export, a Movable Type export (Hatena-style,
Shift_JIS-free UTF-8, flat comments as MT has them) and a Blogger Takeout feed.atom of the
same blog (threads of 10
comments, a third of them replies, some nested, Japanese text, a few pending/spam), then
imports each with the ``ranklet`` command in a subprocess (a fresh site per run, a fresh
SQLite file per run unless ``--database-url`` names a server) and prints wall time,
comments/s and the child's peak RSS (``os.wait4``'s rusage, taken by a small launcher
process so that this one's memory does not count). For WordPress and Disqus,
Isso 0.14's own ``isso import`` reads the same file in the same run as the baseline
(its virtual environment is the one bench_vs_isso.py uses, or ``--isso-venv``).

    python bench/bench_import.py                               # 1k and 20k on SQLite
    python bench/bench_import.py --sizes 1000 20000 100000
    python bench/bench_import.py --database-url postgresql+psycopg://127.0.0.1/test
    python bench/bench_import.py --no-isso --formats wordpress
    python bench/bench_import.py --no-isso --formats wordpress movabletype blogger --sizes 20000
    python bench/bench_import.py --no-isso --formats wordpress --per-thread 20000 \
        --sizes 20000 80000 --code ../other-checkout   # one post's many comments, another tree
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FORMATS = ("wordpress", "isso", "disqus", "json", "movabletype", "blogger")
# Options a format's import command needs besides FILE and --site.
IMPORT_OPTIONS = {"movabletype": ["--permalink", "/{year}/{month}/{basename}/"]}
ISSO_VENVS = (BENCH / ".venv-isso", Path("/tmp/venv-isso"))
PER_THREAD = 10
START = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class Fake:
    """One generated comment; parent is an index into the list or None."""

    index: int
    thread: int
    parent: int | None
    status: str
    created: datetime
    text: str


def fake_comments(count: int) -> Iterator[Fake]:
    for index in range(count):
        thread, position = divmod(index, PER_THREAD)
        parent = None
        if position % 3 == 2:
            parent = index - 1  # a reply to the one before (which may be a reply: nesting)
        status = "approved"
        if index % 50 == 7:
            status = "pending"
        elif index % 97 == 11 and parent is None:
            status = "spam"
        yield Fake(
            index,
            thread,
            parent,
            status,
            START + timedelta(minutes=index),
            f"コメント {index} です。参考になりました。\nThanks for **post** {thread}!\n\n"
            f"Second paragraph with a link https://example.org/{index}",
        )


def article(thread: int) -> str:
    return f"/2020/01/post-{thread}/"


def write_wxr(path: Path, count: int) -> None:
    cdata = "<![CDATA[{}]]>".format
    wp_status = {"approved": "1", "pending": "0", "spam": "spam"}
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0"'
            ' xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>\n'
            "<title>Bench</title><link>https://blog.example.com</link>"
            "<wp:wxr_version>1.2</wp:wxr_version>"
            "<wp:author><wp:author_id>1</wp:author_id>"
            f"<wp:author_login>{cdata('admin')}</wp:author_login></wp:author>\n"
        )
        thread = -1
        for c in fake_comments(count):
            if c.thread != thread:
                if thread >= 0:
                    out.write("</item>\n")
                thread = c.thread
                out.write(
                    f"<item><title>{cdata(f'記事 {thread}')}</title>"
                    f"<link>https://blog.example.com{article(thread)}</link>"
                    f"<dc:creator>{cdata('admin')}</dc:creator>"
                    f"<content:encoded>{cdata('<p>本文</p>')}</content:encoded>"
                    f"<wp:post_id>{thread + 1}</wp:post_id>"
                    f"<wp:status>{cdata('publish')}</wp:status>"
                    f"<wp:post_type>{cdata('post')}</wp:post_type>\n"
                )
            stamp = c.created.strftime("%Y-%m-%d %H:%M:%S")
            out.write(
                f"<wp:comment><wp:comment_id>{c.index + 1}</wp:comment_id>"
                f"<wp:comment_author>{cdata(f'読者 {c.index}')}</wp:comment_author>"
                f"<wp:comment_author_email>{cdata(f'r{c.index}@example.org')}"
                "</wp:comment_author_email>"
                "<wp:comment_author_url>https://reader.example.org/</wp:comment_author_url>"
                f"<wp:comment_author_IP>{cdata('203.0.113.9')}</wp:comment_author_IP>"
                f"<wp:comment_date>{cdata(stamp)}</wp:comment_date>"
                f"<wp:comment_date_gmt>{cdata(stamp)}</wp:comment_date_gmt>"
                f"<wp:comment_content>{cdata(c.text)}</wp:comment_content>"
                f"<wp:comment_approved>{cdata(wp_status[c.status])}</wp:comment_approved>"
                f"<wp:comment_type>{cdata('comment')}</wp:comment_type>"
                f"<wp:comment_parent>{c.parent + 1 if c.parent is not None else 0}"
                "</wp:comment_parent>"
                f"<wp:comment_user_id>{1 if c.index % 20 == 5 else 0}</wp:comment_user_id>"
                "</wp:comment>\n"
            )
        if thread >= 0:
            out.write("</item>\n")
        out.write("</channel>\n</rss>\n")


def write_disqus(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n<disqus xmlns="http://disqus.com"'
            ' xmlns:dsq="http://disqus.com/disqus-internals">\n'
        )
        for thread in range((count + PER_THREAD - 1) // PER_THREAD):
            out.write(
                f'<thread dsq:id="{thread + 1}"><id>t{thread}</id><forum>bench</forum>'
                f"<link>https://blog.example.com{article(thread)}</link>"
                f"<title>記事 {thread}</title><createdAt>2020-01-01T00:00:00Z</createdAt>"
                "</thread>\n"
            )
        for c in fake_comments(count):
            html = "<p>" + escape(c.text).replace("\n\n", "</p><p>").replace("\n", "<br>")
            parent = f'<parent dsq:id="{c.parent + 1}"/>' if c.parent is not None else ""
            out.write(
                f'<post dsq:id="{c.index + 1}"><id/><message><![CDATA[{html}</p>]]></message>'
                f"<createdAt>{c.created.strftime('%Y-%m-%dT%H:%M:%SZ')}</createdAt>"
                f"<isDeleted>false</isDeleted><isSpam>{str(c.status == 'spam').lower()}"
                f"</isSpam><author><email>r{c.index}@example.org</email>"
                f"<name>読者 {c.index}</name><isAnonymous>false</isAnonymous></author>"
                f'<ipAddress>203.0.113.9</ipAddress><thread dsq:id="{c.thread + 1}"/>'
                f"{parent}</post>\n"
            )
        out.write("</disqus>\n")


def write_isso(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR);"
        "CREATE TABLE comments (tid REFERENCES threads(id), id INTEGER PRIMARY KEY,"
        " parent INTEGER, created FLOAT NOT NULL, modified FLOAT, mode INTEGER,"
        " remote_addr VARCHAR, text VARCHAR, author VARCHAR, email VARCHAR, website VARCHAR,"
        " likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,"
        " notification INTEGER DEFAULT 0);"
    )
    modes = {"approved": 1, "pending": 2, "spam": 2}
    threads = (count + PER_THREAD - 1) // PER_THREAD
    connection.executemany(
        "INSERT INTO threads VALUES (?, ?, ?)",
        ((t + 1, article(t), f"記事 {t}") for t in range(threads)),
    )
    connection.executemany(
        "INSERT INTO comments VALUES (?,?,?,?,NULL,?,'203.0.113.9',?,?,?,?,?,0,x'00',0)",
        (
            (
                c.thread + 1,
                c.index + 1,
                c.parent + 1 if c.parent is not None else None,
                c.created.timestamp(),
                modes[c.status],
                c.text,
                f"読者 {c.index}",
                f"r{c.index}@example.org",
                "https://reader.example.org/",
                c.index % 4,
            )
            for c in fake_comments(count)
        ),
    )
    connection.commit()
    connection.close()


def write_json(path: Path, count: int) -> None:
    """Written a thread at a time, as a Ranklet export is laid out (threads last), so this
    process stays small (see ``Launcher``)."""
    header = {
        "format": "ranklet-export",
        "version": 1,
        "exported_at": "2024-01-01T00:00:00Z",
        "site": {"slug": "elsewhere"},
    }
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "threads": [')
        thread, comments = -1, []
        for c in [*fake_comments(count), None]:
            if c is None or (c.thread != thread and comments):
                if thread > 0:
                    out.write(", ")
                document = {"article": article(thread), "title": f"記事 {thread}"}
                out.write(json.dumps({**document, "comments": comments}, ensure_ascii=False))
                comments = []
            if c is None:
                break
            thread = c.thread
            comments.append(
                {
                    "id": c.index + 1,
                    "parent_id": c.parent + 1 if c.parent is not None else None,
                    "author": f"読者 {c.index}",
                    "email": f"r{c.index}@example.org",
                    "website": "https://reader.example.org/",
                    "body": c.text,
                    "status": c.status,
                    "likes": c.index % 4,
                    "created_at": c.created.isoformat().replace("+00:00", "Z"),
                }
            )
        out.write("]}\n")


def write_movabletype(path: Path, count: int) -> None:
    """Entries as Hatena Blog writes them, each with its comments (flat, as in MT)."""
    with path.open("w", encoding="utf-8") as out:
        thread = -1
        for c in fake_comments(count):
            if c.thread != thread:
                if thread >= 0:
                    out.write("--------\n")
                thread = c.thread
                out.write(
                    f"AUTHOR: admin\nTITLE: 記事 {thread}\nBASENAME: post-{thread}\n"
                    "STATUS: Publish\nALLOW COMMENTS: 1\nCONVERT BREAKS: 0\n"
                    "DATE: 01/01/2020 09:00:00\nCATEGORY: 経営\n"
                    "IMAGE: https://cdn.example.com/a.png\n-----\nBODY:\n<p>本文</p>\n-----\n"
                )
            local = c.created + timedelta(hours=9)
            out.write(
                f"COMMENT:\nAUTHOR: 読者 {c.index}\nEMAIL: r{c.index}@example.org\n"
                "IP: 203.0.113.9\nURL: https://reader.example.org/\n"
                f"DATE: {local.strftime('%m/%d/%Y %I:%M:%S %p')}\n{c.text}\n-----\n"
            )
        if thread >= 0:
            out.write("--------\n")


def write_blogger(path: Path, count: int) -> None:
    """A Takeout feed.atom: each post followed by its comments, replies by inReplyTo."""
    ns = "tag:blogger.com,1999:blog-1"
    status = {"approved": "LIVE", "pending": "PENDING", "spam": "SPAM"}
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom'"
            " xmlns:blogger='http://schemas.google.com/blogger/2018'>\n"
            f"<id>{ns}</id><title>Bench</title>\n"
        )
        thread = -1
        for c in fake_comments(count):
            if c.thread != thread:
                thread = c.thread
                out.write(
                    f"<entry><id>{ns}.post-{thread + 1}</id><blogger:type>POST</blogger:type>"
                    "<blogger:status>LIVE</blogger:status><author><name>admin</name>"
                    "<uri>https://www.blogger.com/profile/1</uri></author>"
                    f"<title>記事 {thread}</title><content type='html'>&lt;p&gt;本文&lt;/p&gt;"
                    f"</content><published>2020-01-01T00:00:00Z</published>"
                    f"<blogger:filename>{article(thread)}</blogger:filename></entry>\n"
                )
            reply = f"{ns}.post-{c.parent + 10**9}" if c.parent is not None else ""
            out.write(
                f"<entry><id>{ns}.post-{c.index + 10**9}</id>"
                f"<blogger:parent>{ns}.post-{c.thread + 1}</blogger:parent>"
                f"<blogger:inReplyTo>{reply}</blogger:inReplyTo>"
                f"<blogger:type>COMMENT</blogger:type><blogger:status>{status[c.status]}"
                f"</blogger:status><author><name>読者 {c.index}</name>"
                f"<email>r{c.index}@example.org</email><uri>https://reader.example.org/</uri>"
                f"</author><content type='html'>{escape(c.text.replace(chr(10), '<br />'))}"
                f"</content><published>{c.created.strftime('%Y-%m-%dT%H:%M:%SZ')}</published>"
                "</entry>\n"
            )
        out.write("</feed>\n")


WRITERS = {
    "wordpress": ("wxr.xml", write_wxr),
    "isso": ("comments.db", write_isso),
    "disqus": ("disqus.xml", write_disqus),
    "json": ("export.json", write_json),
    "movabletype": ("export.txt", write_movabletype),
    "blogger": ("feed.atom", write_blogger),
}


# Runs each measured command from a small process of its own: on Linux a child's peak RSS
# (``ru_maxrss``) starts from its parent's at fork/exec, so a command started by this
# process, which has just generated a large file, would report this process's memory.
LAUNCHER = """
import json, os, subprocess, sys, tempfile, time
for line in sys.stdin:
    job = json.loads(line)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(
            job["command"], env=job["env"], stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        log.seek(0)
        print(json.dumps({
            "seconds": elapsed,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss // 1024,
            "code": os.waitstatus_to_exitcode(status),
            "output": log.read(),
        }), flush=True)
"""


class Launcher:
    """A small Python process, started before any file is generated, that runs commands."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)

    def timed(self, command: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
        """(wall seconds, CPU seconds, peak RSS in MiB, output) of one child process.

        CPU seconds (user + system, its worker processes included) do not depend on what
        else the machine runs, so they compare runs on a busy machine; wall time is what a
        user waits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"command": command, "env": env}) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        if result["code"] != 0:
            failed = f"{' '.join(command)} failed ({result['code']})"
            raise RuntimeError(f"{failed}:\n{result['output']}")
        return result["seconds"], result["cpu"], result["rss"], result["output"]


def find_isso(choice: str | None) -> Path | None:
    for venv in [Path(choice)] if choice else ISSO_VENVS:
        if (venv / "bin" / "isso").exists():
            return venv
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--database-url", help="default: a fresh SQLite file per import")
    parser.add_argument("--isso-venv", help="a venv with isso 0.14 (default: bench_vs_isso's)")
    parser.add_argument("--no-isso", action="store_true", help="skip the Isso baseline")
    parser.add_argument(
        "--isso-max", type=int, default=20000, help="largest size Isso's import is timed at"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--per-thread",
        type=int,
        default=10,
        help="comments per post (a large number: memory per post, not per file)",
    )
    parser.add_argument("--code", default=str(ROOT), help="the Ranklet tree to run (PYTHONPATH)")
    args = parser.parse_args()
    global PER_THREAD
    PER_THREAD = args.per_thread

    launcher = Launcher()  # first, while this process is small
    work = Path(tempfile.mkdtemp(prefix="ranklet-bench-import-"))
    isso = None if args.no_isso else find_isso(args.isso_venv)
    if not args.no_isso and isso is None:
        print("Isso not found (run bench/bench_vs_isso.py once, or --isso-venv): no baseline")
    base_env = {**os.environ, "PYTHONPATH": args.code, "RANKLET_SECRET_KEY": "bench-key"}
    ranklet = [sys.executable, "-m", "service.cli"]
    nonce = int(time.time())
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'format':<10} {'size':>7} {'seconds':>8} {'comments/s':>11} {'CPU s':>6}"
        f" {'per CPU-s':>9} {'peak RSS':>9}  note"
    )
    try:
        for size in args.sizes:
            for name in args.formats:
                filename, write = WRITERS[name]
                source = work / f"{size}-{filename}"
                write(source, size)
                env = dict(base_env)
                if args.database_url:
                    env["RANKLET_DATABASE_URL"] = args.database_url
                else:
                    env["RANKLET_DATABASE_URL"] = f"sqlite:///{work / f'{name}-{size}.db'}"
                env["RANKLET_INSTANCE_PATH"] = str(work / "instance")
                slug = f"bench-{name}-{size}-{nonce}"
                subprocess.run(
                    [*ranklet, "site", "create", slug, "--origin", "https://blog.example.com"],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
                seconds, cpu, rss, output = launcher.timed(
                    [
                        *ranklet,
                        *("import", name, str(source), "--site", slug),
                        *IMPORT_OPTIONS.get(name, []),
                    ],
                    env,
                )
                imported = next(
                    (line for line in output.splitlines() if line.startswith("Comments:")), "?"
                )
                rate = size / seconds
                print(
                    f"{name:<10} {size:>7} {seconds:>8.2f} {rate:>11,.0f} {cpu:>6.2f}"
                    f" {size / cpu:>9,.0f} {rss:>6} MiB  "
                    f"{imported}",
                    flush=True,
                )
                if isso is not None and name in ("wordpress", "disqus") and size <= args.isso_max:
                    config = work / f"isso-{name}-{size}.cfg"
                    config.write_text(
                        f"[general]\ndbpath = {work / f'isso-{name}-{size}.db'}\n"
                        "host = https://blog.example.com/\n",
                        encoding="utf-8",
                    )
                    isso_seconds, isso_cpu, isso_rss, _ = launcher.timed(
                        [
                            str(isso / "bin" / "isso"),
                            *("-c", str(config), "import", str(source)),
                            # Isso 0.14 skips every Disqus thread whose <id> element has no
                            # children (``if not thread_id``) unless told --empty-id.
                            *(["--empty-id"] if name == "disqus" else []),
                        ],
                        {**os.environ},
                    )
                    print(
                        f"{'  isso ' + name:<10} {size:>7} {isso_seconds:>8.2f}"
                        f" {size / isso_seconds:>11,.0f} {isso_cpu:>6.2f}"
                        f" {size / isso_cpu:>9,.0f} {isso_rss:>6} MiB  "
                        f"Ranklet is {isso_seconds / seconds:.1f}x Isso 0.14's speed",
                        flush=True,
                    )
    finally:
        launcher.close()
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
