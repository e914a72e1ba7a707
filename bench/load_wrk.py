"""The ``wrk`` load tool: ``/usr/bin/wrk`` (Debian's, built with LuaJIT), driven by a small
Lua script written for the run, with far less client overhead than the python tool.

wrk cannot stop after N requests (its run is bounded by the duration) and it reports only
"2xx/3xx" versus "other" responses, not each status code.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile

from load_result import LoadResult


def wrk_path() -> str | None:
    return shutil.which("wrk")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"([\d.]+)(us|ms|s|m|h)$")


def _to_ms(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict[str, object]:
    """Requests, elapsed seconds, p50/p99 (ms), non-2xx/3xx and socket errors from wrk."""
    totals = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.M)
    if not totals:
        raise ValueError(f"unexpected wrk output:\n{output}")
    found: dict[str, object] = {
        "requests": int(totals.group(1)),
        "elapsed_s": _to_ms(totals.group(2) + totals.group(3)) / 1000.0,
    }
    for name, label in (("p50_ms", "50%"), ("p99_ms", "99%")):
        match = re.search(rf"^\s*{label}\s+(\S+)\s*$", output, re.M)
        found[name] = _to_ms(match.group(1)) if match else 0.0
    non_ok = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    found["non_ok"] = int(non_ok.group(1)) if non_ok else 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors: dict[str, int] = {}
    if sockets:
        for name, value in zip(
            ("connect", "read", "write", "timeout"), sockets.groups(), strict=True
        ):
            if int(value):
                errors[name] = int(value)
    found["errors"] = errors
    return found


def _lua_string(value: bytes | str) -> str:
    """A Lua long-bracket-free literal: every byte as a decimal escape."""
    raw = value.encode() if isinstance(value, str) else value
    return '"' + "".join(f"\\{byte}" for byte in raw) + '"'


# With ``vary``, each request's body has VARY_MARK replaced by "<run>-<wrk thread>-<request>"
# (run: random per script): a peer that refuses identical comments (Waline) still stores
# every post, across runs too.
VARY_MARK = "@N@"
VARY_LUA = f"""
local counter = 1
function setup(thread) thread:set("id", counter); counter = counter + 1 end
local n = 0
request = function()
  n = n + 1
  local tag = RUN .. "-" .. tostring(id) .. "-" .. tostring(n)
  local body = string.gsub(wrk.body, "{VARY_MARK}", tag)
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk_script(method: str, body: bytes | None, headers: dict[str, str], vary: bool = False) -> str:
    """The Lua script that makes every wrk request this method, body and headers."""
    lines = [f"wrk.method = {_lua_string(method)}"]
    headers = dict(headers)
    if body:
        lines.append(f"wrk.body = {_lua_string(body)}")
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"  # as the python client does
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if vary and body:
        lines.append(f'RUN = "{secrets.token_hex(4)}"')
        lines.append(VARY_LUA)
    return "\n".join(lines) + "\n"


def run_wrk(
    url: str,
    method: str,
    body: bytes | None,
    headers: dict[str, str],
    connections: int,
    duration: float,
    timeout: float,
    vary: bool = False,
) -> LoadResult:
    binary = wrk_path()
    if binary is None:
        raise ValueError("wrk is not installed (apt-get install -y wrk), use --tool python")
    threads = max(1, min(connections, os.cpu_count() or 1))
    seconds = max(1, round(duration))
    command = [
        binary,
        "--latency",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        f"{max(1, round(timeout))}s",
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(method, body, headers, vary))
    try:
        command += ["-s", script.name, url]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + timeout + 30, check=False
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    parsed = parse_wrk(done.stdout)
    requests = int(parsed["requests"])  # type: ignore[call-overload]
    elapsed = float(parsed["elapsed_s"])  # type: ignore[arg-type]
    non_ok = int(parsed["non_ok"])  # type: ignore[call-overload]
    statuses = {"2xx/3xx": requests - non_ok}
    if non_ok:
        statuses["other"] = non_ok
    latency = (float(parsed["p50_ms"]), float(parsed["p99_ms"]))  # type: ignore[arg-type]
    counts = (statuses, dict(parsed["errors"]))  # type: ignore[call-overload]
    return LoadResult.measured("wrk", url, method, connections, elapsed, requests, latency, counts)
