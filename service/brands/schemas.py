"""Request and response shapes for brands."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.triage.hours import parse_business_hours
from service.triage.models import PRIORITIES

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Voice(Strict):
    formality: Literal["formal", "informal"] = "formal"
    persona: str | None = Field(default=None, max_length=500)
    signature: str | None = Field(default=None, max_length=200)
    banned_phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )


class ChannelSettings(Strict):
    max_chars: int | None = Field(default=None, ge=20, le=20000)


class WebhookIn(Strict):
    url: str = Field(max_length=2048)
    secret: str | None = None


class OutOfHoursReplyIn(Strict):
    """The holding reply sent, as a `post.holding_reply` event, to posts that arrive while the team is
    off. Changing the text withdraws the approval; approving is its own admin action."""

    text: str = Field(min_length=1, max_length=2000)
    enabled: bool = True


class OutOfHoursReplyOut(BaseModel):
    text: str
    enabled: bool
    approved: bool = False
    approved_at: datetime | None = None
    approved_by: str | None = Field(default=None, description="id of the admin key that approved it")


SocialHandle = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9_.]{1,50}$", examples=["@nordbahn_hilfe"])]


class BrandSettings(Strict):
    reply_to_praise: bool = False
    social_handles: list[SocialHandle] = Field(
        default_factory=list,
        max_length=20,
        description="the brand's accounts besides its slug and name (e.g. @nordbahn_hilfe): a post that "
        "opens with another user's handle and talks to them is no post to the brand",
    )
    retrieval_min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    urgent_around_the_clock: bool = Field(
        default=True, description="urgent posts are due in wall-clock minutes, not business minutes"
    )
    incident_similarity: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="cosine from which posts are one incident; default per model",
    )
    out_of_hours_reply: OutOfHoursReplyIn | None = None
    reply_language: Literal["customer", "brand"] = Field(
        default="customer",
        description="customer: drafts answer in the post's language; brand: always in the brand's language",
    )
    monthly_token_budget: int | None = Field(
        default=None, ge=0, description="LLM tokens the brand's drafts may use per calendar month (UTC)"
    )


class TokenBudgetOut(BaseModel):
    month: str
    monthly_limit: int | None
    used: int
    remaining: int | None
    status: Literal["unlimited", "ok", "exhausted"]


class BrandSettingsOut(BaseModel):
    reply_to_praise: bool = False
    social_handles: list[str] = Field(default_factory=list)
    retrieval_min_score: float | None = None
    urgent_around_the_clock: bool = True
    incident_similarity: float | None = None
    out_of_hours_reply: OutOfHoursReplyOut | None = None
    reply_language: Literal["customer", "brand"] = "customer"
    monthly_token_budget: int | None = None


def _check_hours(value: dict[str, list[list[str]]] | None) -> dict[str, list[list[str]]] | None:
    """The rules of triage/hours.py: HH:MM up to 24:00, overnight spans, some open time."""
    if value is not None:
        parse_business_hours(value)
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


def _check_sla(value: dict[str, int] | None) -> dict[str, int] | None:
    if value is None:
        return None
    for key, minutes in value.items():
        if key not in PRIORITIES:
            raise ValueError(f"unknown priority {key!r}; use {', '.join(PRIORITIES)}")
        if not 0 < minutes <= 366 * 24 * 60:  # beyond a year a due time means nothing (and overflows)
            raise ValueError(f"{key}: minutes must be positive and at most a year")
    return value


class BrandIn(Strict):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    language: str = Field(pattern=r"^[a-z]{2}$")
    timezone: str = "UTC"
    business_hours: dict[str, list[list[str]]] | None = None
    holidays: list[date] = Field(default_factory=list, max_length=1000)
    sla_minutes: dict[str, int] | None = None
    voice: Voice = Field(default_factory=Voice)
    channels: dict[str, ChannelSettings] = Field(default_factory=dict)
    webhook: WebhookIn | None = None
    settings: BrandSettings = Field(default_factory=BrandSettings)

    _hours = field_validator("business_hours")(_check_hours)
    _tz = field_validator("timezone")(_check_timezone)
    _sla = field_validator("sla_minutes")(_check_sla)


class BrandPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    timezone: str | None = None
    business_hours: dict[str, list[list[str]]] | None = None
    holidays: list[date] | None = None
    sla_minutes: dict[str, int] | None = None
    voice: Voice | None = None
    channels: dict[str, ChannelSettings] | None = None
    webhook: WebhookIn | None = None
    settings: BrandSettings | None = None

    _hours = field_validator("business_hours")(_check_hours)
    _tz = field_validator("timezone")(lambda v: v if v is None else _check_timezone(v))
    _sla = field_validator("sla_minutes")(_check_sla)


class WebhookOut(BaseModel):
    url: str
    enabled: bool
    secret: str | None = Field(default=None, description="shown once, in the response that created it")


class BrandOut(BaseModel):
    id: str
    slug: str
    name: str
    language: str
    timezone: str
    business_hours: dict[str, list[list[str]]] | None
    holidays: list[date]
    sla_minutes: dict[str, int]
    voice: Voice
    channels: dict[str, ChannelSettings]
    settings: BrandSettingsOut
    webhook: WebhookOut | None
    policy_version: int = Field(description="raised by every change that re-triages the brand's open posts")
    token_budget: TokenBudgetOut | None = Field(
        default=None, description="the LLM token budget this month (GET brand only)"
    )
    created_at: datetime
    updated_at: datetime
