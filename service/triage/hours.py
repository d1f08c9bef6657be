"""Business-hours arithmetic: when is a reply due if the clock only runs while the brand is open.

Opening hours are local wall-clock times in the brand's timezone, per weekday:
``{"mon": [["08:00", "20:00"]], "sat": [["22:00", "24:00"]], ...}``.

- ``None`` instead of a dict means open 24/7; a weekday missing from the dict means closed that day.
- ``"24:00"`` ends an interval at the following midnight. An interval whose end is not after its start
  (``["22:00", "02:00"]``) runs past midnight into the next day.
- Holidays are local dates with no open time, also for an overnight interval's part that falls on them.
- Business minutes are real elapsed minutes: the night the clocks go forward has one hour less of a
  ``["00:00", "24:00"]`` day, the night they go back one more. A local time that does not exist (the
  skipped hour) is read with the offset before the switch; an ambiguous one as its first occurrence.
- A post that arrives outside opening hours, or exactly at closing time, starts the clock at the next
  opening.

The walk goes interval by interval, so a deadline costs a handful of steps, not one per minute.
"""
# Not businesstimedelta: tried, it got 22:00-02:00 and the DST night wrong; `holidays` has no brand closures.

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

# Per weekday (0 = Monday): (start, end) in minutes after local midnight, end <= 1440. An overnight
# interval is stored as its part on the day it starts plus `WeeklySchedule.overnight` for the next morning.
_DayIntervals = tuple[tuple[int, int], ...]


class WeeklySchedule:
    def __init__(self, same_day: list[_DayIntervals], overnight: list[_DayIntervals]) -> None:
        self.same_day = same_day
        # overnight[d]: morning parts that belong to day d but were opened on day d - 1
        self.overnight = overnight

    def pieces(self, day: date) -> list[tuple[int, int]]:
        weekday = day.weekday()
        merged: list[tuple[int, int]] = []
        for start, end in sorted(self.same_day[weekday] + self.overnight[weekday]):
            if merged and start <= merged[-1][1]:
                # overlapping or touching intervals are one opening, never counted twice
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def _minutes(value: str) -> int:
    match = _TIME.match(value)
    if not match:
        raise ValueError(f"bad time {value!r}: expected HH:MM between 00:00 and 24:00")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > _MINUTES_PER_DAY:
        raise ValueError(f"bad time {value!r}: after 24:00")
    return minutes


def parse_business_hours(business_hours: Mapping[str, Sequence[Sequence[str]]]) -> WeeklySchedule:
    """Validate a weekly schedule; raises ValueError on bad keys or times, or when nothing is ever open."""
    unknown = set(business_hours) - set(WEEKDAY_KEYS)
    if unknown:
        raise ValueError(f"unknown weekday keys: {sorted(unknown)}")
    same_day: list[list[tuple[int, int]]] = [[] for _ in WEEKDAY_KEYS]
    overnight: list[list[tuple[int, int]]] = [[] for _ in WEEKDAY_KEYS]
    for weekday, key in enumerate(WEEKDAY_KEYS):
        for interval in business_hours.get(key) or ():
            if len(interval) != 2:
                raise ValueError(f"{key}: an interval is [start, end], got {interval!r}")
            start, end = _minutes(interval[0]), _minutes(interval[1])
            if start == _MINUTES_PER_DAY:
                raise ValueError(f"{key}: an interval cannot start at 24:00")
            if start == end:
                raise ValueError(f"{key}: empty interval {interval!r}")
            if end > start:
                same_day[weekday].append((start, end))
            else:
                same_day[weekday].append((start, _MINUTES_PER_DAY))
                if end > 0:
                    overnight[(weekday + 1) % 7].append((0, end))
    if not any(same_day):
        raise ValueError("business hours have no open time at all")
    return WeeklySchedule([tuple(d) for d in same_day], [tuple(d) for d in overnight])


def _local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def open_intervals(
    start: datetime, zone: ZoneInfo, schedule: WeeklySchedule, holidays: frozenset[date]
) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals in UTC, in time order, from the local day before `start` onwards (endless)."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    # With a weekly schedule that has open time, only holidays can make a stretch of days closed.
    max_closed_days = len(holidays) + 8
    closed_days = 0
    while True:
        pieces = [] if day in holidays else schedule.pieces(day)
        if pieces:
            closed_days = 0
        else:
            closed_days += 1
            if closed_days > max_closed_days:
                raise ValueError("business hours have no open time after the holidays")
        for begin, end in pieces:
            begin_utc, end_utc = _local_to_utc(day, begin, zone), _local_to_utc(day, end, zone)
            if end_utc > begin_utc:  # an interval inside the skipped DST hour has no length
                yield begin_utc, end_utc
        day += timedelta(days=1)


def add_business_minutes(
    start: datetime,
    minutes: int,
    tz: str,
    business_hours: Mapping[str, Sequence[Sequence[str]]] | None,
    holidays: Sequence[date] | frozenset[date] = (),
) -> datetime:
    """The aware UTC moment `minutes` of open time after `start`."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if minutes < 0:
        raise ValueError("minutes must be >= 0")
    start_utc = start.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    if business_hours is None:
        return start_utc + remaining
    zone = ZoneInfo(tz)
    schedule = parse_business_hours(business_hours)
    for begin, end in open_intervals(start_utc, zone, schedule, frozenset(holidays)):
        # `end <= start` also skips the interval that closes exactly when the post arrives
        if end <= start_utc:
            continue
        clock_from = max(begin, start_utc)
        available = end - clock_from
        if remaining <= available:
            return clock_from + remaining
        remaining -= available
    raise AssertionError("unreachable: open_intervals never ends")  # pragma: no cover


def next_opening(
    moment: datetime,
    tz: str,
    business_hours: Mapping[str, Sequence[Sequence[str]]] | None,
    holidays: Sequence[date] | frozenset[date] = (),
) -> datetime:
    """`moment` (in UTC) when the brand is open then, else when it next opens; closing time is closed."""
    return add_business_minutes(moment, 0, tz, business_hours, holidays)


def is_open(
    moment: datetime,
    tz: str,
    business_hours: Mapping[str, Sequence[Sequence[str]]] | None,
    holidays: Sequence[date] | frozenset[date] = (),
) -> bool:
    return next_opening(moment, tz, business_hours, holidays) == moment.astimezone(UTC)
