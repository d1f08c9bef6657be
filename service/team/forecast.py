"""Breach forecast: at the team's recent pace, how many open posts will be late by a given time.

The arithmetic, in words:
1. Open items are the brand's posts in the queue (`triaged` or `drafted`); those with a due time are
   sorted by it (earliest first), which is the order agents serve the queue in.
2. Recent pace. `approvals` = drafts of the brand approved in the last `window_hours` (W). The team's
   staffed hours in that window, S, are the members' on-shift hours inside it (summed over members).
   - With a team on record (S > 0): pace per agent = approvals / S, and the pace from now is
     pace per agent x the members on shift now (`on_shift`). Nobody on shift: pace 0.
   - Without one (no members, or none on shift in the window): pace = approvals / W, the brand's own
     rate of answering, whoever answered.
   The pace is assumed to hold from now on (a shift that starts later does not raise it).
3. Serving in due order at pace p (posts per hour), the k-th item (k = 1, 2, ...) is answered at
   now + k / p hours. It is late when its due time passes before it is answered: due_k < now + k / p
   (with p = 0 no item is ever answered). `expected_late` counts the late items with due_k <= until: the
   posts that will be late by `until`. An item already past its due time now is late whatever the
   pace (it is counted, and also in `already_late`). Items due after `until` are not counted: they may
   still be late later, but not by `until`.
Example: now 12:00, p = 2/h, items due 12:20, 12:40, 13:30, 14:00: answered at 12:30, 13:00, 13:30,
14:00; late: 12:20 (< 12:30) and 12:40 (< 13:00); 13:30 and 14:00 are answered exactly when due (on
time). By until = 12:30 one post (due 12:20) is late; by 18:00, two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import Brand, Draft, Member, Post
from service.team.schemas import ForecastOut, ShiftInterval
from service.team.service import OPEN_STATUSES, on_shift
from service.triage.hours import open_intervals, parse_business_hours


@dataclass(frozen=True)
class Projection:
    expected_late: int
    already_late: int
    first_late_at: datetime | None


def project(
    now: datetime, until: datetime, due_times: Iterable[datetime], pace_per_hour: float
) -> Projection:
    """Step 3 of the module's arithmetic: serve the items in due order at the pace."""
    late = already = 0
    first: datetime | None = None
    for k, due in enumerate(sorted(due_times), start=1):
        if due > until:
            break
        if due < now:
            already += 1
        answered = now + timedelta(hours=k / pace_per_hour) if pace_per_hour > 0 else None
        if answered is None or due < answered:
            late += 1
            first = first or due
    return Projection(late, already, first)


def _overlap(a: datetime, b: datetime, start: datetime, end: datetime) -> float:
    """Hours of [a, b) inside [start, end)."""
    return max(0.0, (min(b, end) - max(a, start)).total_seconds() / 3600)


def staffed_hours(member: Member, timezone: str, start: datetime, end: datetime) -> float:
    """Hours in [start, end) the member was on shift (explicit intervals and weekly shifts; an hour in
    both counts once)."""
    if not member.active:
        return 0.0
    spans = [(s.start, s.end) for s in (ShiftInterval.model_validate(x) for x in member.shifts or [])]
    if member.weekly_shifts:
        schedule = parse_business_hours(member.weekly_shifts)
        for begin, finish in open_intervals(start, ZoneInfo(timezone), schedule, frozenset()):
            if begin >= end:
                break
            spans.append((begin, finish))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return sum(_overlap(a, b, start, end) for a, b in merged)


def pace(approvals: int, window_hours: float, staffed: float, on_shift_now: int) -> float:
    """Step 2 of the module's arithmetic."""
    if staffed > 0:
        return approvals / staffed * on_shift_now
    return approvals / window_hours


def _message(count: int, until: datetime, now: datetime, timezone: str) -> str:
    local, today = until.astimezone(ZoneInfo(timezone)), now.astimezone(ZoneInfo(timezone)).date()
    when = local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")
    noun = "post" if count == 1 else "posts"
    if count == 0:
        return f"at this pace no post will be late by {when}"
    return f"at this pace {count} {noun} will be late by {when}"


async def forecast(
    session: AsyncSession, brand: Brand, now: datetime, until: datetime, window_hours: float
) -> ForecastOut:
    due_rows: Sequence[datetime | None] = (
        await session.scalars(
            sa.select(Post.due_at).where(Post.brand_id == brand.id, Post.status.in_(OPEN_STATUSES))
        )
    ).all()
    due_times = [d.astimezone(UTC) for d in due_rows if d is not None]
    since = now - timedelta(hours=window_hours)
    approvals = int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(Draft)
            .join(Post, Post.id == Draft.post_id)
            .where(
                Post.brand_id == brand.id,
                Draft.status == "approved",
                Draft.decided_at > since,
                Draft.decided_at <= now,
            )
        )
        or 0
    )
    members = list(await session.scalars(sa.select(Member).where(Member.brand_id == brand.id)))
    staffed = sum(staffed_hours(m, brand.timezone, since, now) for m in members)
    on_shift_now = sum(1 for m in members if on_shift(m, brand.timezone, now))
    per_hour = pace(approvals, window_hours, staffed, on_shift_now)
    result = project(now, until, due_times, per_hour)
    return ForecastOut(
        now=now,
        until=until,
        open=len(due_rows),
        with_due=len(due_times),
        already_late=result.already_late,
        approvals=approvals,
        window_hours=window_hours,
        pace_per_hour=round(per_hour, 3),
        on_shift=on_shift_now,
        expected_late=result.expected_late,
        first_late_at=result.first_late_at,
        message=_message(result.expected_late, until, now, brand.timezone),
    )
