"""Issue 10 with issue 12: every English error text the API can answer has its Japanese
in ``service.messages``, and none is the English again.

The texts are not listed here: they are searched for, so a message added later without a
translation fails this test. Sources:

- the catalogue's own error texts (``service.texts_api``), each filled in with samples;
- every string literal the API's code raises with: ``abort(message=..., errors=...)``,
  ``ValidationError(...)``, werkzeug's HTTP errors and our subclasses of them (read from
  the source with ``ast``, f-strings filled in with a sample value);
- marshmallow's messages of every field and validator of every schema a view of the API
  parses its arguments with (found on the views, as flask-smorest records them), the
  validators' produced by feeding them values they refuse;
- werkzeug's descriptions of the error statuses the OpenAPI document lists.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields
from werkzeug import exceptions as http

import service
from service.core import errors
from service.i18n import messages, texts_api
from service.i18n.messages import translate

SERVICE = Path(service.__file__).parent
# Raisers whose text reaches an API answer, beside werkzeug's HTTP errors.
RAISERS = {"abort", "ValidationError", "ErasedComment", "RequestTimeout", "ClientDisconnected"}
HTTP_ERRORS = {
    name
    for name, value in vars(http).items()
    if isinstance(value, type) and issubclass(value, http.HTTPException)
}
# Modules that answer HTML (their words are the catalogue's other areas) or a terminal, in
# English for the operator (the CLI, importers), and the catalogue itself.
NOT_API = ("admin/", "cli/", "demo/", "i18n/", "transfer/", "notify/email_links.py")
NOT_API += ("rankings/transfer.py", "db/migrations/")
SAMPLES = {"max_length": 64, "low": 1, "high": 200, "depth": 32, "digits": 40, "value": "x"}


def sample(node: ast.expr) -> str | None:
    """A string literal, or an f-string with each placeholder filled in (``{x!r}`` as a
    quoted word, anything else as a number)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                parts.append("'x'" if value.conversion == ord("r") else "5")
        return "".join(parts)
    return None


def fill(template: str) -> dict[str, Any]:
    """Sample values for every placeholder of ``template``."""
    return {
        name: "x" if conversion == "r" else SAMPLES.get(name, 5)
        for _, name, _, conversion in string.Formatter().parse(template)
        if name
    }


def literal_texts(node: ast.AST) -> Iterator[str]:
    """Every string inside an ``errors=`` value: dicts of lists of messages."""
    for child in ast.walk(node):
        if isinstance(child, ast.List | ast.Tuple):
            for item in child.elts:
                text = sample(item)
                if text is not None:
                    yield text


def raised_texts() -> Iterator[tuple[str, str]]:
    for path in sorted(SERVICE.rglob("*.py")):
        rel = path.relative_to(SERVICE).as_posix()
        if rel.startswith(NOT_API):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            is_super_init = (
                name == "__init__"
                and isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Call)
                and getattr(func.value.func, "id", "") == "super"
            )
            if name not in RAISERS | HTTP_ERRORS | {"error_response"} and not is_super_init:
                continue
            where = f"{rel}:{node.lineno}"
            for arg in node.args[1:2] if name == "error_response" else node.args[:1]:
                text = sample(arg)
                if text is not None and (name != "__init__" or text.endswith(".")):
                    yield text, where
            for keyword in node.keywords:
                if keyword.arg in ("message", "description"):
                    text = sample(keyword.value)
                    if text is not None:
                        yield text, where
                elif keyword.arg == "errors":
                    for text in literal_texts(keyword.value):
                        yield text, where


def argument_schemas(app: Any) -> Iterator[Schema]:
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        methods = [getattr(view_class, m, None) for m in ("get", "post", "put", "patch", "delete")]
        for method in methods if view_class else [view]:
            for parameter in (
                getattr(method, "_apidoc", {}).get("arguments", {}).get("parameters", [])
            ):
                yield parameter["schema"]


# Values a validator may refuse, for it to say how.
REFUSED = [
    "",
    " ",
    "\x00",
    "\x1b",
    "\u202e",
    "x" * 6000,
    "not an address",
    "javascript:x",
    -(10**12),
    10**12,
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 1, 1, tzinfo=UTC),
]


def validator_texts(validator: Any) -> Iterator[str]:
    for value in REFUSED:
        try:
            validator(value)
        except ValidationError as error:
            yield from (m for m in error.messages if isinstance(m, str))
        except (TypeError, ValueError, AttributeError):
            continue  # a value of another type: never reaches this validator


def field_texts(field: fields.Field) -> Iterator[str]:
    for key, text in field.error_messages.items():
        if key != "format":  # 'cannot be formatted': dumping only, never an input error
            yield text.format(obj_type="datetime", awareness="aware", input="x")
    for validator in field.validators:
        yield from validator_texts(validator)
    for inner in (
        getattr(field, "inner", None),
        getattr(field, "key_field", None),
        getattr(field, "value_field", None),
        *getattr(field, "tuple_fields", ()),
    ):
        if isinstance(inner, fields.Field):
            yield from field_texts(inner)
    if isinstance(field, fields.Nested):
        yield from schema_texts(field.schema)


