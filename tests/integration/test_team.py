"""Team capacity on SQLite and PostgreSQL: members with shifts, assignment at triage to the on-shift
member with the fewest open items, claims and admin assignment, `assignee=me`, the periodic re-assignment
when a member goes off shift (through the real workers), and the breach forecast over seeded numbers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from service.jobs import periodic
from service.models import Brand, Draft, Job, Member, Post, utcnow
from service.runtime import Runtime
from service.team import assignment
from tests.conftest import Api


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def agent_key(
    api: Api, name: str, role: str = "agent", brands: Any = ("shop",)
) -> tuple[str, dict[str, str]]:
    response = await api.client.post(
        "/v1/api-keys", json={"name": name, "role": role, "brands": list(brands)}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


def shift(hours_from: float, hours_to: float) -> dict[str, str]:
    now = utcnow()
    return {
        "start": (now + timedelta(hours=hours_from)).isoformat(),
        "end": (now + timedelta(hours=hours_to)).isoformat(),
    }


async def add_member(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.client.post("/v1/brands/shop/members", json=body, headers=api.admin)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def members(api: Api) -> dict[str, dict[str, Any]]:
    response = await api.client.get("/v1/brands/shop/members", headers=api.admin)
    assert response.status_code == 200, response.text
    return {m["name"]: m for m in response.json()["items"]}


async def open_items(api: Api) -> dict[str, int]:
    return {name: m["open_items"] for name, m in (await members(api)).items()}


async def wait_open_items(api: Api, expected: dict[str, int], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (current := await open_items(api)) != expected:
        assert asyncio.get_running_loop().time() < deadline, current
        await asyncio.sleep(0.1)


async def queue_ids(api: Api, headers: dict[str, str], assignee: str) -> set[str]:
    response = await api.client.get(f"/v1/queue?brand=shop&assignee={assignee}", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_assignment_claims_and_shift_changes(make_client: Any) -> None:
    api = await make_client(assignment_interval_s=0.3)
    await api.brand("shop")  # no business hours: posts are due in wall-clock minutes
    await api.brand("other")
    ana_key, ana = await agent_key(api, "ana")
    ben_key, ben = await agent_key(api, "ben")
    _, stranger = await agent_key(api, "stranger")
    integration = await api.key("integration", ["shop"])

    await add_member(api, name="Ana", key_id=ana_key, shifts=[shift(-1, 8)])
    every_day = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    await add_member(api, name="Ben", key_id=ben_key, weekly_shifts=every_day)
    cem = await add_member(api, name="Cem", shifts=[shift(-10, -2)])  # that shift is over
    team = await members(api)
    assert (team["Ana"]["on_shift"], team["Ben"]["on_shift"], team["Cem"]["on_shift"]) == (True, True, False)

    post_ids = []
    for n in range(4):
        post_id = await api.send_post(integration, f"t{n}", f"Where is my order {n}? It has not arrived.")
        post = await api.wait_post(post_id, ana, ("triaged", "drafted"), timeout=90)
        post_ids.append(post_id)
        assert post["assignee"] is not None, post
    names = [
        (await api.client.get(f"/v1/posts/{p}", headers=ana)).json()["assignee"]["name"] for p in post_ids
    ]
    # fewest open items first, ties to the least recently assigned: the two alternate, Cem is off shift
    assert names[0] != names[1] and names[0] == names[2] and names[1] == names[3], names
    assert await open_items(api) == {"Ana": 2, "Ben": 2, "Cem": 0}
    anas = {p for p, name in zip(post_ids, names, strict=True) if name == "Ana"}
    bens = set(post_ids) - anas
    assert await queue_ids(api, ana, "me") == anas
    assert await queue_ids(api, ben, "me") == bens
    assert await queue_ids(api, ana, "none") == set()

    # Ben claims one of Ana's posts; an agent with no member cannot claim
    taken = sorted(anas)[0]
    claimed = await api.client.post(f"/v1/posts/{taken}/claim", headers=ben)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"]["name"] == "Ben"
    assert (await api.client.post(f"/v1/posts/{taken}/claim", headers=stranger)).status_code == 409
    queue_me = await api.client.get("/v1/queue?brand=shop&assignee=me", headers=stranger)
    assert queue_me.status_code == 422 and queue_me.json()["errors"][0]["field"] == "assignee"
    assert await open_items(api) == {"Ana": 1, "Ben": 3, "Cem": 0}

    # an admin gives a post to Cem, who is off shift: the next re-assignment hands it to Ana (fewest)
    given = sorted(bens)[0]
    assigned = await api.client.post(
        f"/v1/posts/{given}/assign", json={"member_id": cem["id"]}, headers=api.admin
    )
    assert assigned.status_code == 200 and assigned.json()["assignee"]["id"] == cem["id"], assigned.text
    await wait_open_items(api, {"Ana": 2, "Ben": 2, "Cem": 0})
    assert (await api.client.get(f"/v1/posts/{given}", headers=ana)).json()["assignee"]["name"] == "Ana"

    # Ana's shift ends: her posts go to Ben; then nobody is on shift: all unassigned; Ana back: all hers
    patched = await api.client.patch(
        f"/v1/brands/shop/members/{team['Ana']['id']}", json={"shifts": []}, headers=api.admin
    )
    assert patched.status_code == 200 and patched.json()["on_shift"] is False, patched.text
    await wait_open_items(api, {"Ana": 0, "Ben": 4, "Cem": 0})
    await api.client.patch(
        f"/v1/brands/shop/members/{team['Ben']['id']}", json={"active": False}, headers=api.admin
    )
    await wait_open_items(api, {"Ana": 0, "Ben": 0, "Cem": 0})
    assert await queue_ids(api, ana, "none") == set(post_ids)
    await api.client.patch(
        f"/v1/brands/shop/members/{team['Ana']['id']}", json={"shifts": [shift(-1, 8)]}, headers=api.admin
    )
    await wait_open_items(api, {"Ana": 4, "Ben": 0, "Cem": 0})

    # a post that leaves the queue no longer counts; an approved post cannot be assigned
    draft = (await api.wait_post(post_ids[0], ana, timeout=90))["draft"]
    approved = await api.client.post(
        f"/v1/drafts/{draft['id']}/approve", json={}, headers={**ana, "If-Match": str(draft["version"])}
    )
    assert approved.status_code == 200, approved.text
    assert (await open_items(api))["Ana"] == 3
    late = await api.client.post(
        f"/v1/posts/{post_ids[0]}/assign", json={"member_id": None}, headers=api.admin
    )
    assert late.status_code == 409

    # deleting a member unassigns their posts (the re-assignment then finds nobody else on shift)
    deleted = await api.client.delete(f"/v1/brands/shop/members/{team['Ana']['id']}", headers=api.admin)
    assert deleted.status_code == 204
    assert await queue_ids(api, ben, "none") == set(post_ids[1:])


async def test_member_input_is_checked(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop")
    await api.brand("other")
    integration_key, _ = await agent_key(api, "hook", role="integration")
    other_key, _ = await agent_key(api, "elsewhere", brands=("other",))
    agent_id, agent = await agent_key(api, "agent")

    async def refused(body: dict[str, Any], field: str, status: int = 422) -> None:
        response = await api.client.post("/v1/brands/shop/members", json=body, headers=api.admin)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text

    await refused({"name": "X", "key_id": integration_key}, "key_id")
    await refused({"name": "X", "key_id": other_key}, "key_id")
    await refused({"name": "X", "key_id": "nope"}, "key_id")
    await refused({"name": "X", "weekly_shifts": {"mon": [["09:00", "25:00"]]}}, "weekly_shifts")
    await refused({"name": "X", "weekly_shifts": {"funday": [["09:00", "10:00"]]}}, "weekly_shifts")
    await refused({"name": "X", "shifts": [shift(2, 1)]}, "shifts")
    await refused({"name": ""}, "name")
    await add_member(api, name="Agent", key_id=agent_id)
    await refused({"name": "Twice", "key_id": agent_id}, "already belongs", status=409)

    # an agent reads the team, only an admin changes it
    assert (await api.client.get("/v1/brands/shop/members", headers=agent)).status_code == 200
    assert (
        await api.client.post("/v1/brands/shop/members", json={"name": "Y"}, headers=agent)
    ).status_code == 403
    missing = await api.client.patch("/v1/brands/shop/members/nope", json={"name": "Z"}, headers=api.admin)
    assert missing.status_code == 404
    foreign = await api.client.post("/v1/brands/other/members", json={"name": "O"}, headers=api.admin)
    assert foreign.status_code == 201
    async with runtime_of(api).transaction() as session:
        session.add(
            Post(
                id="p1",
                brand_id=(await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))),
                channel="x",
                external_id="1",
                text="hi",
                status="triaged",
            )
        )
    wrong_brand = await api.client.post(
        "/v1/posts/p1/assign", json={"member_id": foreign.json()["id"]}, headers=api.admin
    )
    assert wrong_brand.status_code == 422 and wrong_brand.json()["errors"][0]["field"] == "member_id"
    assert (await api.client.post("/v1/posts/p1/assign", json={}, headers=api.admin)).status_code == 422


async def test_one_reassignment_chain_across_instances(make_client: Any) -> None:
    # Both share the database; Qdrant in memory because local mode allows one client per folder.
    settings = {"workers": 1, "qdrant_path": ":memory:", "assignment_interval_s": 600}
    first = await make_client(**settings)
    second = await make_client(**settings)
    runtime = runtime_of(first)

    async def chain() -> list[Job]:
        async with runtime.sessionmaker() as session:
            rows = await session.scalars(sa.select(Job).where(Job.kind == assignment.KIND).order_by(Job.id))
            return list(rows)

    deadline = asyncio.get_running_loop().time() + 20
    while not any(j.status == "done" for j in await chain()):
        assert asyncio.get_running_loop().time() < deadline, await chain()
        await asyncio.sleep(0.1)
    jobs = await chain()
    # both instances started a pool; one first run (done) and one next run, 10 minutes out
    assert [j.status for j in jobs] == ["done", "queued"], [(j.id, j.status) for j in jobs]
    assert jobs[1].run_at > utcnow() + timedelta(seconds=590)
    async with runtime_of(second).transaction() as session:
        assert not await periodic.ensure_scheduled(session, assignment.KIND)


async def test_forecast_from_pace_and_due_times(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", timezone="UTC")
    agent = await api.key("agent", ["shop"])
    now = utcnow()
    runtime = runtime_of(api)
    async with runtime.transaction() as session:
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        assert brand_id
        iso = lambda delta: (now + delta).isoformat()  # noqa: E731
        h = lambda n: timedelta(hours=n)  # noqa: E731
        # Ana on shift the whole window (4 h), Ben for its first 2 h: 6 staffed hours; 1 on shift now
        session.add(Member(brand_id=brand_id, name="Ana", shifts=[{"start": iso(h(-10)), "end": iso(h(10))}]))
        session.add(Member(brand_id=brand_id, name="Ben", shifts=[{"start": iso(h(-10)), "end": iso(h(-2))}]))
        # 6 approvals in the last 4 hours, 2 before: pace 6 / 6 staffed hours x 1 on shift = 1 per hour
        decided_at = [-3.5, -3, -2.5, -2, -1, -0.5, -5, -6]
        for n in range(len(decided_at)):
            session.add(
                Post(
                    id=f"done{n}",
                    brand_id=brand_id,
                    channel="x",
                    external_id=f"d{n}",
                    text="q",
                    status="approved",
                )
            )
        await session.flush()  # the drafts' posts first: no ORM relationship orders the inserts
        for n, decided in enumerate(decided_at):
            session.add(
                Draft(
                    post_id=f"done{n}",
                    text="a",
                    language="en",
                    status="approved",
                    decided_at=now + h(decided),
                )
            )
        # open, in due order: -10 min (k=1 answered +1 h: late), +30 min (+2 h: late), +1.5 h (+3 h: late),
        # +5 h (+4 h: on time), +20 h (after until); one without a due time
        for n, due in enumerate([h(-1 / 6), h(0.5), h(1.5), h(5), h(20), None]):
            session.add(
                Post(
                    id=f"open{n}",
                    brand_id=brand_id,
                    channel="x",
                    external_id=f"o{n}",
                    text="q",
                    status="drafted" if n % 2 else "triaged",
                    due_at=now + due if due else None,
                )
            )
    until = (now + h(6)).isoformat().replace("+00:00", "Z")
    response = await api.client.get("/v1/brands/shop/forecast", params={"until": until}, headers=agent)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["open"], body["with_due"], body["already_late"], body["approvals"]) == (6, 5, 1, 6)
    assert (body["pace_per_hour"], body["on_shift"], body["expected_late"]) == (1.0, 1, 3)
    # the time alone when `until` falls on today (the brand's UTC), with its date when past midnight
    late_by = now + h(6)
    when = f"{late_by:%H:%M}" if late_by.date() == now.date() else f"{late_by:%Y-%m-%d %H:%M}"
    assert body["message"] == f"at this pace 3 posts will be late by {when}"

    # a longer window takes in the older approvals and Ben's earlier hours: 8 approvals / (7 + 5) hours
    wide = await api.client.get(
        "/v1/brands/shop/forecast", params={"until": until, "window_hours": 7}, headers=agent
    )
    assert wide.json()["pace_per_hour"] == round(8 / 12, 3)
    for params in ({"until": (now - h(1)).isoformat()}, {"until": "tomorrow"}, {"window_hours": 0}):
        bad = await api.client.get("/v1/brands/shop/forecast", params=params, headers=agent)
        assert bad.status_code in (400, 422), (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
    assert (await api.client.get("/v1/brands/shop/forecast", headers=api.admin)).status_code == 200
