"""A small, bounded HTTP load generator for the Ranklet benches (module and CLI).

Only ``http://127.0.0.1`` URLs are accepted: this is for measuring a server you started
yourself on this machine, never for loading anyone else's. Every run is bounded in time
(``--duration``, at most 120 s) and in request count (``--max-requests``).

Two tools, each in a module of its own:

* ``python`` (``load_threads``): one thread per connection, each with its own keep-alive
  connection; any method, body and headers; exact per-status counts. It shares the CPU with
  itself, so compare routes with each other, not with other tools' numbers.
* ``wrk`` (``load_wrk``): far less client overhead, but it cannot stop after N requests,
  so it is used only when no ``--max-requests`` is given, and it tells only "2xx/3xx"
  from "other" responses.

What a run measured is a ``load_result.LoadResult``.

The default is wrk when it is on PATH and no explicit count cap is given, else python.

    python bench/loadgen.py http://127.0.0.1:8000/healthz
    python bench/loadgen.py http://127.0.0.1:8000/healthz --tool python -c 8 --duration 5
    python bench/loadgen.py http://127.0.0.1:8000/badge/demo/consulting.svg \\
        -H 'If-None-Match: "abc"' --json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from urllib.parse import urlsplit

from load_result import LoadResult
from load_threads import run_threads
from load_wrk import run_wrk, wrk_path

ALLOWED_HOST = "127.0.0.1"
MAX_DURATION = 120.0
DEFAULT_DURATION = 10.0
DEFAULT_CONNECTIONS = 16
MAX_CONNECTIONS = 256
DEFAULT_MAX_REQUESTS = 1_000_000
REQUEST_TIMEOUT = 10.0
TOOLS = ("python", "wrk")


def check_url(url: str) -> tuple[str, int, str]:
    """(host, port, path with query) of an ``http://127.0.0.1[:port]/...`` URL, else ValueError."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"only http:// URLs are supported, not {url!r}")
    if parts.hostname != ALLOWED_HOST or parts.username or parts.password:
        raise ValueError(f"refusing {url!r}: loadgen only targets http://{ALLOWED_HOST}")
    try:
        port = parts.port or 80
    except ValueError as error:
        raise ValueError(f"bad port in {url!r}") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ALLOWED_HOST, port, path


def choose_tool(method: str, body: bytes | None, max_requests: int | None) -> str:
    if max_requests is None and wrk_path():
        return "wrk"
    return "python"


def run_load(
    url: str,
    method: str = "GET",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    connections: int = DEFAULT_CONNECTIONS,
    duration: float = DEFAULT_DURATION,
    max_requests: int | None = None,
    tool: str | None = None,
    timeout: float = REQUEST_TIMEOUT,
    vary: bool = False,
) -> LoadResult:
    """Run one bounded load and return what it measured.

    ``tool=None`` picks wrk for any request without ``max_requests`` when wrk is
    installed, else python. ``max_requests=None`` means the default cap (1,000,000) for
    the python tool; wrk runs are bounded by ``duration`` only. ``vary`` (wrk only) makes
    each body unique (``load_wrk.VARY_MARK``).
    """
    method = method.upper()
    if isinstance(body, str):
        body = body.encode()
    host, port, path = check_url(url)
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] seconds, not {duration}")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise ValueError(f"connections must be 1 to {MAX_CONNECTIONS}, not {connections}")
    if max_requests is not None and max_requests < 1:
        raise ValueError("max_requests must be at least 1")
    if tool is None:
        tool = choose_tool(method, body, max_requests)
    if tool == "wrk":
        if max_requests is not None:
            raise ValueError("wrk cannot stop after N requests: use --tool python for a cap")
        return run_wrk(url, method, body, headers or {}, connections, duration, timeout, vary)
    if tool != "python":
        raise ValueError(f"unknown tool {tool!r} (choose from {', '.join(TOOLS)})")
    cap = DEFAULT_MAX_REQUESTS if max_requests is None else max_requests
    return run_threads(
        url, host, port, path, method, body, headers or {}, connections, duration, cap, timeout
    )


# --- command line ---------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def duration_arg(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_DURATION:
        raise argparse.ArgumentTypeError(f"must be in (0, {MAX_DURATION:g}] seconds")
    return value


def add_load_arguments(parser: argparse.ArgumentParser, duration: float, each: str) -> None:
    """The benches' ``--duration`` (seconds per ``each``, bounded) and ``--connections``."""
    parser.add_argument(
        "--duration", type=duration_arg, default=duration, help=f"seconds per {each} ({duration:g})"
    )
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Bounded HTTP load against http://127.0.0.1 only (see the module docstring)."
    )
    parser.add_argument("url", help="http://127.0.0.1:PORT/path")
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("-d", "--body", help="request body (sent as given)")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        type=_header,
        default=[],
        help="'Name: value' (repeatable)",
    )
    parser.add_argument("-c", "--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument(
        "--duration",
        type=duration_arg,
        default=DEFAULT_DURATION,
        help=f"seconds (default {DEFAULT_DURATION:g}, at most {MAX_DURATION:g})",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help=f"stop after N requests (python tool; default {DEFAULT_MAX_REQUESTS})",
    )
    parser.add_argument(
        "--tool",
        choices=TOOLS,
        default=None,
        help="default: wrk if on PATH and no --max-requests is given",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        load = (args.method, args.body, dict(args.header), args.connections, args.duration)
        result = run_load(args.url, *load, args.max_requests, args.tool)
    except (ValueError, RuntimeError) as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), indent=2) if args.json else result.summary())
    return 1 if result.requests == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
