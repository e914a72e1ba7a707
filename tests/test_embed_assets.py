"""What ``/embed.js`` serves: the readable ``embed/embed.js`` minified by rjsmin when it is
first read (issue 14), within its gzip budget, with its literals kept as written.

rjsmin keeps template literals intact only when they are not nested (a template literal
inside another's ``${}`` has its text minified like code), so the source must have none;
whether the minified script runs is what the browser tests check, as they load it from a
real server.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import brotli
import pytest

from service.http import embed_assets

SOURCE = Path(__file__).parents[1] / "embed" / "embed.js"
BUDGET = 7000  # bytes, gzipped script and styles (issue 4); bench/bench_embed_size.py measures


def get(client, encoding: str, **headers: str):
    return client.get("/embed.js", headers={"Accept-Encoding": encoding, **headers})


# --- a small JavaScript scanner: comments, strings, regular expressions, templates ---------

REGEX_MAY_FOLLOW = set("(,=:[!&|?{};+-*%<>~^") | {""}


def _skip_quoted(src: str, i: int, end: str) -> int:
    """``src[i]`` opens a string or regular expression closed by ``end``; the index after it."""
    i += 1
    in_class = False
    while src[i] != end or in_class:
        if src[i] == "\\":
            i += 1
        elif end == "/" and src[i] in "[]":
            in_class = src[i] == "["
        i += 1
    return i + 1


def _scan_code(src: str, i: int, level: int, found: list[tuple[int, str]]) -> int:
    """Code from ``i`` to the end, or to the ``}`` closing a template's ``${`` when
    ``level`` (templates around) is above 0; each template literal goes into ``found`` with
    its level."""
    braces, prev = 0, ""
    while i < len(src):
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i)
            i = len(src) if i < 0 else i
            continue
        if src.startswith("/*", i):
            i = src.index("*/", i) + 2
            continue
        if c in "'\"" or (c == "/" and prev in REGEX_MAY_FOLLOW):
            i, prev = _skip_quoted(src, i, c), "a"
            continue
        if c == "`":
            start, i = i, _scan_template(src, i + 1, level + 1, found)
            found.append((level, src[start:i]))
            prev = "a"
            continue
        if c == "{":
            braces += 1
        elif c == "}":
            if braces == 0 and level:
                return i + 1
            braces -= 1
        if not c.isspace():
            prev = c if not (c.isalnum() or c in "_$") else "a"
        i += 1
    return i


def _scan_template(src: str, i: int, level: int, found: list[tuple[int, str]]) -> int:
    """The text of a template literal from ``i`` (after its backtick); the index after it."""
    while src[i] != "`":
        if src[i] == "\\":
            i += 2
        elif src.startswith("${", i):
            i = _scan_code(src, i + 2, level, found)
        else:
            i += 1
    return i + 1


def template_literals(src: str) -> list[tuple[int, str]]:
    """Every template literal in ``src`` with how many templates it is inside (0: none)."""
    found: list[tuple[int, str]] = []
    _scan_code(src, 0, 0, found)
    return found


def test_the_scanner_sees_nesting_and_is_not_fooled_by_strings_comments_or_regexes():
    src = (
        "// a comment's `quote`\nconst a = '`', b = \"`\", r = /`[/`]/g; /* ` */\n"
        "x = `one ${a ? `two` : '}'} ${ {k: 1}.k }`; y = `three`;"
    )
    found = template_literals(src)
    assert found == [
        (1, "`two`"),
        (0, "`one ${a ? `two` : '}'} ${ {k: 1}.k }`"),
        (0, "`three`"),
    ]


# --- the served script ----------------------------------------------------------------------


def test_the_embed_source_has_no_nested_template_literal():
    found = template_literals(SOURCE.read_text())
    assert len(found) > 10  # the scanner did see the embed's templates (the CSS among them)
    assert [text for level, text in found if level] == []


def test_served_script_is_the_minified_source_with_its_templates_and_strings_intact():
    source = SOURCE.read_text()
    served = embed_assets.minify(SOURCE.read_bytes()).decode()
    assert served.startswith("'use strict';(()=>{")
    assert len(served) < 0.85 * len(source)
    for _, text in template_literals(source):
        assert text in served  # the CSS, the avatar path, the messages: byte for byte
    for text in (
        "'最高順位更新！'",
        "'このコメントは削除されました'",
        "'[ranklet]'",
        "'X-Edit-Token'",
    ):
        assert text in served


def test_the_edit_script_is_served_minified_and_only_the_lazy_names_are():
    """The edit and delete buttons live in embed/edit.js, loaded only by readers with a token."""
    source = (SOURCE.parent / "edit.js").read_bytes()
    assert [text for level, text in template_literals(source.decode()) if level] == []
    expected = embed_assets.minify(source)
    assert "'削除しますか？'" in expected.decode() and "'削除しますか？'" not in SOURCE.read_text()
    assert expected.startswith(b"'use strict';(()=>{")


def test_the_lazy_scripts_are_served_and_others_are_not(client):
    for name in ("edit", "pow", "recent"):
        answer = client.get(f"/embed/{name}.js", headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
        expected = embed_assets.minify((SOURCE.parent / f"{name}.js").read_bytes())
        assert gzip.decompress(answer.get_data()) == expected
    assert client.get("/embed/embed.js").status_code == 404
    assert client.get("/embed/nope.js").status_code == 404


def test_every_representation_is_the_same_minified_script_within_the_budget(client):
    expected = embed_assets.minify(SOURCE.read_bytes())
    plain, zipped, brotlied = (get(client, e) for e in ("identity", "gzip", "br"))
    assert plain.get_data() == expected
    assert gzip.decompress(zipped.get_data()) == expected
    assert brotli.decompress(brotlied.get_data()) == expected
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert brotlied.headers["Content-Encoding"] == "br"
    assert len(zipped.get_data()) <= BUDGET
    assert len(brotlied.get_data()) < len(zipped.get_data())


def test_an_edited_source_is_minified_again_under_a_new_etag(client, tmp_path, monkeypatch):
    script = tmp_path / "embed.js"
    script.write_text("'use strict';\n// first\n(() => {\n  const a = `x  ${1}`;\n})();\n")
    monkeypatch.setattr(embed_assets, "CANDIDATES", (script,))
    first = get(client, "gzip")
    assert gzip.decompress(first.get_data()) == b"'use strict';(()=>{const a=`x  ${1}`;})();"
    etag = first.headers["ETag"]
    assert get(client, "gzip", **{"If-None-Match": etag}).status_code == 304

    script.write_text("'use strict';\n// second\n(() => {\n  const b = 2;\n})();\n")
    stat = script.stat()
    os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = get(client, "gzip", **{"If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["ETag"] != etag
    assert gzip.decompress(again.get_data()) == b"'use strict';(()=>{const b=2;})();"


@pytest.mark.parametrize("encoding", ["identity", "gzip", "br"])
def test_the_served_script_keeps_its_cache_headers(client, encoding):
    answer = get(client, encoding)
    assert answer.mimetype == "text/javascript"
    assert answer.headers["Vary"] == "Accept-Encoding"
    assert answer.headers["Cache-Control"] == embed_assets.CACHE_CONTROL
    assert answer.headers["ETag"].endswith(f'-{encoding}"')
