"""The console's analytics, knowledge gaps, team (with the forecast, the queue's "assigned to me" and the
claim button), feeds and delivery log pages over HTTP, on SQLite and PostgreSQL: each page shows the
figures of a seeded fixture, its forms work with the CSRF token (and fail without it), bad input is a
4xx naming the field, and an agent is refused on the admin pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from service.models import Brand, Draft, Post, utcnow
from service.worker import WorkerPool
from tests.conftest import ADMIN_KEY, Api
from tests.fakes.receiver import WebhookReceiver
from tests.integration.test_analytics import GAPS, runtime_of, seed, triage
from tests.integration.test_console import csrf, sign_in


async def agent(api: Api, name: str = "agent") -> tuple[str, str]:
    """A new agent key for brand shop: (its id, its secret)."""
    response = await api.client.post(
        "/v1/api-keys", json={"name": name, "role": "agent", "brands": ["shop"]}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), str(response.json()["key"])


def cell(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def bars(html: str, chart: str) -> dict[str, str]:
    """label -> drawn width of each bar of one SVG chart."""
    svg = html.split(f'id="{chart}"', 1)[1].split("</svg>", 1)[0]
    return dict(re.findall(r'class="label">([^<]+)</text>\s*<rect x="100" y="\d+" width="([\d.]+)"', svg))


async def test_analytics_page_shows_the_figures_and_draws_the_charts(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", timezone="Europe/Berlin")
    await seed(runtime_of(api))  # the fixture whose figures test_analytics.py works out by hand
    _, key = await agent(api)
    client = api.client
    await sign_in(client, key)

    page = await client.get("/console/analytics?brand=shop&from=2026-03-02&to=2026-03-03")
    assert page.status_code == 200, page.text
    html = page.text
    assert (cell(html, "posts-in"), cell(html, "answered"), cell(html, "sla-breaches")) == (
        "9",
        "4 (67 %)",
        "3",
    )
    assert cell(html, "needs-reply") == "6 (67 %)"
    assert (cell(html, "approved-unchanged"), cell(html, "approved-edited"), cell(html, "rejected")) == (
        "2",
        "2",
        "1",
    )
    assert cell(html, "first-reply") == "45.0 / 120.0 min"
    assert cell(html, "edit-distance") == "4.0"
    # intents as bars, the most frequent the full width (480), the others in proportion
    assert bars(html, "intent-chart") == {"question": "480.0", "complaint": "240.0", "praise": "120.0",
                                          "spam": "120.0"}  # fmt: skip
    # p50 45 and p90 120 minutes on a scale up to the normal SLA (720): lines at urgent 60, high 240
    assert bars(html, "reply-chart") == {"p50": "30.0", "p90": "80.0"}
    lines = re.findall(r'<line x1="([\d.]+)"', html)
    assert lines == ["140.0", "260.0", "580.0"]  # 100 + 480 * 60/720, 240/720, 720/720; low (2880) off scale
    assert "Checkout outage" in html and "FAQ-1" in html
    assert 'value="2026-03-02"' in html and 'value="2026-03-03"' in html
    assert "<script>" not in html and "style=" not in html  # the CSP allows neither inline

    # the default period is the last 7 days; German text for a German browser
    default = await client.get("/console/analytics?brand=shop", headers={"accept-language": "de"})
    assert default.status_code == 200 and "Eingegangene Beiträge" in default.text
    to = re.search(r'name="to" value="([\d-]+)"', default.text)
    since = re.search(r'name="from" value="([\d-]+)"', default.text)
    assert to and since
    assert (utcnow().date() - timedelta(days=1)).isoformat() <= to.group(1)
    assert int(to.group(1).replace("-", "")) > int(since.group(1).replace("-", ""))

    # a period backwards, or a malformed date, is a 422 naming `from`
    backwards = await client.get("/console/analytics?brand=shop&from=2026-03-05&to=2026-03-01")
    assert backwards.status_code == 422 and "from:" in backwards.text
    malformed = await client.get("/console/analytics?brand=shop&from=yesterday")
    assert malformed.status_code == 422 and "from" in malformed.text
    # another brand's figures are not this agent's
    await api.brand("other")
    assert (await client.get("/console/analytics?brand=other")).status_code == 403

    await sign_in(client, ADMIN_KEY)  # admins read it too
    admin_page = await client.get("/console/analytics?brand=shop&from=2026-03-02&to=2026-03-03")
    assert admin_page.status_code == 200 and cell(admin_page.text, "posts-in") == "9"


async def test_knowledge_gaps_page_lists_groups_most_frequent_first(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", language="de")
    runtime = runtime_of(api)
    now = utcnow()
    texts = [*GAPS["password"], *GAPS["paypal"]]  # 3 and 4 paraphrases, English and German
    async with runtime.transaction() as session:
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        for i, text in enumerate(texts):
            session.add(Post(id=f"g{i}", brand_id=brand_id, channel="twitter", external_id=f"g{i}", text=text,
                             status="drafted", posted_at=now - timedelta(hours=i),
                             triage=triage("question", True)))  # fmt: skip
        await session.flush()
        for i in range(len(texts)):
            session.add(Draft(post_id=f"g{i}", text="t", language="en", flags=["no_knowledge"]))
    _, key = await agent(api)
    await sign_in(api.client, key)

    page = await api.client.get("/console/gaps?brand=shop")
    assert page.status_code == 200, page.text
    rows = page.text.split('<tr class="gap">')[1:]
    assert [re.search(r'class="gap-posts">(\d+)<', r).group(1) for r in rows] == ["4", "3"]  # type: ignore[union-attr]
    linked = [set(re.findall(r'href="/console/posts/(g\d+)"', r)) for r in rows]
    assert linked == [{"g3", "g4", "g5", "g6"}, {"g0", "g1", "g2"}]
    assert "PayPal" in rows[0] and "password" in rows[1]
    # a window of no days is bad input naming it
    days = await api.client.get("/console/gaps?brand=shop&days=0")
    assert days.status_code == 422 and "days" in days.text
    deutsch = await api.client.get("/console/gaps?brand=shop", headers={"accept-language": "de"})
    assert "Wissenslücken" in deutsch.text


async def test_team_page_claim_and_assigned_to_me(make_client: Any) -> None:
    # a long re-assignment interval: the only assignment below is the claim
    api = await make_client(assignment_interval_s=3600)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    client = api.client
    kim_id, kim = await agent(api, "kim")

    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/team?brand=shop")
    assert page.status_code == 200, page.text
    assert "No team members yet." in page.text
    assert "at this pace no post will be late by" in page.text  # the forecast's message
    token = csrf(page.text)
    form = {"name": "Kim", "key_id": kim_id, "weekly_shifts": "", "shifts": "", "active": "true"}
    assert (await client.post("/console/team/shop/members", data=form)).status_code == 403  # no CSRF token
    bad = await client.post(
        "/console/team/shop/members", data={**form, "weekly_shifts": "{", "_csrf_token": token}
    )
    assert bad.status_code == 422 and "weekly_shifts" in bad.text
    bad_key = await client.post(
        "/console/team/shop/members", data={**form, "key_id": "nope", "_csrf_token": token}
    )
    assert bad_key.status_code == 422 and "key_id" in bad_key.text
    added = await client.post("/console/team/shop/members", data={**form, "_csrf_token": token})
    assert added.status_code == 303 and "notice=member_added" in added.headers["location"]
    members = (await client.get("/v1/brands/shop/members", headers=api.admin)).json()["items"]
    [member] = members
    assert (member["name"], member["key_id"], member["active"], member["on_shift"]) == (
        "Kim",
        kim_id,
        True,
        False,
    )
    page = await client.get("/console/team?brand=shop")
    assert 'value="Kim"' in page.text and "off shift" in page.text
    edited = await client.post(
        f"/console/team/shop/members/{member['id']}",
        data={**form, "name": "Kim Lee", "_csrf_token": csrf(page.text)},
    )
    assert edited.status_code == 303, edited.text
    [member] = (await client.get("/v1/brands/shop/members", headers=api.admin)).json()["items"]
    assert member["name"] == "Kim Lee"

    # nobody on shift: the post stays unassigned until Kim claims it
    post_id = await api.send_post(integration, "c1", "Where is my order? It has not arrived.")
    await api.wait_post(post_id, integration, timeout=90)
    await sign_in(client, kim)
    mine = await client.get("/console/queue?brand=shop&assignee=me")
    assert mine.status_code == 200 and post_id not in mine.text and "Nothing waiting" in mine.text
    unassigned = await client.get("/console/queue?brand=shop&assignee=none")
    assert f'data-post-id="{post_id}"' in unassigned.text
    assert (await client.get("/console/queue?brand=shop&assignee=bob")).status_code == 422
    post_page = await client.get(f"/console/posts/{post_id}")
    assert 'id="claim"' in post_page.text and "unassigned" in post_page.text
    claimed = await client.post(f"/console/posts/{post_id}/claim", data={"_csrf_token": csrf(post_page.text)})
    assert claimed.status_code == 303 and "notice=claimed" in claimed.headers["location"]
    post_page = await client.get(claimed.headers["location"])
    assert 'id="claim"' not in post_page.text and '<span class="assignee">Kim Lee</span>' in post_page.text
    mine = await client.get("/console/queue?brand=shop&assignee=me")
    assert f'data-post-id="{post_id}"' in mine.text and '<td class="assignee">Kim Lee</td>' in mine.text
    rows = await client.get("/console/queue/rows?brand=shop&assignee=me")
    assert f'data-post-id="{post_id}"' in rows.text
    assert post_id not in (await client.get("/console/queue?brand=shop&assignee=none")).text
    assert (await api.client.get(f"/v1/posts/{post_id}", headers=integration)).json()["assignee"][
        "name"
    ] == "Kim Lee"

    # an agent is refused on the admin pages and their forms
    for path in ("/console/team", "/console/feeds", "/console/brand"):
        assert (await client.get(path)).status_code == 403, path
    token = csrf(post_page.text)
    refused = await client.post(
        f"/console/team/shop/members/{member['id']}/delete", data={"_csrf_token": token}
    )
    assert refused.status_code == 403

    # the admin removes Kim: the post is unassigned again
    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/team?brand=shop")
    removed = await client.post(
        f"/console/team/shop/members/{member['id']}/delete", data={"_csrf_token": csrf(page.text)}
    )
    assert removed.status_code == 303 and "notice=member_removed" in removed.headers["location"]
    assert (await api.client.get(f"/v1/posts/{post_id}", headers=integration)).json()["assignee"] is None


async def test_feeds_page_adds_lists_and_deletes(make_client: Any) -> None:
    api = await make_client(workers=0)  # nothing polls: the page shows what was stored
    await api.brand("shop")
    client = api.client
    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/feeds?brand=shop")
    assert page.status_code == 200 and "No feeds yet." in page.text
    token = csrf(page.text)
    url = "https://forum.example.com/latest.atom"
    assert (await client.post("/console/feeds/shop", data={"url": url})).status_code == 403  # no CSRF token
    slow = await client.post(
        "/console/feeds/shop", data={"url": url, "interval_s": "5", "_csrf_token": token}
    )
    assert slow.status_code == 422 and "interval_s" in slow.text
    private = await client.post(
        "/console/feeds/shop", data={"url": "http://10.1.2.3/f.xml", "_csrf_token": token}
    )
    assert private.status_code == 422 and "url" in private.text
    added = await client.post(
        "/console/feeds/shop", data={"url": url, "interval_s": "600", "_csrf_token": token}
    )
    assert added.status_code == 303 and "notice=feed_added" in added.headers["location"]
    [feed] = (await client.get("/v1/brands/shop/feeds", headers=api.admin)).json()["items"]
    assert (feed["url"], feed["interval_s"], feed["channel"]) == (url, 600, "forum")
    page = await client.get("/console/feeds?brand=shop")
    assert f"<code>{url}</code>" in page.text and '<td class="feed-interval">600 s</td>' in page.text
    again = await client.post("/console/feeds/shop", data={"url": url, "_csrf_token": token})
    assert again.status_code == 409

    _, key = await agent(api)
    await sign_in(client, key)
    queue = await client.get("/console/queue")
    refused = await client.post(
        f"/console/feeds/shop/{feed['id']}/delete", data={"_csrf_token": csrf(queue.text)}
    )
    assert refused.status_code == 403

    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/feeds?brand=shop")
    deleted = await client.post(
        f"/console/feeds/shop/{feed['id']}/delete", data={"_csrf_token": csrf(page.text)}
    )
    assert deleted.status_code == 303
    assert (await client.get("/v1/brands/shop/feeds", headers=api.admin)).json()["items"] == []
    assert "No feeds yet." in (await client.get("/console/feeds?brand=shop")).text


async def _run_all(api: Api) -> None:
    pool = WorkerPool(runtime_of(api), 0)
    while await pool.run_once():
        pass


async def test_delivery_log_on_the_brand_page_and_replay(make_client: Any, receiver: WebhookReceiver) -> None:
    # a retry waits 0..30 s: never due within the first _run_all (with a 1 s base it could be)
    api = await make_client(workers=0, job_backoff_base_s=30.0, job_backoff_cap_s=30.0)
    await api.brand("shop", webhook={"url": receiver.url})
    client = api.client
    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/brand?brand=shop")
    assert "No deliveries yet." in page.text
    sent = await client.post("/console/brand/shop/test-webhook", data={"_csrf_token": csrf(page.text)})
    assert sent.status_code == 303
    receiver.statuses = [500, 200]
    await _run_all(api)  # one attempt, answered 500: pending, retried later
    [delivery] = (await client.get("/v1/brands/shop/deliveries", headers=api.admin)).json()["items"]
    page = await client.get("/console/brand?brand=shop")
    row = page.text.split(f'data-delivery-id="{delivery["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "pending" in row and '<td class="delivery-attempts">1</td>' in row
    assert '<td class="delivery-code">500</td>' in row and "Replay" not in row  # pending: queued already

    async with runtime_of(api).transaction() as session:  # its retry is due now
        await session.execute(
            sa.text("UPDATE jobs SET run_at = :now WHERE status = 'queued'"), {"now": utcnow()}
        )
    await _run_all(api)
    page = await client.get("/console/brand?brand=shop")
    row = page.text.split(f'data-delivery-id="{delivery["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "delivered" in row and '<td class="delivery-attempts">2</td>' in row
    assert '<td class="delivery-code">200</td>' in row and "webhook.test" in row
    replayed = await client.post(
        f"/console/deliveries/{delivery['id']}/replay", data={"brand": "shop", "_csrf_token": csrf(page.text)}
    )
    assert replayed.status_code == 303 and "notice=replayed" in replayed.headers["location"]
    [after] = (await client.get("/v1/brands/shop/deliveries", headers=api.admin)).json()["items"]
    assert after["status"] == "pending" and after["replayed_at"] is not None
    await _run_all(api)
    deliveries = await receiver.wait_for_async(3)
    ids = {v for d in deliveries for k, v in d["headers"].items() if k.lower() == "webhook-id"}
    assert len(ids) == 1  # the same event each time, the same webhook-id
    german = await client.get("/console/brand?brand=shop", headers={"accept-language": "de"})
    assert "Zustellprotokoll" in german.text

    _, key = await agent(api)
    await sign_in(client, key)
    queue = await client.get("/console/queue")
    refused = await client.post(
        f"/console/deliveries/{delivery['id']}/replay", data={"_csrf_token": csrf(queue.text)}
    )
    assert refused.status_code == 403
