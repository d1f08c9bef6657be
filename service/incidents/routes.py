"""HTTP routes for incidents (agent): posts from many authors about the same thing, answered once."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post
from litestar.params import Parameter

from service import pagination
from service.auth.guards import allow
from service.auth.keys import Principal
from service.incidents import service
from service.incidents.schemas import (
    IncidentDetail,
    IncidentList,
    IncidentOut,
    IncidentRedraft,
    IncidentRedrafted,
)
from service.runtime import Runtime


class IncidentController(Controller):
    path = "/v1/incidents"
    tags = ["incidents"]
    guards = allow("agent")

    @get("/")
    async def list_incidents(
        self,
        runtime: Runtime,
        principal: Principal,
        brand: str = Parameter(min_length=1, max_length=63),
        status: Literal["open", "closed", "merged"] | None = Parameter(default=None),
        limit: int = Parameter(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
        offset: int = Parameter(default=0, ge=0, le=pagination.MAX_OFFSET, description="items to skip"),
    ) -> IncidentList:
        async with runtime.transaction() as session:
            return IncidentList(
                items=await service.list_for_brand(session, principal, brand, status, limit, offset=offset)
            )

    @get("/{incident_id:str}")
    async def get_incident(self, incident_id: str, runtime: Runtime, principal: Principal) -> IncidentDetail:
        async with runtime.transaction() as session:
            return await service.get_detail(session, principal, incident_id)

    @post("/{incident_id:str}/close", status_code=200)
    async def close_incident(self, incident_id: str, runtime: Runtime, principal: Principal) -> IncidentOut:
        async with runtime.transaction() as session:
            return await service.close(session, principal, incident_id)

    @post("/{incident_id:str}/redraft", status_code=202)
    async def redraft_incident(
        self, incident_id: str, runtime: Runtime, principal: Principal, data: IncidentRedraft | None = None
    ) -> IncidentRedrafted:
        """Draft the incident's waiting posts again, e.g. after approving one reply for all of them."""
        async with runtime.transaction() as session:
            count = await service.redraft(session, principal, incident_id, data.instruction if data else None)
        return IncidentRedrafted(redrafting=count)
