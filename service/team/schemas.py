"""Request and response shapes for team members, assignment and the breach forecast."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from service.brands.schemas import _check_hours


class ShiftInterval(BaseModel):
    """One explicit shift, e.g. a Saturday cover: aware times (a time without an offset is UTC)."""

    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("this time cannot be expressed in UTC") from exc

    @model_validator(mode="after")
    def _ordered(self) -> ShiftInterval:
        if self.end <= self.start:
            raise ValueError("a shift ends after it starts")
        return self


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    key_id: str | None = Field(
        default=None, max_length=32, description="the member's agent API key id: 'assigned to me'"
    )
    weekly_shifts: dict[str, list[list[str]]] | None = Field(
        default=None,
        description='weekly shifts in the brand\'s timezone, as business hours: {"mon": [["08:00","16:00"]]}',
    )
    shifts: list[ShiftInterval] = Field(default_factory=list, max_length=500)
    active: bool = True

    _hours = field_validator("weekly_shifts")(_check_hours)


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    key_id: str | None = Field(default=None, max_length=32)
    weekly_shifts: dict[str, list[list[str]]] | None = None
    shifts: list[ShiftInterval] | None = Field(default=None, max_length=500)
    active: bool | None = None

    _hours = field_validator("weekly_shifts")(_check_hours)


class MemberOut(BaseModel):
    id: str
    name: str
    key_id: str | None
    weekly_shifts: dict[str, list[list[str]]] | None
    shifts: list[ShiftInterval]
    active: bool
    on_shift: bool = Field(description="on shift now")
    open_items: int = Field(description="open posts (triaged or drafted) assigned to the member")
    last_assigned_at: datetime | None


class MemberList(BaseModel):
    items: list[MemberOut]


class AssigneeOut(BaseModel):
    id: str
    name: str
    assigned_at: datetime | None


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: str | None = Field(max_length=32, description="a member of the post's brand; null: unassign")


class ForecastOut(BaseModel):
    now: datetime
    until: datetime
    open: int = Field(description="open posts in the queue (triaged or drafted)")
    with_due: int = Field(description="of those, the ones with a due time")
    already_late: int = Field(description="open posts past their due time now")
    approvals: int = Field(description="approvals in the pace window")
    window_hours: float
    pace_per_hour: float = Field(description="posts the team is expected to answer per hour from now")
    on_shift: int
    expected_late: int = Field(description="posts late by `until` at this pace (already late included)")
    first_late_at: datetime | None = Field(description="the due time of the first post that will be late")
    message: str
