"""The audit log: who changed what, before and after, newest first, paged; written in the change's own
transaction; never a secret; scoped to the brand's admins."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from service.models import AuditEntry
from tests.conftest import ADMIN_KEY, Api
from tests.fakes.receiver import WebhookReceiver

FAQ = [{"id": "faq-return", "question": "How do I return a product?", "answer": "Use example.com/returns."}]


async def _audit(api: Api, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.client.get("/v1/brands/shop/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _key(api: Api, name: str, role: str, brands: list[str] | str) -> tuple[dict[str, str], str]:
    response = await api.client.post(
        "/v1/api-keys", json={"name": name, "role": role, "brands": brands}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}, str(response.json()["id"])


async def _draft(api: Api, integration: dict[str, str], external_id: str) -> dict[str, Any]:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": external_id,
        "text": "How can I return my headphones?",
        "author": {"handle": "jo"},
    }
    response = await api.client.post("/v1/posts", json=body, headers=integration)
    assert response.status_code == 202, response.text
    post = await api.wait_post(response.json()["id"], integration)
    assert post["status"] == "drafted", post
    return dict(post["draft"])


async def test_every_change_is_recorded_newest_first_without_secrets(
    api: Api, receiver: WebhookReceiver
) -> None:
    created = await api.brand("shop", webhook={"url": receiver.url})
    first_secret = created["webhook"]["secret"]
    admin, admin_id = await _key(api, "shop admin", "admin", ["shop"])
    integration, integration_id = await _key(api, "helpdesk", "integration", ["shop"])
    agent, agent_id = await _key(api, "agent anna", "agent", ["shop"])
    patched = await api.client.patch(
        "/v1/brands/shop", json={"name": "Shop 2", "webhook": {"url": receiver.url}}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    second_secret = patched.json()["webhook"]["secret"]
    doc = await api.upload("shop", "faq.json", json.dumps(FAQ).encode(), kind="faq")
    await api.wait_document("shop", doc["id"])
    deleted = await api.client.delete(f"/v1/brands/shop/documents/{doc['id']}", headers=admin)
    assert deleted.status_code == 204, deleted.text

    draft = await _draft(api, integration, "a-1")
    edited = await api.client.patch(
        f"/v1/drafts/{draft['id']}",
        json={"text": "Edited reply text."},
        headers={**agent, "If-Match": str(draft["version"])},
    )
    assert edited.status_code == 200, edited.text
    approved = await api.client.post(
        f"/v1/drafts/{draft['id']}/approve", headers={**agent, "If-Match": str(edited.json()["version"])}
    )
    assert approved.status_code == 200, approved.text
    other = await _draft(api, integration, "a-2")
    rejected = await api.client.post(
        f"/v1/drafts/{other['id']}/reject", json={"reason": "off topic"}, headers=agent
    )
    assert rejected.status_code == 200, rejected.text

    items = (await _audit(api, admin, limit=50))["items"]
    got = [(i["action"], i["target"]) for i in items]
    assert got == [
        ("reject", f"draft:{other['id']}"),
        ("approve", f"draft:{draft['id']}"),
        ("edit", f"draft:{draft['id']}"),
        ("delete", f"document:{doc['id']}"),
        ("upload", f"document:{doc['id']}"),
        ("update", "brand:shop"),
        ("create", f"api_key:{agent_id}"),
        ("create", f"api_key:{integration_id}"),
        ("create", f"api_key:{admin_id}"),
        ("create", "brand:shop"),
    ], got
    by = {(i["action"], i["target"]): i for i in items}
    edit = by[("edit", f"draft:{draft['id']}")]
    assert edit["actor"] == {"key_id": agent_id, "name": "agent anna"}
    assert edit["before"]["text"] == draft["text"] and edit["after"]["text"] == "Edited reply text."
    approve = by[("approve", f"draft:{draft['id']}")]
    assert approve["before"]["status"] == "pending" and approve["after"]["status"] == "approved"
    assert by[("reject", f"draft:{other['id']}")]["after"]["reason"] == "off topic"
    update = by[("update", "brand:shop")]
    assert update["actor"] == {"key_id": admin_id, "name": "shop admin"}
    assert update["before"]["name"] == "Shop" and update["after"]["name"] == "Shop 2"
    assert update["after"]["webhook_secret_changed"] is True
    create = by[("create", "brand:shop")]
    assert create["actor"]["name"] == "bootstrap admin" and create["after"]["slug"] == "shop"
    assert by[("upload", f"document:{doc['id']}")]["after"]["filename"] == "faq.json"
    assert by[("delete", f"document:{doc['id']}")]["before"]["filename"] == "faq.json"
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)

    # No secret anywhere in the stored log: webhook secrets, API keys (and the bootstrap key).
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        stored = (await session.scalars(sa.select(AuditEntry))).all()
    dumped = json.dumps([[e.target, e.before, e.after] for e in stored])
    keys = [h["Authorization"].split()[1] for h in (admin, agent, integration)]
    for secret in (first_secret, second_secret, ADMIN_KEY, *keys):
        assert secret not in dumped
    assert "whsec_" not in dumped and "rk_" not in dumped, dumped


async def test_paging_with_a_cursor_and_a_capped_limit(api: Api) -> None:
    await api.brand("shop")
    for i in range(5):
        response = await api.client.patch("/v1/brands/shop", json={"name": f"Shop {i}"}, headers=api.admin)
        assert response.status_code == 200
    page1 = await _audit(api, api.admin, limit=2)
    page2 = await _audit(api, api.admin, limit=2, before=page1["next"])
    page3 = await _audit(api, api.admin, limit=2, before=page2["next"])
    names = [i["after"].get("name") for p in (page1, page2, page3) for i in p["items"]]
    assert names == ["Shop 4", "Shop 3", "Shop 2", "Shop 1", "Shop 0", "Shop"]
    assert page3["next"] is None
    too_many = await api.client.get("/v1/brands/shop/audit", params={"limit": 201}, headers=api.admin)
    assert too_many.status_code in (400, 422) and "limit" in too_many.text
    bogus = await api.client.get(
        "/v1/brands/shop/audit", params={"before": "not-a-cursor"}, headers=api.admin
    )
    assert bogus.status_code == 422 and bogus.json()["errors"][0]["field"] == "before"


async def test_scope_brand_admins_and_all_brand_keys(api: Api) -> None:
    await api.brand("shop")
    await api.brand("other")
    shop_admin, _ = await _key(api, "shop admin", "admin", ["shop"])
    other_agent, other_agent_id = await _key(api, "other agent", "agent", ["other"])
    _, global_id = await _key(api, "global agent", "agent", "*")
    agent, _ = await _key(api, "shop agent", "agent", ["shop"])
    # the brand's admin sees the brand's entries, not other brands' nor all-brands keys
    seen = {i["target"] for i in (await _audit(api, shop_admin))["items"]}
    assert f"api_key:{other_agent_id}" not in seen and f"api_key:{global_id}" not in seen
    assert "brand:other" not in seen and "brand:shop" in seen
    # an all-brands admin also sees the all-brands key (recorded with no brand)
    seen_all = {i["target"] for i in (await _audit(api, api.admin))["items"]}
    assert f"api_key:{global_id}" in seen_all and f"api_key:{other_agent_id}" not in seen_all
    # not for agents, not for another brand's admin
    assert (await api.client.get("/v1/brands/shop/audit", headers=agent)).status_code == 403
    other_admin, _ = await _key(api, "other admin", "admin", ["other"])
    assert (await api.client.get("/v1/brands/shop/audit", headers=other_admin)).status_code == 403
    assert other_agent


async def test_a_rolled_back_change_leaves_no_entry(
    api: Api, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.drafts import review

    await api.brand("shop", webhook={"url": receiver.url})
    integration, _ = await _key(api, "helpdesk", "integration", ["shop"])
    agent, _ = await _key(api, "agent", "agent", ["shop"])
    draft = await _draft(api, integration, "rb-1")

    def broken_emit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("outbox down")  # after the audit entry was added to the transaction

    monkeypatch.setattr(review, "emit", broken_emit)
    failed = await api.client.post(
        f"/v1/drafts/{draft['id']}/approve", headers={**agent, "If-Match": str(draft["version"])}
    )
    assert failed.status_code == 500
    actions = [i["action"] for i in (await _audit(api, api.admin))["items"]]
    assert "approve" not in actions
    again = await api.client.get(f"/v1/drafts/{draft['id']}", headers=agent)
    assert again.json()["status"] == "pending"
    monkeypatch.undo()
    ok = await api.client.post(
        f"/v1/drafts/{draft['id']}/approve", headers={**agent, "If-Match": str(draft["version"])}
    )
    assert ok.status_code == 200, ok.text
    assert (await _audit(api, api.admin))["items"][0]["action"] == "approve"
