"""The rules of the API contract: idempotency, limits, content types, validation, webhook safety, secrets,
optimistic locking."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.idempotency import IdempotencyMiddleware
from tests.conftest import Api


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = dict(response.json())
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def _post_body(external_id: str, text: str = "Where is my order?") -> bytes:
    return json.dumps(
        {
            "brand": "shop",
            "channel": "twitter",
            "external_id": external_id,
            "text": text,
            "author": {"handle": "jane"},
        }
    ).encode()


async def test_idempotency_replay_mismatch_and_in_flight(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    headers = {**integration, "Idempotency-Key": "k-1", "content-type": "application/json"}
    first = await api.client.post("/v1/posts", content=_post_body("i-1"), headers=headers)
    assert first.status_code == 202
    replay = await api.client.post("/v1/posts", content=_post_body("i-1"), headers=headers)
    assert replay.status_code == 202 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"

    mismatch = await api.client.post("/v1/posts", content=_post_body("i-2"), headers=headers)
    body = _problem(mismatch, 422)
    assert "different request body" in body["detail"]

    # A first request still running (here: claimed as a replica would claim it) makes the second wait: 409.
    runtime = api.client.app.state.runtime
    content = _post_body("i-3")
    scope = hashlib.sha256(integration["Authorization"].encode()).hexdigest()[:32] + " /v1/posts"
    digest = hashlib.sha256(b"application/json\n" + content).hexdigest()
    middleware = IdempotencyMiddleware(api.client.app)
    assert await middleware._claim(runtime, scope, "k-2", digest, owner="replica-2") is None
    in_flight = await api.client.post(
        "/v1/posts", content=content, headers={**headers, "Idempotency-Key": "k-2"}
    )
    _problem(in_flight, 409)
    await middleware._release(runtime, scope, "k-2", "replica-2")
    done = await api.client.post("/v1/posts", content=content, headers={**headers, "Idempotency-Key": "k-2"})
    assert done.status_code == 202


async def test_idempotency_does_not_keep_errors(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    headers = {**integration, "Idempotency-Key": "k-err"}
    bad = await api.client.post("/v1/posts", json={"brand": "shop"}, headers=headers)
    _problem(bad, 422)
    good = await api.client.post(
        "/v1/posts", content=_post_body("e-1"), headers={**headers, "content-type": "application/json"}
    )
    assert good.status_code == 202


async def test_size_type_and_syntax_errors(make_client: Any) -> None:
    api = await make_client(max_json_bytes=2048, max_upload_bytes=4096)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])

    big = _post_body("big", text="x" * 5000)
    _problem(
        await api.client.post(
            "/v1/posts", content=big, headers={**integration, "content-type": "application/json"}
        ),
        413,
    )
    _problem(
        await api.client.post(
            "/v1/posts", content=_post_body("t"), headers={**integration, "content-type": "text/plain"}
        ),
        415,
    )
    _problem(
        await api.client.post(
            "/v1/posts",
            content=b'{"brand": "shop",',
            headers={**integration, "content-type": "application/json"},
        ),
        400,
    )
    invalid = _problem(
        await api.client.post(
            "/v1/posts",
            json={"brand": "shop", "channel": "twitter", "text": "", "author": {}},
            headers=integration,
        ),
        422,
    )
    fields = {e["field"] for e in invalid["errors"]}
    assert {"external_id", "text", "author.handle"} <= fields, invalid

    upload = await api.client.post(
        "/v1/brands/shop/documents", files={"file": ("a.txt", b"y" * 5000)}, headers=api.admin
    )
    _problem(upload, 413)
    zip_as_pdf = await api.client.post(
        "/v1/brands/shop/documents", files={"file": ("a.pdf", b"PK\x03\x04" + b"\0" * 100)}, headers=api.admin
    )
    _problem(zip_as_pdf, 415)
    not_multipart = await api.client.post("/v1/brands/shop/documents", json={"file": "x"}, headers=api.admin)
    _problem(not_multipart, 415)


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A JSON body sent in pieces: httpx gives it no Content-Length (Transfer-Encoding: chunked)."""
    yield b'{"brand": "shop", "channel": "twitter", "external_id": "chunked", "author": {"handle": "j"}, '
    yield b'"text": "'
    size = min(size, total)
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}'


