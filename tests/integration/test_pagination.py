"""Every list route caps `limit` (over the cap: 422 naming `limit`) and pages: documents and deliveries
with a cursor, the queue and incidents with an offset. Small lists come back whole, as before."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

LISTS = [
    "/v1/queue?brand=shop",
    "/v1/incidents?brand=shop",
    "/v1/brands/shop/documents",
    "/v1/brands/shop/deliveries",
]


async def _headers(api: Api, path: str) -> dict[str, str]:
    return api.admin if path.startswith("/v1/brands") else await api.key("agent", ["shop"])


@pytest.mark.parametrize("path", LISTS)
async def test_limit_over_the_cap_is_422_naming_limit(api: Api, path: str) -> None:
    await api.brand("shop")
    headers = await _headers(api, path)
    sep = "&" if "?" in path else "?"
    for query, field in (("limit=501", "limit"), ("limit=0", "limit"), ("limit=x", "limit")):
        response = await api.client.get(f"{path}{sep}{query}", headers=headers)
        assert response.status_code == 422, (path, query, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert (await api.client.get(f"{path}{sep}limit=500", headers=headers)).status_code == 200
    if "offset" not in path and path.startswith(("/v1/queue", "/v1/incidents")):
        bad = await api.client.get(f"{path}{sep}offset=-1", headers=headers)
        assert bad.status_code == 422 and "offset" in {e["field"] for e in bad.json()["errors"]}


async def test_documents_page_with_a_cursor(api: Api) -> None:
    await api.brand("shop")
    names = [f"note-{i}.txt" for i in range(5)]
    for i, name in enumerate(names):
        await api.upload("shop", name, f"Opening hours note number {i}: we open at nine.".encode())
    whole = (await api.client.get("/v1/brands/shop/documents", headers=api.admin)).json()
    assert [d["filename"] for d in whole["items"]] == names and whole["next_cursor"] is None
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(f"/v1/brands/shop/documents{query}", headers=api.admin)).json()
        seen += [d["filename"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    bad = await api.client.get("/v1/brands/shop/documents?cursor=bm9wZQ", headers=api.admin)
    assert bad.status_code == 422 and "cursor" in {e["field"] for e in bad.json()["errors"]}


async def test_the_queue_pages_with_an_offset(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    for i in range(3):
        post_id = await api.send_post(integration, f"q-{i}", f"My order {i} never arrived, where is it?")
        await api.wait_post(post_id, integration, ("triaged", "drafted"))
    whole = [p["id"] for p in (await api.client.get("/v1/queue?brand=shop", headers=agent)).json()["items"]]
    assert len(whole) == 3
    paged: list[Any] = []
    for offset in (0, 2, 4):
        response = await api.client.get(f"/v1/queue?brand=shop&limit=2&offset={offset}", headers=agent)
        assert response.status_code == 200, response.text
        paged += [p["id"] for p in response.json()["items"]]
    assert paged == whole
