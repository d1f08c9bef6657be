"""Outbound webhooks: Standard Webhooks signatures, URL safety checks and the HTTP send."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

SECRET_PREFIX = "whsec_"
_ALWAYS_REFUSED = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")]


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


def _check_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    *,
    allow_loopback: bool,
    allowed_networks: list[str],
) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
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


async def check_url(url: str, *, allow_loopback: bool, allowed_networks: list[str]) -> None:
    """Refuse URLs whose host is, or resolves to, an address we must not call. Raises UnsafeWebhookURL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookURL("webhook URL must be an absolute http(s) URL")
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
        except socket.gaierror as exc:
            raise UnsafeWebhookURL(f"webhook host {host!r} does not resolve") from exc
        addresses = list({ipaddress.ip_address(info[4][0]) for info in infos})
    for address in addresses:
        _check_address(address, allow_loopback=allow_loopback, allowed_networks=allowed_networks)


@dataclass(frozen=True)
class Delivery:
    status_code: int


class WebhookSender:
    def __init__(self, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def send(self, url: str, secret: str, msg_id: str, body: bytes) -> Delivery:
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
            "user-agent": "reply-service-webhooks/1",
        }
        response = await self._client.post(url, content=body, headers=headers)
        return Delivery(response.status_code)

    async def close(self) -> None:
        await self._client.aclose()
