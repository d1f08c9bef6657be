"""Team members and who works on which post.

Rules, in words:
- A member is on shift at a moment when it falls in one of their weekly shifts (local times in the
  brand's timezone, the business-hours format of triage/hours.py: overnight spans, 24:00, DST) or in one
  of their explicit shift intervals, and the member is active. No shifts at all: never on shift.
- A new post that needs a reply is assigned when its triage is stored (in that transaction, which holds
  the brand's row lock, so two posts never race for the same member): to the on-shift member with the
  fewest open items (posts `triaged` or `drafted` assigned to them); ties go to the member assigned
  least recently (never assigned first), then by id. Nobody on shift: the post stays unassigned.
- An agent claims a post for themselves (their key is a member's `key_id`); an admin assigns any member
  of the post's brand, or none.
- The periodic re-assignment (team/assignment.py) moves open posts of members who are off shift to
  on-shift members by the same rule (or unassigns them when nobody is on shift) and assigns unassigned
  open posts once somebody is on shift, most urgent first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.keys import Principal
from service.errors import Conflict, InvalidInput, NotFound
from service.models import ApiKey, Brand, Member, Post, utcnow
from service.team.schemas import AssigneeOut, MemberIn, MemberOut, MemberPatch, ShiftInterval
from service.triage.hours import is_open

OPEN_STATUSES = ("triaged", "drafted")
_NEVER = datetime.min.replace(tzinfo=None)


def on_shift(member: Member, timezone: str, at: datetime) -> bool:
    if not member.active:
        return False
    for interval in member.shifts or []:
        shift = ShiftInterval.model_validate(interval)
        if shift.start <= at < shift.end:
            return True
    return bool(member.weekly_shifts) and is_open(at, timezone, member.weekly_shifts)


async def brand_for(session: AsyncSession, principal: Principal, slug: str, *, lock: bool = False) -> Brand:
    principal.ensure_brand(slug)
    query = sa.select(Brand).where(Brand.slug == slug)
    brand = await session.scalar(query.with_for_update() if lock else query)
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    return brand


async def open_counts(session: AsyncSession, brand_id: str) -> dict[str, int]:
    rows = await session.execute(
        sa.select(Post.assignee_id, sa.func.count())
        .where(Post.brand_id == brand_id, Post.status.in_(OPEN_STATUSES), Post.assignee_id.is_not(None))
        .group_by(Post.assignee_id)
    )
    return {str(member_id): int(count) for member_id, count in rows.all()}


async def members_of(session: AsyncSession, brand_id: str) -> list[Member]:
    return list(
        await session.scalars(sa.select(Member).where(Member.brand_id == brand_id).order_by(Member.id))
    )


def member_out(member: Member, timezone: str, counts: dict[str, int], at: datetime) -> MemberOut:
    return MemberOut(
        id=member.id,
        name=member.name,
        key_id=member.key_id,
        weekly_shifts=member.weekly_shifts,
        shifts=[ShiftInterval.model_validate(s) for s in member.shifts or []],
        active=member.active,
        on_shift=on_shift(member, timezone, at),
        open_items=counts.get(member.id, 0),
        last_assigned_at=member.last_assigned_at,
    )


async def _check_key(session: AsyncSession, brand: Brand, key_id: str | None) -> None:
    if key_id is None:
        return
    key = await session.get(ApiKey, key_id)
    problem = None
    if key is None or key.revoked_at is not None:
        problem = "no such API key (or it is revoked)"
    elif key.role not in ("agent", "admin"):
        problem = f"a member's key is an agent (or admin) key, not '{key.role}'"
    elif "*" not in key.brands and brand.slug not in key.brands:
        problem = f"the key is not scoped to brand '{brand.slug}'"
    if problem:
        raise InvalidInput(f"key_id: {problem}", errors=[{"field": "key_id", "message": problem}])


def _dump_shifts(shifts: Iterable[ShiftInterval]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in shifts]


async def _flush_unique(session: AsyncSession, key_id: str | None) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"key '{key_id}' already belongs to another member of this brand") from exc


async def create_member(session: AsyncSession, principal: Principal, slug: str, data: MemberIn) -> MemberOut:
    brand = await brand_for(session, principal, slug)
    await _check_key(session, brand, data.key_id)
    member = Member(
        brand_id=brand.id,
        name=data.name,
        key_id=data.key_id,
        weekly_shifts=data.weekly_shifts,
        shifts=_dump_shifts(data.shifts),
        active=data.active,
    )
    session.add(member)
    await _flush_unique(session, data.key_id)
    return member_out(member, brand.timezone, {}, utcnow())


async def list_members(session: AsyncSession, principal: Principal, slug: str) -> list[MemberOut]:
    brand = await brand_for(session, principal, slug)
    counts, now = await open_counts(session, brand.id), utcnow()
    return [member_out(m, brand.timezone, counts, now) for m in await members_of(session, brand.id)]


async def _member(session: AsyncSession, brand: Brand, member_id: str) -> Member:
    member = await session.get(Member, member_id)
    if member is None or member.brand_id != brand.id:
        raise NotFound(f"no member '{member_id}' in brand '{brand.slug}'")
    return member


async def patch_member(
    session: AsyncSession, principal: Principal, slug: str, member_id: str, data: MemberPatch
) -> MemberOut:
    brand = await brand_for(session, principal, slug)
    member = await _member(session, brand, member_id)
    fields = data.model_fields_set
    if "name" in fields and data.name is not None:
        member.name = data.name
    if "key_id" in fields:
        await _check_key(session, brand, data.key_id)
        member.key_id = data.key_id
    if "weekly_shifts" in fields:
        member.weekly_shifts = data.weekly_shifts
    if "shifts" in fields:
        member.shifts = _dump_shifts(data.shifts or [])
    if "active" in fields and data.active is not None:
        member.active = data.active
    await _flush_unique(session, member.key_id)
    return member_out(member, brand.timezone, await open_counts(session, brand.id), utcnow())


async def delete_member(session: AsyncSession, principal: Principal, slug: str, member_id: str) -> None:
    """The member's open posts become unassigned (the foreign key's ON DELETE SET NULL; also said here,
    for SQLite connections without foreign keys) and the next re-assignment hands them on."""
    brand = await brand_for(session, principal, slug, lock=True)
    member = await _member(session, brand, member_id)
    await session.execute(
        sa.update(Post).where(Post.assignee_id == member.id).values(assignee_id=None, assigned_at=None)
    )
    await session.delete(member)


@dataclass
class _Candidate:
    member: Member
    open_items: int

    def key(self) -> tuple[int, datetime, str]:
        last = self.member.last_assigned_at
        return (self.open_items, last.replace(tzinfo=None) if last else _NEVER, self.member.id)


class Roster:
    """The brand's on-shift members and their open items at one moment, for a run of assignments."""

    def __init__(self, members: Sequence[Member], counts: dict[str, int], timezone: str, at: datetime):
        self.at = at
        self.members = {m.id: m for m in members}
        self.on_shift = {m.id for m in members if on_shift(m, timezone, at)}
        self._candidates = [_Candidate(m, counts.get(m.id, 0)) for m in members if m.id in self.on_shift]

    @classmethod
    async def load(cls, session: AsyncSession, brand: Brand, at: datetime | None = None) -> Roster:
        return cls(
            await members_of(session, brand.id),
            await open_counts(session, brand.id),
            brand.timezone,
            at or utcnow(),
        )

    def assign(self, post: Post) -> Member | None:
        """Give the post to the on-shift member with the fewest open items (see the module's rules)."""
        if not self._candidates:
            _set(post, None, self.at)
            return None
        chosen = min(self._candidates, key=_Candidate.key)
        self._release(post)
        chosen.open_items += 1
        chosen.member.last_assigned_at = self.at
        _set(post, chosen.member, self.at)
        return chosen.member

    def _release(self, post: Post) -> None:
        for candidate in self._candidates:
            if candidate.member.id == post.assignee_id and candidate.open_items:
                candidate.open_items -= 1