async def test_chunked_bodies_over_the_limit_are_413(make_client: Any) -> None:
    """Without a Content-Length the limit holds on the bytes streamed: 413 problem+json, never a 500."""
    api = await make_client(max_upload_bytes=4 * 1024 * 1024)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    headers = {**integration, "content-type": "application/json"}

    request = api.client.build_request("POST", "/v1/posts", content=_chunks(2 * 1024 * 1024), headers=headers)
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    body = _problem(await api.client.send(request), 413)
    assert body["detail"] == "request body is larger than 1048576 bytes", body
    # The same through the idempotency middleware, which reads the body before the app does.
    _problem(
        await api.client.post(
            "/v1/posts",
            content=_chunks(2 * 1024 * 1024),
            headers={**headers, "Idempotency-Key": "chunked-1"},
        ),
        413,
    )
    # A JSON body of 1.5 MiB is over the JSON limit (1 MiB) though under the upload limit.
    _problem(await api.client.post("/v1/posts", content=_chunks(1536 * 1024), headers=headers), 413)
    # A small chunked body is read as usual, and the service goes on serving.
    small = await api.client.post("/v1/posts", content=_chunks(1024), headers=headers)
    assert small.status_code == 202, small.text


async def test_uploads_have_their_own_larger_limit(make_client: Any) -> None:
    api = await make_client(max_json_bytes=2048, max_upload_bytes=8192)
    await api.brand("shop")
    # Over the JSON limit, under the upload limit: accepted.
    doc = await api.upload("shop", "notes.txt", b"Returns are free within 30 days. " * 150)
    assert doc["status"] == "processing"

    async def multipart(total: int) -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        for _ in range(total // 1024):
            yield b"y" * 1024
        yield b"\r\n--b--\r\n"

    too_big = await api.client.post(
        "/v1/brands/shop/documents",
        content=multipart(16 * 1024),
        headers={**api.admin, "content-type": "multipart/form-data; boundary=b"},
    )
    _problem(too_big, 413)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "ftp://example.com/hook",
        "http://[::ffff:169.254.169.254]/x",
    ],
)
async def test_unsafe_webhook_urls_refused(api: Api, url: str) -> None:
    response = await api.client.post(
        "/v1/brands",
        headers=api.admin,
        json={"slug": "shop", "name": "Shop", "language": "en", "webhook": {"url": url}},
    )
    body = _problem(response, 422)
    assert body["errors"][0]["field"] == "webhook.url"


async def test_loopback_and_private_only_when_allowed(make_client: Any) -> None:
    api = await make_client(webhook_allow_loopback=False, webhook_allowed_networks="10.0.0.0/8")
    refused = await api.client.post(
        "/v1/brands",
        headers=api.admin,
        json={"slug": "shop", "name": "Shop", "language": "en", "webhook": {"url": "http://127.0.0.1:9/x"}},
    )
    _problem(refused, 422)
    allowed = await api.client.post(
        "/v1/brands",
        headers=api.admin,
        json={"slug": "shop", "name": "Shop", "language": "en", "webhook": {"url": "http://10.1.2.3/x"}},
    )
    assert allowed.status_code == 201, allowed.text


async def test_webhook_secret_shown_once(api: Api) -> None:
    created = await api.brand("shop", webhook={"url": "http://127.0.0.1:9/hook"})
    secret = created["webhook"]["secret"]
    assert secret.startswith("whsec_")
    for response in (
        await api.client.get("/v1/brands/shop", headers=api.admin),
        await api.client.patch("/v1/brands/shop", json={"name": "Shop 2"}, headers=api.admin),
    ):
        assert response.status_code == 200
        assert secret not in response.text and response.json()["webhook"]["secret"] is None
    given = "whsec_" + "A" * 40
    response = await api.client.patch(
        "/v1/brands/shop",
        headers=api.admin,
        json={"webhook": {"url": "http://127.0.0.1:9/h", "secret": given}},
    )
    assert response.status_code == 200 and given not in response.text
    bad = await api.client.patch(
        "/v1/brands/shop",
        headers=api.admin,
        json={"webhook": {"url": "http://127.0.0.1:9/h", "secret": "plain"}},
    )
    _problem(bad, 422)


