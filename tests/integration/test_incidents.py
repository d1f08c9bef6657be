"""Incidents through the API on SQLite and PostgreSQL: 30 posts about one outage from 30 authors, sent
in a burst and processed by two workers at once, become one incident; 5 unrelated posts stay out."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from urllib.parse import quote

from tests.conftest import VECTOR_BACKENDS, Api
from tests.integration.incident_posts import OUTAGE_EN, UNRELATED

pytestmark = VECTOR_BACKENDS  # each test on Qdrant Edge and on qdrant-client local mode


async def send(api: Api, headers: dict[str, str], external_id: str, text: str, handle: str) -> str:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": external_id,
        "text": text,
        "author": {"handle": handle, "followers": 50},
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_thirty_posts_about_one_outage_are_one_incident(api: Api) -> None:
    await api.brand("shop")
    await api.brand("other")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    other_agent = await api.key("agent", ["other"])

    posts = [(f"out-{i}", text, f"user{i}") for i, text in enumerate(OUTAGE_EN)]
    posts += [(f"misc-{i}", text, f"misc{i}") for i, text in enumerate(UNRELATED)]
    # interleaved, as they would come in
    order = posts[:10] + posts[30:33] + posts[10:20] + posts[33:] + posts[20:30]
    ids = {eid: await send(api, integration, eid, text, handle) for eid, text, handle in order}
    await asyncio.gather(*(api.wait_post(pid, agent, timeout=60) for pid in ids.values()))
    # read again once all are done: an early post joins its incident when a later one brings it along
    done = [(await api.client.get(f"/v1/posts/{pid}", headers=agent)).json() for pid in ids.values()]
    by_external = {post["external_id"]: post for post in done}
    assert all(post["status"] == "drafted" for post in done), [p["status"] for p in done]

    outage_incidents = {by_external[f"out-{i}"]["incident_id"] for i in range(len(OUTAGE_EN))}
    assert len(outage_incidents) == 1 and None not in outage_incidents, outage_incidents
    incident_id = outage_incidents.pop()
    assert all(by_external[f"misc-{i}"]["incident_id"] is None for i in range(len(UNRELATED)))

    listed = await api.client.get("/v1/incidents", params={"brand": "shop"}, headers=agent)
    assert listed.status_code == 200, listed.text
    [incident] = listed.json()["items"]
    assert incident["id"] == incident_id and incident["status"] == "open"
    assert (incident["post_count"], incident["author_count"]) == (30, 30)
    assert any(word in incident["title"].lower() for word in ("log", "sign", "app"))

    detail = await api.client.get(f"/v1/incidents/{incident_id}", headers=agent)
    assert detail.status_code == 200
    assert sorted(p["external_id"] for p in detail.json()["posts"]) == sorted(f"out-{i}" for i in range(30))

    # the queue can show one incident's posts, each with its own draft to personalise
    queue = await api.client.get(
        "/v1/queue", params={"brand": "shop", "incident": incident_id, "limit": 100}, headers=agent
    )
    items = queue.json()["items"]
    assert len(items) == 30 and all(item["draft"] for item in items)

    # brand-scoped, agent-only, like the rest of the review API
    assert (await api.client.get("/v1/incidents", params={"brand": "shop"})).status_code == 401
    for headers in (other_agent, integration):
        assert (await api.client.get(f"/v1/incidents/{incident_id}", headers=headers)).status_code == 403
        forbidden = await api.client.get("/v1/incidents", params={"brand": "shop"}, headers=headers)
        assert forbidden.status_code == 403
    assert (await api.client.get("/v1/incidents/nope", headers=agent)).status_code == 404

    # closed by an agent: a later post about the same outage does not reopen it
    closed = await api.client.post(f"/v1/incidents/{incident_id}/close", headers=agent)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    late = await send(api, integration, "late-1", "Is the app login down again? can't sign in", "late")
    late_post = await api.wait_post(late, agent)
    assert late_post["incident_id"] is None
    still = await api.client.get("/v1/incidents", params={"brand": "shop", "status": "closed"}, headers=agent)
    assert [i["post_count"] for i in still.json()["items"]] == [30]


async def test_incidents_are_per_brand(api: Api) -> None:
    for slug in ("shop", "other"):
        await api.brand(slug)
    integration = await api.key("integration", "*")
    agent = await api.key("agent", "*")
    ids: list[str] = []
    for i, text in enumerate(OUTAGE_EN[:4]):
        # two authors per brand about the same outage: neither brand has three
        slug = "shop" if i % 2 else "other"
        body: dict[str, Any] = {
            "brand": slug,
            "channel": "twitter",
            "external_id": f"b-{i}",
            "text": text,
            "author": {"handle": f"u{i}"},
        }
        response = await api.client.post("/v1/posts", json=body, headers=integration)
        ids.append(response.json()["id"])
    for pid in ids:
        await api.wait_post(pid, agent)
    # read again once all are done: an early post would join an incident a later one opened
    done = [(await api.client.get(f"/v1/posts/{pid}", headers=agent)).json() for pid in ids]
    assert all(post["incident_id"] is None for post in done)


async def test_two_replicas_with_their_workers_open_one_incident(make_client: Any) -> None:
    # two app instances on one database, each with two workers: the brand row lock keeps grouping serial
    first = await make_client(qdrant_path=":memory:", workers=2)
    second = await make_client(qdrant_path=":memory:", workers=2)
    await first.brand("shop")
    integration = await first.key("integration", ["shop"])
    agent = await first.key("agent", ["shop"])
    ids = []
    for i, text in enumerate(OUTAGE_EN[:12]):
        replica = first if i % 2 else second
        ids.append(await send(replica, integration, f"r-{i}", text, f"r{i}"))
    await asyncio.gather(*(first.wait_post(pid, agent, timeout=60) for pid in ids))
    done = [(await second.client.get(f"/v1/posts/{pid}", headers=agent)).json() for pid in ids]
    assert len({post["incident_id"] for post in done}) == 1 and done[0]["incident_id"]
    listed = await second.client.get("/v1/incidents", params={"brand": "shop"}, headers=agent)
    assert [i["post_count"] for i in listed.json()["items"]] == [12]


async def test_answer_once_then_redraft_the_rest(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    sent = [await send(api, integration, f"o-{i}", OUTAGE_EN[i], f"o{i}") for i in range(10)]
    await asyncio.gather(*(api.wait_post(pid, agent) for pid in sent))
    everything = [(await api.client.get(f"/v1/posts/{pid}", headers=agent)).json() for pid in sent]
    [(incident_id, _)] = Counter(p["incident_id"] for p in everything if p["incident_id"]).most_common(1)
    posts = [p for p in everything if p["incident_id"] == incident_id]
    ids = [p["id"] for p in posts]
    assert len(ids) >= 4

    # one reply approved for the incident, one draft edited by an agent
    approved, edited = posts[0]["draft"], posts[1]["draft"]
    answer = "We're sorry: app login is down for everyone right now. We're on it and will update you here."
    response = await api.client.post(
        f"/v1/drafts/{approved['id']}/approve",
        json={"text": answer},
        headers={**agent, "If-Match": str(approved["version"])},
    )
    assert response.status_code == 200
    response = await api.client.patch(
        f"/v1/drafts/{edited['id']}",
        json={"text": "Hi! Sorry about the login trouble."},
        headers={**agent, "If-Match": str(edited["version"])},
    )
    assert response.status_code == 200
    # the approved reply becomes a past answer of the brand; redrafting rests on it once it is searchable
    past_answer = f"past:{approved['id']}"
    await api.poll(
        f"/v1/brands/shop/knowledge/search?q={quote(posts[0]['text'])}",
        api.admin,
        lambda body: any(hit["source_id"] == past_answer for hit in body["hits"]),
        30,
    )

    redraft = await api.client.post(f"/v1/incidents/{incident_id}/redraft", json={}, headers=agent)
    assert redraft.status_code == 202 and redraft.json() == {"redrafting": len(ids) - 2}
    min_score = api.client.app.state.runtime.settings.retrieval_min_score  # type: ignore[attr-defined]
    cited = 0
    for pid in ids[2:]:
        post = await api.poll(
            f"/v1/posts/{pid}",
            agent,
            lambda p: p["status"] == "drafted" and p["draft"]["generation"] == 2,
            30,
        )
        assert post["incident_id"] == incident_id
        # The redraft rests on the approved answer wherever the brand's search finds it usable for the
        # post: cited first and quoted. (Retrieval decides, with the brand's threshold: a post worded far
        # from the approved one, e.g. "Login broken again...", can score under it and get no_knowledge.)
        found = await api.client.get(
            "/v1/brands/shop/knowledge/search", params={"q": post["text"]}, headers=api.admin
        )
        usable = [h for h in found.json()["hits"] if h["score"] >= min_score]
        draft = post["draft"]
        if usable and usable[0]["source_id"] == past_answer:
            cited += 1
            assert draft["sources"][0]["source_id"] == past_answer, (post["text"], draft)
            assert draft["sources"][0]["kind"] == "past_answer"
            assert answer in draft["text"], draft["text"]
        else:
            # nothing cleared the threshold: an honest holding draft that still shows what came close
            assert "no_knowledge" in draft["flags"], (post["text"], draft)
            assert all(s["score"] < min_score for s in draft["sources"]), (post["text"], draft)
    assert cited >= (len(ids) - 2) / 2, f"{cited} of {len(ids) - 2} redrafts rest on the approved answer"
    kept = (await api.client.get(f"/v1/posts/{ids[1]}", headers=agent)).json()
    assert kept["draft"]["text"] == "Hi! Sorry about the login trouble." and kept["draft"]["generation"] == 1
    assert (await api.client.get(f"/v1/posts/{ids[0]}", headers=agent)).json()["status"] == "approved"
