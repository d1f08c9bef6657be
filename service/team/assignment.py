"""The periodic re-assignment: when a member goes off shift, their open posts move to someone on shift.

One `reassign_shifts` job runs per REPLY_ASSIGNMENT_INTERVAL_S however many replicas run (the periodic
chain of jobs/periodic.py). Each brand with a team is handled in its own transaction under the brand's
row lock (the lock new assignments at triage take), by the rules in team/service.py:
- open posts whose assignee is off shift (or inactive) go to the on-shift member with the fewest open
  items, or become unassigned when nobody is on shift;
- unassigned open posts are assigned once somebody is on shift, most urgent (earliest due) first.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from service.jobs import periodic
from service.models import Brand, Member, Post
from service.runtime import Runtime
from service.team.service import OPEN_STATUSES, Roster

log = structlog.get_logger("service.team")

KIND = "reassign_shifts"


@dataclass(frozen=True)
class Moved:
    reassigned: int = 0
    unassigned: int = 0
    assigned: int = 0


async def rebalance_brand(runtime: Runtime, brand_id: str) -> Moved:
    async with runtime.transaction() as session:
        brand = await session.get(Brand, brand_id, with_for_update=True)
        if brand is None:
            return Moved()
        roster = await Roster.load(session, brand)
        posts = (
            await session.scalars(
                sa.select(Post)
                .where(Post.brand_id == brand.id, Post.status.in_(OPEN_STATUSES))
                .where(sa.or_(Post.assignee_id.is_(None), Post.assignee_id.not_in(roster.on_shift or {""})))
                .order_by(Post.due_at.asc().nulls_last(), Post.priority_rank, Post.received_at)
                .with_for_update()
            )
        ).all()
        reassigned = unassigned = assigned = 0
        for post in posts:
            before = post.assignee_id
            if before is None and not roster.on_shift:
                continue
            after = roster.assign(post)
            if before is None and after is not None:
                assigned += 1
            elif before is not None and after is None:
                unassigned += 1
            elif before is not None:
                reassigned += 1
        return Moved(reassigned, unassigned, assigned)


async def rebalance(runtime: Runtime) -> Moved:
    """Every brand that has a team, one transaction each."""
    async with runtime.sessionmaker() as session:
        brand_ids = list(await session.scalars(sa.select(Member.brand_id).distinct()))
    total = Moved()
    for brand_id in brand_ids:
        moved = await rebalance_brand(runtime, brand_id)
        total = Moved(*(a + b for a, b in zip(total.__dict__.values(), moved.__dict__.values(), strict=True)))
    return total


reassign_shifts = periodic.periodic_handler(rebalance, lambda runtime: runtime.settings.assignment_interval_s)


async def schedule_reassignment(runtime: Runtime) -> None:
    await periodic.schedule_at_start(runtime, KIND)