def _set(post: Post, member: Member | None, at: datetime) -> None:
    post.assignee_id = member.id if member else None
    post.assigned_at = at if member else None


async def assign_new(session: AsyncSession, brand: Brand, post: Post) -> Member | None:
    """At triage end, in the workflow's transaction (which holds the brand's row lock)."""
    return (await Roster.load(session, brand)).assign(post)


async def _open_post(session: AsyncSession, principal: Principal, post_id: str) -> tuple[Post, Brand]:
    row = (
        await session.execute(
            sa.select(Post, Brand).join(Brand, Brand.id == Post.brand_id).where(Post.id == post_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no post '{post_id}'")
    post, brand = row
    principal.ensure_brand(brand.slug)
    # the lock order of every writer that takes both: the brand's row, then the post's
    await session.refresh(brand, with_for_update=True)
    await session.refresh(post, with_for_update=True)
    if post.status not in OPEN_STATUSES:
        raise Conflict(f"post is '{post.status}'; only an open post (triaged or drafted) can be assigned")
    return post, brand


async def member_for_key(session: AsyncSession, brand_id: str, key_id: str) -> Member | None:
    return await session.scalar(sa.select(Member).where(Member.brand_id == brand_id, Member.key_id == key_id))


async def claim(session: AsyncSession, principal: Principal, post_id: str) -> Post:
    post, brand = await _open_post(session, principal, post_id)
    member = await member_for_key(session, brand.id, principal.key_id)
    if member is None:
        raise Conflict(f"this API key is not a member of brand '{brand.slug}'s team; an admin adds it")
    now = utcnow()
    if post.assignee_id != member.id:
        _set(post, member, now)
        member.last_assigned_at = now
    return post


async def assign(session: AsyncSession, principal: Principal, post_id: str, member_id: str | None) -> Post:
    post, brand = await _open_post(session, principal, post_id)
    if member_id is None:
        _set(post, None, utcnow())
        return post
    member = await session.get(Member, member_id)
    if member is None or member.brand_id != brand.id:
        message = f"no member '{member_id}' in brand '{brand.slug}'"
        raise InvalidInput(message, errors=[{"field": "member_id", "message": message}])
    now = utcnow()
    _set(post, member, now)
    member.last_assigned_at = now
    return post


async def assignees(session: AsyncSession, posts: Iterable[Post]) -> dict[str, AssigneeOut]:
    """post id -> its assignee, for the posts that have one (one query)."""
    wanted = {p.assignee_id for p in posts if p.assignee_id}
    if not wanted:
        return {}
    names = dict(
        (await session.execute(sa.select(Member.id, Member.name).where(Member.id.in_(wanted)))).all()
    )
    return {
        p.id: AssigneeOut(id=p.assignee_id, name=names[p.assignee_id], assigned_at=p.assigned_at)
        for p in posts
        if p.assignee_id and p.assignee_id in names
    }
