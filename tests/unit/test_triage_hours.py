"""Business-hours arithmetic: midnight, weekends, holidays, DST in Europe/Berlin, 24/7, closing time."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from service.triage.hours import add_business_minutes, parse_business_hours
from service.triage.models import BrandPolicy

BERLIN = "Europe/Berlin"
TZ = ZoneInfo(BERLIN)
WEEKDAYS = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
SHOP = {**WEEKDAYS, "sat": [["10:00", "14:00"]]}  # Sunday closed
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def due(
    start: datetime,
    minutes: int,
    hours: dict[str, list[list[str]]] = SHOP,
    holidays: tuple[date, ...] = (),
) -> datetime:
    return add_business_minutes(start, minutes, BERLIN, hours, holidays)


def test_inside_hours_adds_plain_minutes_and_returns_utc() -> None:
    result = due(berlin(2024, 3, 4, 10, 0), 60)  # Monday, CET (+1)
    assert result == utc(2024, 3, 4, 10, 0)
    assert result.tzinfo is UTC


def test_clock_stops_at_closing_and_resumes_next_morning() -> None:
    # Monday 19:30: 30 minutes on Monday, 30 on Tuesday from 08:00
    assert due(berlin(2024, 3, 4, 19, 30), 60) == berlin(2024, 3, 5, 8, 30)


def test_post_in_the_night_starts_at_next_opening_across_midnight() -> None:
    assert due(berlin(2024, 3, 4, 23, 0), 15) == berlin(2024, 3, 5, 8, 15)
    assert due(berlin(2024, 3, 5, 0, 30), 15) == berlin(2024, 3, 5, 8, 15)


def test_weekend_saturday_short_day_and_closed_sunday() -> None:
    # Friday 19:00: 60 minutes Friday, 60 minutes Saturday from 10:00
    assert due(berlin(2024, 3, 8, 19, 0), 120) == berlin(2024, 3, 9, 11, 0)
    # Saturday 13:30: 30 minutes Saturday, Sunday closed, 30 minutes Monday
    assert due(berlin(2024, 3, 9, 13, 30), 60) == berlin(2024, 3, 11, 8, 30)
    # a post on Sunday waits for Monday
    assert due(berlin(2024, 3, 10, 12, 0), 5) == berlin(2024, 3, 11, 8, 5)


def test_holidays_are_skipped() -> None:
    # Monday is a holiday: Saturday 13:30 + 60 ends on Tuesday
    holidays = (date(2024, 3, 11),)
    assert due(berlin(2024, 3, 9, 13, 30), 60, holidays=holidays) == berlin(2024, 3, 12, 8, 30)
    # two holidays in a row (Christmas) after a Tuesday evening
    christmas = (date(2024, 12, 25), date(2024, 12, 26))
    assert due(berlin(2024, 12, 24, 19, 0), 120, hours=WEEKDAYS, holidays=christmas) == berlin(
        2024, 12, 27, 9, 0
    )


def test_exactly_at_closing_counts_as_closed() -> None:
    assert due(berlin(2024, 3, 4, 20, 0), 0) == berlin(2024, 3, 5, 8, 0)
    assert due(berlin(2024, 3, 4, 20, 0), 10) == berlin(2024, 3, 5, 8, 10)
    # exactly at opening counts as open
    assert due(berlin(2024, 3, 5, 8, 0), 10) == berlin(2024, 3, 5, 8, 10)
    # the last minutes end exactly at closing time
    assert due(berlin(2024, 3, 4, 19, 0), 60) == berlin(2024, 3, 4, 20, 0)


def test_dst_spring_forward_berlin() -> None:
    # 2024-03-31 02:00 CET -> 03:00 CEST: that Sunday has 23 hours of "00:00-24:00"
    sunday_only = {"sun": [["00:00", "24:00"]]}
    start = berlin(2024, 3, 31, 0, 0)
    assert start.utcoffset() == timedelta(hours=1)
    assert due(start, 23 * 60, hours=sunday_only) == utc(2024, 3, 31, 22, 0)  # Monday 00:00 CEST
    assert due(start, 23 * 60 + 1, hours=sunday_only) == berlin(2024, 4, 7, 0, 1)
    # all-day schedule through the switch: three real hours from Saturday 23:00 CET
    assert due(berlin(2024, 3, 30, 23, 0), 180, hours=ALL_DAY) == utc(2024, 3, 31, 1, 0)
    # opening after the switch is 08:00 local summer time (06:00 UTC, not 07:00)
    assert due(berlin(2024, 3, 30, 13, 30), 60) == utc(2024, 4, 1, 6, 30)


def test_dst_fall_back_berlin() -> None:
    # 2024-10-27 03:00 CEST -> 02:00 CET: that Sunday has 25 hours
    sunday_only = {"sun": [["00:00", "24:00"]]}
    start = berlin(2024, 10, 27, 0, 0)
    assert start.utcoffset() == timedelta(hours=2)
    assert due(start, 25 * 60, hours=sunday_only) == utc(2024, 10, 27, 23, 0)  # Monday 00:00 CET
    assert due(start, 24 * 60, hours=sunday_only) == utc(2024, 10, 27, 22, 0)  # Sunday 23:00 CET
    # Saturday 13:30 CEST + 60: Monday opens 08:00 CET = 07:00 UTC
    assert due(berlin(2024, 10, 26, 13, 30), 60) == utc(2024, 10, 28, 7, 30)


def test_always_open_brand_is_wall_clock() -> None:
    start = berlin(2024, 3, 30, 23, 0)
    assert add_business_minutes(start, 180, BERLIN, None, ()) == start.astimezone(UTC) + timedelta(hours=3)
    # holidays mean nothing to a 24/7 brand
    assert add_business_minutes(start, 0, BERLIN, None, (date(2024, 3, 30),)) == start.astimezone(UTC)


def test_intervals_running_into_midnight() -> None:
    # An opening past midnight, as two intervals or as one that ends after midnight (the brand API
    # accepts both: tests/integration/test_contract.py); both forms must give the same deadlines.
    two = {"sat": [["22:00", "24:00"]], "sun": [["00:00", "02:00"]]}
    overnight = {"sat": [["22:00", "02:00"]]}
    for late in (two, overnight):
        _late_cases(late)


def _late_cases(late: dict[str, list[list[str]]]) -> None:
    assert due(berlin(2024, 3, 9, 23, 30), 60, hours=late) == berlin(2024, 3, 10, 0, 30)
    # Sunday 02:00 is its closing time: the next opening is next Saturday 22:00
    assert due(berlin(2024, 3, 10, 2, 0), 0, hours=late) == berlin(2024, 3, 16, 22, 0)
    # a holiday on Sunday cuts the part after midnight: 30 minutes on Saturday, 30 a week later
    assert due(berlin(2024, 3, 9, 23, 30), 60, hours=late, holidays=(date(2024, 3, 10),)) == berlin(
        2024, 3, 16, 22, 30
    )


def test_overlapping_intervals_are_not_counted_twice() -> None:
    overlapping = {"mon": [["08:00", "12:00"], ["10:00", "14:00"]]}
    assert due(berlin(2024, 3, 4, 8, 0), 6 * 60, hours=overlapping) == berlin(2024, 3, 4, 14, 0)
    assert due(berlin(2024, 3, 4, 8, 0), 6 * 60 + 1, hours=overlapping) == berlin(2024, 3, 11, 8, 1)


def test_start_in_another_timezone() -> None:
    new_york = datetime(2024, 3, 4, 4, 0, tzinfo=ZoneInfo("America/New_York"))  # 10:00 in Berlin
    assert due(new_york, 30) == berlin(2024, 3, 4, 10, 30)


def test_no_open_hours_at_all_raises() -> None:
    with pytest.raises(ValueError, match="no open time"):
        add_business_minutes(berlin(2024, 3, 4, 10, 0), 10, BERLIN, {}, ())
    with pytest.raises(ValueError, match="no open time"):
        add_business_minutes(berlin(2024, 3, 4, 10, 0), 10, BERLIN, {"mon": [], "sun": []}, ())
    with pytest.raises(ValueError):
        BrandPolicy(language="de", timezone=BERLIN, business_hours={})


@pytest.mark.parametrize(
    "hours",
    [
        {"mon": [["08:00", "25:00"]]},
        {"mon": [["8", "20:00"]]},
        {"mon": [["24:00", "02:00"]]},
        {"mon": [["10:00", "10:00"]]},
        {"monday": [["08:00", "20:00"]]},
        {"mon": [["08:00"]]},
    ],
)
def test_bad_schedules_raise(hours: dict[str, list[list[str]]]) -> None:
    with pytest.raises(ValueError):
        parse_business_hours(hours)


def test_naive_start_and_negative_minutes_raise() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(datetime(2024, 3, 4, 10, 0), 10, BERLIN, SHOP, ())
    with pytest.raises(ValueError):
        add_business_minutes(berlin(2024, 3, 4, 10, 0), -1, BERLIN, SHOP, ())


def test_long_deadlines_jump_interval_by_interval() -> None:
    started = time.perf_counter()
    # 52 weeks of a 64-hour week: a minute-by-minute walk would take ~500k steps
    result = due(berlin(2024, 1, 1, 8, 0), 52 * 64 * 60, hours=SHOP)
    assert time.perf_counter() - started < 0.5
    assert result == berlin(2024, 12, 28, 14, 0)  # Saturday closing, 52 weeks on
