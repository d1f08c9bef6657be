"""Urgent posts on the wall clock, opening-time helpers, and the LLM's verdict: used only for posts the
rules leave open, never against a question or an urgency signal, and named in `decided_by`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.adapters.llm import MalformedOutput, parse_classification
from service.triage import BrandPolicy, LLMVerdict, TriageInput, Triager
from service.triage.hours import is_open, next_opening
from service.triage.models import INTENTS

TZ = ZoneInfo("Europe/Berlin")
HOURS = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SAFETY = "The blender I bought from you started smoking and caught fire!"
QUESTION = "Do you ship to Switzerland?"


def policy(**overrides: object) -> BrandPolicy:
    values: dict[str, object] = {"language": "en", "timezone": "Europe/Berlin", "business_hours": HOURS}
    values.update(overrides)
    return BrandPolicy(**values)  # type: ignore[arg-type]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=TZ)  # 6 May 2024: a Monday


def test_an_urgent_post_at_night_is_due_within_the_hour() -> None:
    result = Triager().triage(TriageInput(text=SAFETY, channel="twitter", created_at=at(6, 23)), policy())
    assert result.priority == "urgent" and "safety" in result.urgency
    assert result.due_at == at(7, 0)  # not Tuesday 09:00
    assert "around the clock (urgent" in result.reasons[-1]
    # Friday night before a closed weekend: still one hour
    friday = Triager().triage(TriageInput(text=SAFETY, channel="twitter", created_at=at(10, 22)), policy())
    assert friday.due_at == at(10, 23)


def test_a_brand_without_anyone_on_call_lets_urgent_posts_wait_for_opening() -> None:
    result = Triager().triage(
        TriageInput(text=SAFETY, channel="twitter", created_at=at(6, 23)),
        policy(urgent_around_the_clock=False),
    )
    assert result.priority == "urgent" and result.due_at == at(7, 9)
    assert result.reasons[-1].endswith("in business hours")


def test_other_priorities_keep_business_hours() -> None:
    result = Triager().triage(TriageInput(text=QUESTION, channel="twitter", created_at=at(6, 23)), policy())
    assert result.priority == "normal" and result.due_at == at(7, 20)  # 720 minutes from 08:00


def test_opening_helpers() -> None:
    assert is_open(at(6, 9), "Europe/Berlin", HOURS)
    assert not is_open(at(6, 20), "Europe/Berlin", HOURS)  # closing time is closed
    assert next_opening(at(6, 20), "Europe/Berlin", HOURS) == at(7, 8)
    assert next_opening(at(10, 21), "Europe/Berlin", HOURS) == at(13, 8)  # Friday night -> Monday
    assert next_opening(at(11, 3), "Europe/Berlin", HOURS, [at(13, 0).date()]) == at(14, 8)
    assert is_open(at(11, 3), "Europe/Berlin", None)


def test_policy_version_and_uncertainty_are_reported() -> None:
    result = Triager().triage(
        TriageInput(text="hmm, interesting 🤔", channel="twitter", created_at=at(6, 10)), policy(version=7)
    )
    assert result.uncertain and result.needs_reply and result.decided_by == "rules"
    data = result.to_dict()
    assert (data["policy_version"], data["uncertain"], data["llm"]) == (7, True, None)
    clear = Triager().triage(TriageInput(text=QUESTION, channel="twitter", created_at=at(6, 10)), policy())
    assert not clear.uncertain


def test_the_llm_decides_only_what_the_rules_leave_open() -> None:
    unclear = TriageInput(text="hmm, interesting 🤔", channel="twitter", created_at=at(6, 10))
    small_talk = LLMVerdict(intent="other", needs_reply=False, reason="chatter", model="m")
    result = Triager().triage(unclear, policy(), verdict=small_talk)
    assert (result.needs_reply, result.intent, result.decided_by) == (False, "other", "llm")
    assert result.llm == small_talk and result.to_dict()["llm"]["model"] == "m"
    assert result.priority == "low" and "decided by the LLM" in result.reasons[0]
    # a post the rules place is theirs, whatever the LLM says
    clear = TriageInput(text=QUESTION, channel="twitter", created_at=at(6, 10))
    spam = LLMVerdict(intent="spam", needs_reply=False, reason="?", model="m")
    result = Triager().triage(clear, policy(), verdict=spam)
    assert (result.needs_reply, result.intent, result.decided_by, result.llm) == (
        True,
        "question",
        "rules",
        None,
    )


def test_the_llm_cannot_silence_a_question_or_a_danger() -> None:
    unclear = TriageInput(text="hmm, interesting 🤔", channel="twitter", created_at=at(6, 10))
    odd = LLMVerdict(intent="question", needs_reply=False, reason="asks", model="m")
    assert Triager().triage(unclear, policy(), verdict=odd).needs_reply is True
    danger = TriageInput(text=SAFETY, channel="twitter", created_at=at(6, 10))
    praise = LLMVerdict(intent="praise", needs_reply=False, reason="nice", model="m")
    result = Triager().triage(danger, policy(), verdict=praise)
    assert result.needs_reply and result.priority == "urgent"
    # praise follows the brand's policy, not the LLM's taste
    thanks = Triager().triage(unclear, policy(reply_to_praise=True), verdict=praise)
    assert (thanks.intent, thanks.needs_reply) == ("praise", True)


def test_parse_classification() -> None:
    ok = parse_classification('{"intent": "Spam", "needs_reply": false, "reason": " ad "}', "m", INTENTS)
    assert (ok.label, ok.needs_reply, ok.reason, ok.model) == ("spam", False, "ad", "m")
    for bad in (
        "not json",
        "[]",
        '{"intent": "shopping", "needs_reply": true}',
        '{"intent": "question", "needs_reply": "yes"}',
    ):
        with pytest.raises(MalformedOutput):
            parse_classification(bad, "m", INTENTS)


def test_verdicts_round_trip() -> None:
    verdict = LLMVerdict(intent="other", needs_reply=False, reason="r", model="m")
    assert LLMVerdict.from_dict(verdict.to_dict()) == verdict
