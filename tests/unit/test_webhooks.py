"""Standard Webhooks signing and webhook URL safety."""

from __future__ import annotations

import base64
import ipaddress
import time

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from service.adapters.webhooks import (
    HostDoesNotResolve,
    UnsafeWebhookURL,
    WebhookSender,
    _check_address,
    check_url,
    new_secret,
    sign,
    valid_secret,
)


def test_signature_matches_standard_webhooks_reference() -> None:
    # The example from the Standard Webhooks specification's reference implementations.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = b'{"test": 2432232314}'
    assert sign(secret, msg_id, timestamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = new_secret()
    body = '{"type": "reply.approved", "data": {"text": "Grüße – Team"}}'.encode()
    timestamp = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "evt_1", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers)["data"]["text"] == "Grüße – Team"
    for tampered in (
        {**headers, "webhook-id": "evt_2"},
        {**headers, "webhook-timestamp": str(timestamp + 1)},
        {**headers, "webhook-signature": sign(new_secret(), "evt_1", timestamp, body)},
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"Team", b"Spam"), headers)


def test_new_secret_is_valid_and_random() -> None:
    first, second = new_secret(), new_secret()
    assert valid_secret(first) and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert not valid_secret("whsec_" + base64.b64encode(b"short").decode())
    assert not valid_secret("secret")
    assert not valid_secret("whsec_not base64!")


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "::1",
        "fd00::1",
        "224.0.0.1",
        "::ffff:169.254.169.254",
        "100.64.0.1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::10.0.0.1",
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
        "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254
    ],
)
def test_refused_addresses(address: str) -> None:
    with pytest.raises(UnsafeWebhookURL):
        _check_address(ipaddress.ip_address(address), allow_loopback=False, allowed_networks=[])


def test_allow_lists() -> None:
    _check_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True, allowed_networks=[])
    _check_address(ipaddress.ip_address("10.2.3.4"), allow_loopback=False, allowed_networks=["10.0.0.0/8"])
    _check_address(ipaddress.ip_address("93.184.216.34"), allow_loopback=False, allowed_networks=[])
    # Metadata stays refused whatever the operator allows.
    with pytest.raises(UnsafeWebhookURL):
        _check_address(
            ipaddress.ip_address("169.254.169.254"), allow_loopback=True, allowed_networks=["169.254.0.0/16"]
        )


def test_embedded_ipv4_of_a_public_address_is_allowed() -> None:
    # Mapped and 6to4 forms of 93.184.216.34: the embedded address is public, the IPv6 form passes too.
    _check_address(ipaddress.ip_address("::ffff:93.184.216.34"), allow_loopback=False, allowed_networks=[])
    _check_address(ipaddress.ip_address("2002:5db8:d822::1"), allow_loopback=False, allowed_networks=[])
    with pytest.raises(UnsafeWebhookURL, match=r"embeds 169\.254\.169\.254"):
        _check_address(ipaddress.ip_address("2002:a9fe:a9fe::1"), allow_loopback=True, allowed_networks=[])


async def test_hostnames_are_resolved_before_checking() -> None:
    with pytest.raises(UnsafeWebhookURL, match="loopback"):
        await check_url("http://localhost:8080/hook", allow_loopback=False, allowed_networks=[])
    target = await check_url("http://localhost:8080/hook", allow_loopback=True, allowed_networks=[])
    assert target.host == "localhost" and target.port == 8080 and target.addresses
    with pytest.raises(HostDoesNotResolve, match="does not resolve"):
        await check_url("https://no-such-host.invalid/hook", allow_loopback=False, allowed_networks=[])


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:a9fe:a9fe::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
        "http://93.184.216.34:0/hook",
        "http://93.184.216.34:99999/hook",
        "http://93.184.216.34:http/hook",
        "ftp://93.184.216.34/hook",
        "/relative/hook",
        "http://[93.184.216.34/hook",  # no closing bracket: urlsplit raises (the fuzzer's find, a 500)
    ],
)
async def test_refused_urls(url: str) -> None:
    with pytest.raises(UnsafeWebhookURL):
        await check_url(url, allow_loopback=True, allowed_networks=[])


async def test_the_sender_connects_only_to_checked_addresses() -> None:
    sender = WebhookSender(2.0, allow_loopback=True, allowed_networks=[])
    try:
        # Straight through the client, without the check that pins the target: no connection is made.
        with pytest.raises(httpx.ConnectError, match="no checked address"):
            await sender._client.post("http://127.0.0.1:9/hook", content=b"{}")
    finally:
        await sender.close()
