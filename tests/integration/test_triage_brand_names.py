"""The brand's social handles (settings.social_handles) through the API, on SQLite and PostgreSQL: stored
and shown, checked, and used by triage to tell a post between two users from a post to the brand."""

from __future__ import annotations

from typing import Any


async def test_social_handles_decide_who_a_post_is_written_to(make_client: Any) -> None:
    api = await make_client()
    brand = await api.brand("shop", language="de", settings={"social_handles": ["@KundenHilfe24"]})
    assert brand["settings"]["social_handles"] == ["@KundenHilfe24"]
    integration = await api.key("integration", ["shop"])

    bad = await api.client.patch(
        "/v1/brands/shop", json={"settings": {"social_handles": ["not a handle!"]}}, headers=api.admin
    )
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "social_handles" in bad.text

    to_a_friend = await api.send_post(integration, "f1", "@jonas_hh sehen wir uns nachher am Bahnhof?")
    to_us = await api.send_post(integration, "f2", "@KundenHilfe24 wann endet mein Vertrag?")
    friend = await api.wait_post(to_a_friend, integration, timeout=40)
    ours = await api.wait_post(to_us, integration, timeout=40)
    assert friend["status"] == "no_reply_needed", friend["triage"]
    assert friend["triage"]["reasons"][0] == "no reply: written to @jonas_hh, another user, not to the brand"
    assert ours["status"] == "drafted" and ours["triage"]["needs_reply"] is True, ours["triage"]
