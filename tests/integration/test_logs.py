"""Logs and request ids: one access line a request without bodies or secrets, an X-Request-ID on every
response, and the id of the request that sent a post on its worker's log lines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import Api


def _lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # not one of ours (pytest, a library printing)
        if isinstance(line, dict):
            lines.append(line)
    return lines


async def _read_until(
    capfd: pytest.CaptureFixture[str], done: Any, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The JSON log lines written so far, read until one of them satisfies `done`."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        out = capfd.readouterr()
        seen += _lines(out.err + out.out)
        if any(done(line) for line in seen):
            return seen
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no such log line in {seen}")
        await asyncio.sleep(0.05)


async def test_post_request_id_reaches_the_worker_log(
    make_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    api: Api = await make_client(log_level="INFO")
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    response = await api.client.post(
        "/v1/posts",
        headers={**integration, "X-Request-ID": "abc123"},
        json={
            "brand": "shop",
            "channel": "twitter",
            "external_id": "rid-1",
            "text": "Where is my parcel ZZ-4711?",
            "author": {"handle": "rid_handle"},
        },
    )
    assert response.status_code == 202, response.text
    assert response.headers["x-request-id"] == "abc123"

    lines = await _read_until(
        capfd, lambda line: line.get("event") == "job done" and line.get("kind") == "draft_post"
    )
    # both steps of the post's workflow, the draft job enqueued by the triage job, carry the request's id
    steps = ("triage_post", "draft_post")
    done = [line for line in lines if line.get("event") == "job done" and line.get("kind") in steps]
    assert [(line["kind"], line["request_id"]) for line in done] == [
        ("triage_post", "abc123"),
        ("draft_post", "abc123"),
    ], done
    access = [line for line in lines if line.get("event") == "request" and line.get("path") == "/v1/posts"]
    assert len(access) == 1, lines
    assert access[0]["request_id"] == "abc123" and access[0]["method"] == "POST"
    assert access[0]["status_code"] == 202 and isinstance(access[0]["ms"], float)
    # Requests of their own get ids of their own: the key and brand set-up are not abc123.
    others = [line for line in lines if line.get("event") == "request" and line.get("path") != "/v1/posts"]
    assert others and all(line["request_id"] and line["request_id"] != "abc123" for line in others), others
    text = json.dumps(lines)
    assert "ZZ-4711" not in text and "rid_handle" not in text
    assert integration["Authorization"].split()[1] not in text


async def test_access_line_has_no_body_query_or_headers(
    make_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    api: Api = await make_client(log_level="INFO", workers=0)
    await api.brand("shop")
    agent = await api.key("agent", ["shop"])
    search = await api.client.get(
        "/v1/brands/shop/knowledge/search", params={"q": "my card 4111 was charged twice"}, headers=agent
    )
    assert search.status_code == 200, search.text
    lines = await _read_until(capfd, lambda line: str(line.get("path", "")).endswith("/knowledge/search"))
    access = [line for line in lines if str(line.get("path", "")).endswith("/knowledge/search")]
    assert len(access) == 1
    fields = {"event", "method", "path", "status_code", "ms", "request_id", "level", "timestamp"}
    assert set(access[0]) == fields, access
    assert access[0]["level"] == "info" and access[0]["status_code"] == 200
    text = json.dumps(lines)
    # request ids are hex, so look for the query's words, not its digits alone
    assert "charged" not in text and "4111 was" not in text and "4111+was" not in text
    assert agent["Authorization"].split()[1] not in text


@pytest.mark.parametrize(
    "sent",
    [
        None,
        "",
        "has space",
        'quote"d',
        "line\tbreak",
        "x" * 129,
        "-starts-with-dash",
    ],
)
async def test_insane_or_missing_request_ids_are_replaced(api: Api, sent: str | None) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    response = await api.client.get("/health", headers=headers)
    assert response.status_code == 200
    generated = response.headers["x-request-id"]
    assert generated != sent and len(generated) == 32 and generated.isalnum()
    again = await api.client.get("/health", headers=headers)
    assert again.headers["x-request-id"] != generated  # a new one for each request


async def test_sane_request_ids_are_kept_on_every_response(api: Api) -> None:
    rid = "trace-01:HX/9+a=b@c." + "z" * 108
    assert len(rid) == 128
    requests = (("GET", "/health"), ("GET", "/nowhere"), ("DELETE", "/health"), ("GET", "/v1/queue"))
    for method, path in requests:
        response = await api.client.request(method, path, headers={"X-Request-ID": rid})
        assert response.status_code in (200, 401, 404, 405), (path, response.status_code)
        assert response.headers["x-request-id"] == rid, (method, path, response.headers)
    # Problem responses too, and a replayed idempotent answer carries the id of the replaying request.
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    body = {"brand": "shop", "channel": "twitter", "external_id": "r-1", "text": "hi"}
    body["author"] = {"handle": "a"}
    first = await api.client.post(
        "/v1/posts", json=body, headers={**integration, "Idempotency-Key": "k", "X-Request-ID": "first"}
    )
    replay = await api.client.post(
        "/v1/posts", json=body, headers={**integration, "Idempotency-Key": "k", "X-Request-ID": "second"}
    )
    assert first.headers["x-request-id"] == "first"
    assert replay.headers.get("idempotent-replayed") == "true" and replay.headers["x-request-id"] == "second"
    bad = await api.client.post("/v1/posts", json={}, headers={**integration, "X-Request-ID": "bad-1"})
    assert bad.status_code == 422 and bad.headers["x-request-id"] == "bad-1"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_whole_path_and_erasure_log_ids_never_text_or_handles(
    make_client: Any, capfd: pytest.CaptureFixture[str], level: str
) -> None:
    """Post, draft, approve (with a webhook), then the author's erasure: every line the service writes at
    this level, JSON or not, names ids and counts but never the post text, the reply or the handle."""
    from tests.fakes.receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        api: Api = await make_client(log_level=level)
        await api.brand("shop", webhook={"url": receiver.url})
        integration = await api.key("integration", ["shop"])
        agent = await api.key("agent", ["shop"])
        text, handle = "Parcel KQ-77341 lost near Bremen, help", "Logged_Author"
        post_id = await api.send_post(integration, "log-1", text, author={"handle": f"@{handle}"})
        draft = (await api.wait_post(post_id, integration))["draft"]
        reply = f"Sorry @{handle}, we are on KQ-77341 and Bremen."
        approved = await api.client.post(
            f"/v1/drafts/{draft['id']}/approve",
            json={"text": reply},
            headers={**agent, "If-Match": str(draft["version"])},
        )
        assert approved.status_code == 200, approved.text
        await receiver.wait_for_async(3)
        erasure = await api.client.post(
            "/v1/brands/shop/erasures", json={"channel": "twitter", "handle": handle}, headers=api.admin
        )
        assert erasure.status_code == 202, erasure.text
        await api.settled_jobs()
        lines = await _read_until(
            capfd, lambda line: line.get("event") == "author erased" and line.get("posts_deleted") == 1
        )
        out = capfd.readouterr()
    kinds = {line.get("kind") for line in lines if line.get("event") == "job done"}
    assert {"triage_post", "draft_post", "deliver_event", "learn_answer", "erase_author"} <= kinds, kinds
    everything = (json.dumps(lines, ensure_ascii=False) + out.err + out.out).lower()
    for secret in ("kq-77341", "bremen", handle.lower(), "parcel"):
        at = everything.find(secret)
        assert at < 0, everything[max(0, at - 600) : at + 100]
    assert post_id in everything  # ids are what the lines carry
