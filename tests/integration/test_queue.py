"""The review queue's order (due time, then priority) on SQLite and PostgreSQL, against priorities and due
times worked out by hand from the documented formulas: influence and priority points
(service/triage/priority.py), SLA minutes counted in business hours (service/triage/hours.py), urgent
posts on the wall clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api

TZ = "Europe/Berlin"
HOURS = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SLA = {"urgent": 60, "high": 240, "normal": 720, "low": 2880}
QUESTION = "Hi, do you ship to Switzerland?"
COMPLAINT = "@shop My order arrived broken. Really disappointed with your service."
SAFETY = "The blender I bought from you started smoking and caught fire!"


def berlin(day: int, hour: int) -> datetime:
    return datetime(2024, 5, day, hour, 0, tzinfo=ZoneInfo(TZ))  # 6 May 2024 is a Monday


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Worked by hand from the formulas, not by calling them. On twitter (weight 1.0):
#   influence = log10(1 + followers) / 6, influence points = round(3 * influence)
#     120 followers: log10(121) / 6 = 2.083 / 6 = 0.347 -> 1 point
#     48k followers: log10(48001) / 6 = 4.681 / 6 = 0.780 -> 2 points
#     80 followers:  log10(81) / 6 = 1.908 / 6 = 0.318 -> 1 point
#   the question: question 2 + neutral 0 + influence 1 = 3 -> normal (2..5): 720 business minutes
#   the complaint at 48k: complaint 3 + negative 1 or 2 + influence 2 = 6 or 7 -> high (6..8): 240
#   the fire: a safety signal is urgent whatever the points: 60 minutes on the wall clock
# Due times, open Monday to Friday 08:00-20:00:
EXPECTED = {
    # name: (influence, priority, due)
    "old_question": (0.347, "normal", berlin(7, 9)),  # Mon 09:00: 660 min to 20:00, 60 from Tue 08:00
    "influential_complaint": (0.78, "high", berlin(6, 15)),  # Mon 11:00 + 240 min, all on Monday
    "evening_complaint": (0.78, "high", berlin(7, 11)),  # Mon 19:00: 60 min Monday, 180 from Tue 08:00
    "tied_complaint": (0.78, "high", berlin(7, 9)),  # Mon 17:00: 180 min Monday, 60 from Tue 08:00
    "night_safety": (0.318, "urgent", berlin(7, 0)),  # Mon 23:00 + 60 wall-clock minutes, closed or not
}
# By due time; the tie at Tuesday 09:00 goes to the higher priority (high before normal).
ORDER = ["influential_complaint", "night_safety", "tied_complaint", "old_question", "evening_complaint"]


async def test_queue_orders_by_the_documented_formula(api: Api) -> None:
    await api.brand("shop", timezone=TZ, business_hours=HOURS, sla_minutes=SLA)
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    posts = {
        # name: (text, followers, created)
        "old_question": (QUESTION, 120, berlin(6, 9)),  # Monday 09:00, low influence
        "influential_complaint": (COMPLAINT, 48_000, berlin(6, 11)),  # two hours later, 48k followers
        "evening_complaint": (COMPLAINT, 48_000, berlin(6, 19)),  # one business hour left that day
        "tied_complaint": (COMPLAINT, 48_000, berlin(6, 17)),  # due when the old question is due
        "night_safety": (SAFETY, 80, berlin(6, 23)),  # urgent, after closing time
    }
    ids: dict[str, str] = {}
    for name, (text, followers, created) in posts.items():
        body = {
            "brand": "shop",
            "channel": "twitter",
            "external_id": name,
            "text": text,
            "author": {"handle": name, "followers": followers},
            "created_at": created.isoformat(),
        }
        response = await api.client.post("/v1/posts", json=body, headers=integration)
        assert response.status_code == 202, response.text
        ids[name] = response.json()["id"]

    for name in posts:
        triage = (await api.wait_post(ids[name], agent))["triage"]
        influence, priority, due = EXPECTED[name]
        assert triage["influence"] == pytest.approx(influence, abs=0.001), (name, triage["influence"])
        assert triage["priority"] == priority, (name, triage["reasons"])
        assert parse(triage["due_at"]) == due, (name, triage["due_at"], due)
    # what the hand-worked points above read in the posts
    complaint = (await api.client.get(f"/v1/posts/{ids['tied_complaint']}", headers=agent)).json()
    assert (complaint["triage"]["intent"], complaint["triage"]["sentiment"]) == ("complaint", "negative")
    question = (await api.client.get(f"/v1/posts/{ids['old_question']}", headers=agent)).json()
    assert question["triage"]["intent"] == "question" and question["triage"]["sentiment"] != "negative"

    response = await api.client.get("/v1/queue", params={"brand": "shop"}, headers=agent)
    assert response.status_code == 200
    assert [item["external_id"] for item in response.json()["items"]] == ORDER

    # filters (the console's, and /v1/queue's): a fresh post on another channel is not overdue
    fresh = {
        "brand": "shop",
        "channel": "instagram",
        "external_id": "fresh",
        "text": QUESTION,
        "author": {"handle": "f"},
    }
    response = await api.client.post("/v1/posts", json=fresh, headers=integration)
    assert response.status_code == 202, response.text
    await api.wait_post(response.json()["id"], agent)

    async def queue(**params: str) -> list[str]:
        response = await api.client.get("/v1/queue", params={"brand": "shop", **params}, headers=agent)
        assert response.status_code == 200, response.text
        return [item["external_id"] for item in response.json()["items"]]

    assert await queue(overdue="true") == ORDER
    assert await queue(channel="instagram") == ["fresh"]
    assert await queue(priority="high") == [n for n in ORDER if EXPECTED[n][1] == "high"]
    assert await queue(priority="urgent", channel="twitter") == ["night_safety"]
    assert await queue() == [*ORDER, "fresh"]  # due in the future: after every overdue post
    bad = await api.client.get("/v1/queue", params={"brand": "shop", "priority": "soon"}, headers=agent)
    assert bad.status_code in (400, 422) and "priority" in bad.text
