"""Outbound webhooks: Standard Webhooks signatures, URL safety checks and the HTTP send; the same checked,
pinned client fetches the feeds operators name (`WebhookSender.fetch`), under the same URL rules.

The SSRF rule rests on one idea: the address we connect to is the address we checked. A host name is
resolved once per delivery (`resolve`), every answer is checked, and the HTTP client connects to those
checked addresses only (`_PinnedBackend`): it never resolves the name again, so a DNS answer that changes
between the check and the connect (rebinding) cannot reach a metadata or private address. TLS still runs
against the host name (SNI and certificate verification use the URL's host, not the IP).
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

SECRET_PREFIX = "whsec_"
_ALWAYS_REFUSED = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")]
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and RFC 8215).
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookURL(ValueError):
    """The URL points somewhere the service must never send data (metadata, link-local, private...)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def valid_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        return False
    return 24 <= len(raw) <= 64


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len(SECRET_PREFIX) :])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels or translates to (mapped, 6to4, Teredo, NAT64), if any:
    a packet to it may end up at that IPv4 address, so that is the address to check."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): traffic goes to the client
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _check_address(address: IPAddress, *, allow_loopback: bool, allowed_networks: list[str]) -> None:
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        try:
            _check_address(embedded, allow_loopback=allow_loopback, allowed_networks=allowed_networks)
        except UnsafeWebhookURL as exc:
            raise UnsafeWebhookURL(f"{address} embeds {embedded}: {exc}") from exc
        if address.ipv4_mapped is not None:
            return  # ::ffff:a.b.c.d is a.b.c.d itself; the other forms still pass the IPv6 rules below
    if address.is_unspecified:
        raise UnsafeWebhookURL(f"{address} is an unspecified address")
    if any(address in net for net in _ALWAYS_REFUSED) or address.is_link_local:
        raise UnsafeWebhookURL(f"{address} is link-local or a cloud metadata address")
    if address.is_loopback:
        if allow_loopback:
            return
        raise UnsafeWebhookURL(f"{address} is a loopback address")
    if address.is_multicast or address.is_reserved:
        raise UnsafeWebhookURL(f"{address} is not a unicast internet address")
    if address.is_private or not address.is_global:
        if any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowed_networks):
            return
        raise UnsafeWebhookURL(
            f"{address} is in a private range; list it in REPLY_WEBHOOK_ALLOWED_NETWORKS to allow it"
        )


class HostDoesNotResolve(Exception):
    """The webhook host has no address right now: a DNS failure, possibly passing; retried at delivery."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: the host as the HTTP client sees it, the port, the checked addresses."""

    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of an absolute http(s) URL with a usable port; raises UnsafeWebhookURL."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed "[" in the host
        raise UnsafeWebhookURL(f"webhook URL is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookURL("webhook URL must be an absolute http(s) URL")
    try:
        port = parts.port
    except ValueError as exc:  # "Port out of range 0-65535", or not a number
        raise UnsafeWebhookURL("webhook URL has an invalid port") from exc
    if port == 0:
        raise UnsafeWebhookURL("webhook URL has an invalid port (0)")
    try:
        host = httpx.URL(url).host  # lower case, IDNA-encoded: the name the HTTP client connects to
    except httpx.InvalidURL as exc:
        raise UnsafeWebhookURL(f"webhook URL is not a valid URL: {exc}") from exc
    return host, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (one lookup). Raises HostDoesNotResolve."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostDoesNotResolve(f"webhook host {host!r} does not resolve") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # no IPv6 zone id
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostDoesNotResolve(f"webhook host {host!r} has no address")
    return addresses


async def check_url(url: str, *, allow_loopback: bool, allowed_networks: list[str]) -> Target:
    """Resolve the URL's host once and check every address. Raises UnsafeWebhookURL for an address we
    must not call, HostDoesNotResolve when the name has no address now."""
    host, port = parse_url(url)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await resolve(host, port)
    for address in addresses:
        _check_address(address, allow_loopback=allow_loopback, allowed_networks=allowed_networks)
    return Target(host, port, tuple(addresses))


# The checked target of the delivery running in this task; the network backend connects to it only.
_pinned: contextvars.ContextVar[Target | None] = contextvars.ContextVar("webhook_target", default=None)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses `check_url` checked for this host, never to a fresh DNS answer."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        target = _pinned.get()
        if target is None or target.host != host.strip("[]").lower() or target.port != port:
            raise httpcore.ConnectError(f"no checked address for {host}:{port}; refusing to connect")
        error: Exception | None = None
        for address in target.addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # try the next checked address, as a resolver-driven connect would
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class Delivery:
    status_code: int


@dataclass(frozen=True)
class Fetched:
    status_code: int
    headers: dict[str, str]
    content: bytes
    url: str  # after redirects


class ResponseTooLarge(Exception):
    """The fetched document is larger than the caller's limit (its bytes were not all read)."""


REDIRECTS = (301, 302, 303, 307, 308)


class WebhookSender:
    def __init__(self, timeout_s: float, *, allow_loopback: bool, allowed_networks: list[str]) -> None:
        self._allow_loopback = allow_loopback
        self._allowed_networks = allowed_networks
        transport = httpx.AsyncHTTPTransport()
        # httpx has no public hook for the network backend; its pool is an httpcore pool we build the
        # same way (certifi-verified TLS context) with the pinned backend. trust_env=False: no proxy from
        # the environment (the proxy, not the checked host, would be the address connected to).
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_PinnedBackend()
        )
        self._client = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False, transport=transport, trust_env=False
        )

    async def send(self, url: str, secret: str, msg_id: str, body: bytes) -> Delivery:
        """Check the URL (one DNS lookup), then POST to the checked addresses only. Raises
        UnsafeWebhookURL, HostDoesNotResolve or httpx.HTTPError."""
        target = await check_url(
            url, allow_loopback=self._allow_loopback, allowed_networks=self._allowed_networks
        )
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
            "user-agent": "reply-service-webhooks/1",
        }
        token = _pinned.set(target)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        finally:
            _pinned.reset(token)
        return Delivery(response.status_code)

    async def fetch(
        self, url: str, headers: dict[str, str], *, max_bytes: int, max_redirects: int = 3
    ) -> Fetched:
        """GET a URL by the webhook rules: every hop (redirects included) is checked and connected to at
        its checked addresses only. Reads at most `max_bytes` of the body (else ResponseTooLarge).
        Raises UnsafeWebhookURL, HostDoesNotResolve or httpx.HTTPError as `send` does."""
        for _ in range(max_redirects + 1):
            target = await check_url(
                url, allow_loopback=self._allow_loopback, allowed_networks=self._allowed_networks
            )
            token = _pinned.set(target)
            try:
                async with self._client.stream("GET", url, headers=headers) as response:
                    location = response.headers.get("location")
                    if response.status_code in REDIRECTS and location:
                        url = str(response.url.join(location))
                        continue
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise ResponseTooLarge(f"{url} sent more than {max_bytes} bytes")
                    return Fetched(response.status_code, dict(response.headers), bytes(body), url)
            finally:
                _pinned.reset(token)
        raise httpx.TooManyRedirects(f"more than {max_redirects} redirects from the feed URL")

    async def close(self) -> None:
        await self._client.aclose()
