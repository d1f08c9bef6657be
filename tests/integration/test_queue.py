"""The review queue's order (due time, then priority) on SQLite and PostgreSQL, checked against the
documented formulas: influence and priority points (service/triage/priority.py), SLA minutes counted in
business hours (service/triage/hours.py), urgent posts on the wall clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.triage.hours import add_business_minutes
from service.triage.priority import decide_priority, influence_score
from tests.conftest import Api

TZ = "Europe/Berlin"
HOURS = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SLA = {"urgent": 60, "high": 240, "normal": 720, "low": 2880}
RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
QUESTION = "Hi, do you ship to Switzerland?"
COMPLAINT = "@shop My order arrived broken. Really disappointed with your service."
SAFETY = "The blender I bought from you started smoking and caught fire!"


def berlin(day: int, hour: int) -> datetime:
    return datetime(2024, 5, day, hour, 0, tzinfo=ZoneInfo(TZ))  # 6 May 2024 is a Monday


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected(triage: dict[str, Any], created: datetime, followers: int) -> tuple[str, datetime]:
    """Priority and due time as the documented formulas give them for what triage read in the post."""
    influence = influence_score(followers, False, "twitter")
    assert triage["influence"] == round(influence, 3)
    level = decide_priority(
        needs_reply=triage["needs_reply"],
        intent=triage["intent"],
        sentiment=triage["sentiment"],
        sentiment_score=triage["sentiment_score"],
        influence=influence,
        urgency=tuple(triage["urgency"]),
        followers=followers,
    ).level
    # urgent: SLA minutes on the wall clock; everything else: in business hours
    hours = None if level == "urgent" else HOURS
    return level, add_business_minutes(created, SLA[level], TZ, hours)


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

    due: dict[str, datetime] = {}
    level: dict[str, str] = {}
    for name, (_, followers, created) in posts.items():
        post = await api.wait_post(ids[name], agent)
        triage = post["triage"]
        level[name], due[name] = expected(triage, created, followers)
        assert triage["priority"] == level[name], (name, triage["reasons"])
        assert parse(triage["due_at"]) == due[name], (name, triage["due_at"], due[name])

    # What the formula says about these posts, computed above, not assumed:
    assert (level["influential_complaint"], level["old_question"]) == ("high", "normal")
    # the complaint came two hours later but is due first: 240 business minutes against 720
    assert due["influential_complaint"] < due["old_question"]
    # the same complaint at 19:00 has one business hour that day and three the next morning: the older
    # question (due Tuesday 09:00) stays ahead of it
    assert due["old_question"] < due["evening_complaint"] == berlin(7, 11)
    # equal due times: the higher priority first
    assert due["tied_complaint"] == due["old_question"] == berlin(7, 9)
    # the safety post at 23:00 does not wait for the 08:00 opening
    assert level["night_safety"] == "urgent" and due["night_safety"] == berlin(7, 0)

    order = sorted(posts, key=lambda name: (due[name], RANK[level[name]]))
    assert order == [
        "influential_complaint",
        "night_safety",
        "tied_complaint",
        "old_question",
        "evening_complaint",
    ]
    response = await api.client.get("/v1/queue", params={"brand": "shop"}, headers=agent)
    assert response.status_code == 200
    assert [item["external_id"] for item in response.json()["items"]] == order
