"""DNS rebinding: the webhook host's name is resolved once per delivery and the connection goes to the
address that was checked, never to a second (changed) DNS answer."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from service.events.outbox import emit
from service.models import Brand, Event
from service.worker import WorkerPool
from tests.fakes.receiver import WebhookReceiver

HOST = "rebind.test"


class RebindingResolver:
    """The system resolver, except for HOST: the first lookup after `arm` answers the loopback receiver
    (allowed in tests), every later one the cloud metadata address, as a TTL-0 rebinding server does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = socket.getaddrinfo
        self.answers: list[str] = []
        self.lookups: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def arm(self) -> None:
        self.answers = ["127.0.0.1"]

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes the IDNA bytes
        if name != HOST:
            return self.real(host, port, *args, **kwargs)
        address = self.answers.pop(0) if self.answers else "169.254.169.254"
        self.lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]


async def test_the_connection_goes_to_the_checked_address(
    make_client: Any, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = RebindingResolver(monkeypatch)
    api = await make_client(workers=0, webhook_timeout_s=1.0)
    port = urlsplit(receiver.url).port
    resolver.arm()  # the brand's URL is checked when it is set
    await api.brand("shop", webhook={"url": f"http://{HOST}:{port}/hooks"})
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        brand = await session.scalar(sa.select(Brand).where(Brand.slug == "shop"))
        event = emit(session, brand, "post.triaged", {"post_id": "p1"})
        assert event is not None
    resolver.lookups.clear()

    resolver.arm()  # delivery: the check sees the receiver, any later lookup would see the metadata IP
    assert await WorkerPool(runtime, 0).run_once()
    async with runtime.sessionmaker() as session:
        row = await session.get(Event, event.id)
    assert row is not None and row.status == "delivered", (row.status, row.last_error) if row else None
    assert len(receiver.received) == 1
    assert resolver.lookups == ["127.0.0.1"]  # one lookup, and the client connected to its answer

    # Now the name points at the metadata address when checked: refused, and nothing is sent.
    async with runtime.transaction() as session:
        brand = await session.scalar(sa.select(Brand).where(Brand.slug == "shop"))
        second = emit(session, brand, "post.triaged", {"post_id": "p2"})
        assert second is not None
    assert await WorkerPool(runtime, 0).run_once()
    async with runtime.sessionmaker() as session:
        row = await session.get(Event, second.id)
    assert row is not None and row.status == "failed" and "refused" in (row.last_error or "")
    assert len(receiver.received) == 1


async def test_an_unresolvable_host_is_accepted_when_set_and_retried_at_delivery(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_client(workers=0)
    # The README's example host does not resolve on a machine without DNS: set it all the same.
    brand = await api.brand("shop", webhook={"url": "https://helpdesk.example.invalid/hooks/reply"})
    assert brand["webhook"]["url"] == "https://helpdesk.example.invalid/hooks/reply"
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        row = await session.scalar(sa.select(Brand).where(Brand.slug == "shop"))
        event = emit(session, row, "post.triaged", {"post_id": "p1"})
        assert event is not None
    assert await WorkerPool(runtime, 0).run_once()
    async with runtime.sessionmaker() as session:
        stored = await session.get(Event, event.id)
    # Not refused for good: a DNS failure may pass, so the event stays pending for the next attempt.
    assert (
        stored is not None and stored.status == "pending" and "does not resolve" in (stored.last_error or "")
    )
    # An address that is unsafe is still refused when set.
    refused = await api.client.patch(
        "/v1/brands/shop", json={"webhook": {"url": "http://[2002:a9fe:a9fe::1]/"}}, headers=api.admin
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "webhook.url"
