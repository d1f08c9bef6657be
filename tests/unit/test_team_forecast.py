"""The breach forecast's arithmetic (service/team/forecast.py), with numbers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.models import Member
from service.team.forecast import _message, pace, project, staffed_hours

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def at(hh_mm: str) -> datetime:
    hours, minutes = map(int, hh_mm.split(":"))
    return NOON.replace(hour=hours, minute=minutes)


def test_the_module_example() -> None:
    # pace 2/h: answered at 12:30, 13:00, 13:30, 14:00; 12:20 < 12:30 and 12:40 < 13:00 are late,
    # 13:30 and 14:00 are answered exactly when due (on time)
    due = [at("12:40"), at("14:00"), at("12:20"), at("13:30")]
    by_evening = project(NOON, at("18:00"), due, 2.0)
    assert (by_evening.expected_late, by_evening.already_late) == (2, 0)
    assert by_evening.first_late_at == at("12:20")
    assert project(NOON, at("12:30"), due, 2.0).expected_late == 1  # only 12:20 is due by 12:30


def test_overdue_items_are_late_whatever_the_pace() -> None:
    # at 60/h the k-th in due order is answered at 12:00 + k minutes: 11:00 (12:01) and 11:30 (12:02)
    # are overdue already; 12:02 is answered 12:03 (late); 12:10 is answered 12:04 (on time)
    due = [at("11:30"), at("12:10"), at("11:00"), at("12:02")]
    result = project(NOON, at("13:00"), due, 60.0)
    assert (result.expected_late, result.already_late, result.first_late_at) == (3, 2, at("11:00"))


def test_no_pace_means_everything_due_by_until_is_late() -> None:
    due = [at("12:05"), at("15:00"), at("19:00")]
    assert project(NOON, at("18:00"), due, 0.0).expected_late == 2  # 19:00 is not due by 18:00


def test_fourteen_of_twenty_late_by_six() -> None:
    # 20 posts due every 15 minutes from 12:15 to 17:00; pace 1.5/h: the k-th is answered at
    # 12:00 + 40k minutes. Due 12:00 + 15k < 12:00 + 40k for every k >= 1: all 20 are late, and all are
    # due by 18:00. By 14:00 (due k = 1..8) eight are late.
    due = [NOON + timedelta(minutes=15 * k) for k in range(1, 21)]
    assert project(NOON, at("18:00"), due, 1.5).expected_late == 20
    assert project(NOON, at("14:00"), due, 1.5).expected_late == 8
    # at 6/h the k-th is answered at 12:00 + 10k min: always before 12:00 + 15k: none late
    assert project(NOON, at("18:00"), due, 6.0).expected_late == 0


def test_pace_per_staffed_hour_times_on_shift_now() -> None:
    # 12 approvals in 4 h with 2 members on shift the whole time: 8 staffed hours -> 1.5 per agent-hour;
    # 3 on shift now -> 4.5/h. Without a team on record: 12 / 4 = 3/h.
    assert pace(12, 4.0, 8.0, 3) == 4.5
    assert pace(12, 4.0, 0.0, 0) == 3.0
    assert pace(12, 4.0, 8.0, 0) == 0.0


def test_staffed_hours_merge_weekly_and_explicit_shifts() -> None:
    member = Member(
        name="Ana",
        active=True,
        # Monday 09:00-13:00 in Berlin (UTC+1 in March before DST): 08:00-12:00 UTC
        weekly_shifts={"mon": [["09:00", "13:00"]]},
        # 11:00-14:00 UTC overlaps the weekly shift for an hour (counted once)
        shifts=[{"start": "2026-03-02T11:00:00Z", "end": "2026-03-02T14:00:00Z"}],
    )
    # window 08:00-12:00 UTC: weekly 08-12 (4 h) merged with explicit 11-12 -> 4 h
    assert staffed_hours(member, "Europe/Berlin", at("08:00"), NOON) == 4.0
    # window 10:00-15:00 UTC: 10-14 merged -> 4 h
    assert staffed_hours(member, "Europe/Berlin", at("10:00"), at("15:00")) == 4.0
    member.active = False
    assert staffed_hours(member, "Europe/Berlin", at("08:00"), NOON) == 0.0


def test_the_message_names_the_date_once_until_is_past_the_brands_midnight() -> None:
    now = datetime(2026, 12, 2, 18, 34, tzinfo=UTC)
    assert _message(3, now + timedelta(hours=5), now, "UTC") == "at this pace 3 posts will be late by 23:34"
    assert (
        _message(3, now + timedelta(hours=6), now, "UTC")
        == "at this pace 3 posts will be late by 2026-12-03 00:34"
    )
    # the brand's own clock decides what "today" is: 00:34 UTC is still the 2nd in New York (19:34)
    assert (
        _message(1, now + timedelta(hours=6), now, "America/New_York")
        == "at this pace 1 post will be late by 19:34"
    )
    assert _message(0, now, now, "UTC") == "at this pace no post will be late by 18:34"