@pytest.mark.parametrize("slug", ["A", "a", "-abc", "ab_c", "Shop", "a" * 64, "ab c"])
async def test_bad_slugs_refused(api: Api, slug: str) -> None:
    response = await api.client.post(
        "/v1/brands", headers=api.admin, json={"slug": slug, "name": "X", "language": "en"}
    )
    body = _problem(response, 422)
    assert body["errors"][0]["field"] == "slug"


async def test_brand_conflict_and_fields(api: Api) -> None:
    await api.brand("shop")
    _problem(
        await api.client.post(
            "/v1/brands", headers=api.admin, json={"slug": "shop", "name": "X", "language": "en"}
        ),
        409,
    )
    body = _problem(
        await api.client.post(
            "/v1/brands",
            headers=api.admin,
            json={
                "slug": "new",
                "name": "X",
                "language": "en",
                "timezone": "Mars/Olympus",
                "business_hours": {"mon": [["08:00", "25:00"]]},
            },
        ),
        422,
    )
    assert {e["field"] for e in body["errors"]} == {"timezone", "business_hours"}
    # overnight hours follow triage's rules (triage/hours.py): accepted, not refused
    night = {"slug": "night", "name": "N", "language": "en", "business_hours": {"fri": [["22:00", "02:00"]]}}
    created = await api.client.post("/v1/brands", headers=api.admin, json=night)
    assert created.status_code == 201, created.text
    assert created.json()["business_hours"] == {"fri": [["22:00", "02:00"]]}


async def test_if_match_and_state_rules(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    response = await api.client.post(
        "/v1/posts", content=_post_body("v-1"), headers={**integration, "content-type": "application/json"}
    )
    post = await api.wait_post(response.json()["id"], integration)
    draft = post["draft"]
    path = f"/v1/drafts/{draft['id']}"
    _problem(await api.client.patch(path, json={"text": "x"}, headers=agent), 428)
    ok = await api.client.patch(path, json={"text": "first edit"}, headers={**agent, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    stale = await api.client.patch(path, json={"text": "second"}, headers={**agent, "If-Match": "1"})
    assert "current one is 2" in _problem(stale, 409)["detail"]
    _problem(
        await api.client.post(
            f"/v1/posts/{post['id']}/published", json={"external_reply_id": "r"}, headers=integration
        ),
        409,
    )
    _problem(await api.client.post(f"{path}/approve", json={}, headers={**agent, "If-Match": "1"}), 409)
    assert (
        await api.client.post(f"{path}/approve", json={}, headers={**agent, "If-Match": "2"})
    ).status_code == 200
    _problem(await api.client.patch(path, json={"text": "late"}, headers={**agent, "If-Match": "3"}), 409)
    _problem(await api.client.get("/v1/drafts/nope", headers=agent), 404)


async def test_unknown_brand_in_post_names_the_field(api: Api) -> None:
    integration = await api.key("integration", "*")
    body = _problem(
        await api.client.post(
            "/v1/posts",
            content=_post_body("u-1").replace(b'"shop"', b'"ghost"'),
            headers={**integration, "content-type": "application/json"},
        ),
        422,
    )
    assert body["errors"][0]["field"] == "brand"


async def test_ops_endpoints(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    schema = await api.client.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    assert "/v1/posts" in schema.json()["paths"]
    await api.client.get("/health")
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200 and "reply_service_requests_total" in metrics.text
    assert 'reply_service_jobs{status="queued"}' in metrics.text