def schema_texts(schema: Schema) -> Iterator[str]:
    yield from (str(text) for text in schema.error_messages.values())
    for field in schema.fields.values():
        yield from field_texts(field)


def reachable_texts(app: Any) -> dict[str, list[str]]:
    """Every English text an API error can carry -> each place it comes from."""
    found: dict[str, list[str]] = {}
    for key, entry in texts_api.TEXTS.items():
        if key.startswith("field."):  # one field's wording: found under that field
            continue
        found.setdefault(errors.describe(key, **fill(entry["en"])), []).append(
            f"catalogue[{key!r}]"
        )
    for text, where in raised_texts():
        found.setdefault(text, []).append(where)
    for schema in argument_schemas(app):
        for text in schema_texts(schema):
            found.setdefault(text, []).append(type(schema).__name__)
    statuses = {int(s) for s in errors._ANY_ERRORS | errors._WRITE_ERRORS} | {408}
    for status in statuses:
        description = str(http.default_exceptions[status].description)
        found.setdefault(description, []).append(f"werkzeug {status}")
    return found


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("messages")
    app = service.create_app(
        {"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{folder}/m.db"}
    )
    return reachable_texts(app)


def test_the_search_finds_the_known_sources(texts):
    """The search would pass with nothing found: check that it finds each kind."""

    def found_in(text: str, source: str) -> bool:
        return any(where.startswith(source) for where in texts.get(text, []))

    assert found_in("The body is not valid JSON: NaN and Infinity are not JSON numbers.", "cat")
    assert found_in("Too many comments in a short time; try again in 5 s.", "http/rate_limits.py")
    assert found_in("The request body did not arrive within 5 seconds.", "server_reading.py")
    assert found_in("Unknown category.", "rankings/views.py")
    assert found_in("Length must be between 1 and 100.", "CountsQuery")  # a validator
    assert found_in("Not a valid datetime.", "RecordPositions")  # a field's own message
    assert found_in("The database is unavailable.", "http/ops.py")  # error_response()
    assert found_in(
        "The server encountered an internal error and was unable to complete your"
        " request. Either the server is overloaded or there is an error in the"
        " application.",
        "werkzeug",
    )
    assert len(texts) > 60


def test_every_api_error_text_has_a_japanese_translation(texts):
    missing = {text: where[0] for text, where in texts.items() if translate(text, "ja") == text}
    assert not missing, "\n".join(f"{where}: {text}" for text, where in sorted(missing.items()))


def test_the_translations_use_japanese_punctuation(texts):
    for text in texts:
        ja = translate(text, "ja")
        assert not any(mark in ja for mark in "?!()"), (text, ja)
        assert not ja.rstrip("」").endswith("."), (text, ja)


def test_english_stays_english(texts):
    """English is shown as raised, but for thousands separators in limits (1,000,000)."""
    for text in texts:
        english = translate(text, "en")
        assert english.replace(",", "") == text.replace(",", ""), (text, english)
    assert translate("Must be 1 to 5000 characters.", "en", "body") == (
        "Must be 1 to 5,000 characters."
    )


@pytest.mark.parametrize(
    ("english", "japanese"),
    [
        (
            "The body is not valid JSON here: it nests deeper than 32 levels.",
            "送信された JSON の入れ子が深すぎます（32段まで）。",
        ),
        ("Must be at most 254 characters.", "254文字以内で入力してください。"),
        ("Must be from 1 to 2147483647.", "1〜2,147,483,647で指定してください。"),
        (
            "'ftp://x' is not an origin like https://blog.example.com.",
            "「ftp://x」はオリジン（例：https://blog.example.com）の形式ではありません。",
        ),
    ],
)
def test_parameters_carry_over_into_the_translation(english, japanese):
    assert translate(english, "ja") == japanese


def test_a_japanese_site_answers_the_edges_refusals_in_japanese(client, make_site):
    make_site("blog", lang="ja")
    url = "/api/v1/sites/blog/comments"
    origin = {"Origin": "https://blog.example.com"}
    deep = client.post(url, data="[" * 40 + "]" * 40, content_type="application/json")
    assert deep.get_json()["message"] == translate(errors.describe("json_too_deep", depth=32), "ja")
    notify = client.post(url, json={"article": "/a", "body": "x", "notify": "yes"}, headers=origin)
    assert notify.get_json()["errors"] == {"notify": ["true か false で指定してください。"]}
    plain = client.post(url, data="x", content_type="text/plain")
    assert plain.status_code == 415
    assert plain.get_json()["message"] == translate(errors.describe("not_json"), "ja")
    assert messages.LANGS == ("ja", "en")
