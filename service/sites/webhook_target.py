"""Where a webhook may point: public addresses only, unless RANKLET_WEBHOOK_ALLOW_PRIVATE.

A site admin chooses the webhook URL and the server POSTs to it, so without a check an
admin could aim the server at what only it can reach: the cloud metadata service
(``169.254.169.254``), an SSH port on loopback, a database on the private network. Two
checks, one rule (:func:`non_public_reason`):

- **When the URL is set** (``ranklet site update --webhook``, the admin page):
  :func:`url_refusal` refuses what is bad without asking DNS: a literal non-public address
  in any spelling the resolver accepts (``127.1``, ``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, ``0``, ``[::ffff:127.0.0.1]``) and ``localhost`` names.
- **At each delivery**: :func:`resolve` resolves the host once, refuses the delivery if any
  address is not public, and the connection goes to exactly the address that was checked
  (:class:`PinnedHTTPConnection`), with the URL's own ``Host`` header and TLS server name:
  a DNS answer that changes between the check and the connection (rebinding) cannot
  redirect the POST inside.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Spellings of an IPv4 address that inet_aton (and so the resolver) accepts besides the
# dotted quad: 127.1, 2130706433, 0x7f000001, 0177.0.0.1.
LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOW_PRIVATE_SETTING = "RANKLET_WEBHOOK_ALLOW_PRIVATE"


class TargetRefused(Exception):
    """The webhook's URL or address is not allowed; retrying will not change that."""


def allow_private(config: Any) -> bool:
    """``WEBHOOK_ALLOW_PRIVATE`` as a boolean (the environment may give a string)."""
    value = config.get("WEBHOOK_ALLOW_PRIVATE", False)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, if it is one (in any form the resolver would accept)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address, or None when it is one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = non_public_reason(inner)
            return f"{reason} (inside the IPv6 address {address})" if reason else None
    for flag, name in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, flag):
            return f"{address} is a {name} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _parts(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the webhook must be an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise TargetRefused("the webhook's port is not a valid port number") from None
    return parts


def url_refusal(url: str, allow_private_targets: bool) -> str | None:
    """Why ``url`` cannot be a webhook, judged without DNS; None when it may be one."""
    try:
        parts = _parts(url)
    except TargetRefused as refused:
        return str(refused)
    if allow_private_targets:
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is this machine; {_hint()}"
    address = literal_address(host)
    if address is not None:
        reason = non_public_reason(address)
        if reason:
            return f"{reason}; {_hint()}"
    return None


def _hint() -> str:
    return f"webhooks go to public addresses only (set {ALLOW_PRIVATE_SETTING}=true to allow it)"


@dataclass(frozen=True)
class Target:
    """A webhook URL with the one address its delivery connects to."""

    parts: SplitResult
    address: str

    @property
    def port(self) -> int:
        return self.parts.port or (443 if self.parts.scheme == "https" else 80)

    @property
    def path(self) -> str:
        return (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")


def resolve(url: str, allow_private_targets: bool) -> Target:
    """Resolve the webhook's host once and check every address it has.

    Raises :class:`TargetRefused` for a URL or address that is not allowed, ``OSError``
    when the name does not resolve (a retryable failure).
    """
    parts = _parts(url)
    refusal = url_refusal(url, allow_private_targets)
    if refusal:
        raise TargetRefused(refusal)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses = [str(info[4][0]) for info in found]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private_targets:
        for text in addresses:
            reason = non_public_reason(ipaddress.ip_address(text.split("%", 1)[0]))
            if reason:
                raise TargetRefused(f"{host} resolves to {reason}; {_hint()}")
    return Target(parts, addresses[0])


class PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked address; ``Host`` stays the URL's own."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.parts.hostname or "", target.port, timeout=timeout)
        self.pinned_address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, verified against (and with SNI for) the URL's host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.parts.hostname or "",
            target.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
        self.pinned_address = target.address

    def connect(self) -> None:
        raw = socket.create_connection((self.pinned_address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    if target.parts.scheme == "https":
        return PinnedHTTPSConnection(target, timeout)
    return PinnedHTTPConnection(target, timeout)
