"""HTTP routes for a brand's team (admin; reading also agent) and its breach forecast (agent, admin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter

from service.auth.guards import allow
from service.auth.keys import Principal
from service.errors import InvalidInput
from service.models import utcnow
from service.runtime import Runtime
from service.team import forecast, service
from service.team.schemas import ForecastOut, MemberIn, MemberList, MemberOut, MemberPatch

DEFAULT_HORIZON = timedelta(hours=4)
MAX_HORIZON = timedelta(days=366)


class TeamController(Controller):
    path = "/v1/brands/{slug:str}"
    tags = ["team"]

    @post("/members", guards=allow("admin"), status_code=201)
    async def create_member(
        self, slug: str, data: MemberIn, runtime: Runtime, principal: Principal
    ) -> MemberOut:
        async with runtime.transaction() as session:
            out = await service.create_member(session, principal, slug, data)
        return out

    @get("/members", guards=allow("admin", "agent"))
    async def list_members(self, slug: str, runtime: Runtime, principal: Principal) -> MemberList:
        async with runtime.transaction() as session:
            return MemberList(items=await service.list_members(session, principal, slug))

    @patch("/members/{member_id:str}", guards=allow("admin"))
    async def patch_member(
        self, slug: str, member_id: str, data: MemberPatch, runtime: Runtime, principal: Principal
    ) -> MemberOut:
        async with runtime.transaction() as session:
            return await service.patch_member(session, principal, slug, member_id, data)

    @delete("/members/{member_id:str}", guards=allow("admin"), status_code=204)
    async def delete_member(self, slug: str, member_id: str, runtime: Runtime, principal: Principal) -> None:
        async with runtime.transaction() as session:
            await service.delete_member(session, principal, slug, member_id)

    @get(
        "/forecast",
        guards=allow("admin", "agent"),
        description="How many open posts will be late by `until` at the team's recent pace "
        "(the arithmetic: service/team/forecast.py).",
    )
    async def get_forecast(
        self,
        slug: str,
        runtime: Runtime,
        principal: Principal,
        until: datetime | None = Parameter(default=None, description="default: 4 hours from now"),
        window_hours: float = Parameter(
            default=4.0, gt=0, le=24 * 14, description="hours of recent approvals the pace is taken from"
        ),
    ) -> ForecastOut:
        now = utcnow()
        if until is None:
            until = now + DEFAULT_HORIZON
        elif until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        try:
            until = until.astimezone(UTC)
        except OverflowError:
            until = now  # beyond the calendar in UTC: refused below, as any time not in the future
        if until <= now or until > now + MAX_HORIZON:
            message = "until must lie in the future, within a year"
            raise InvalidInput(message, errors=[{"field": "until", "message": message}])
        async with runtime.transaction() as session:
            brand = await service.brand_for(session, principal, slug)
            return await forecast.forecast(session, brand, now, until, window_hours)
