"""Brands: create, read, change; webhook URLs checked and secrets made here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.webhooks import (
    HostDoesNotResolve,
    UnsafeWebhookURL,
    check_url,
    new_secret,
    valid_secret,
)
from service.auth.keys import Principal
from service.brands.schemas import (
    BrandIn,
    BrandOut,
    BrandPatch,
    BrandSettings,
    WebhookIn,
    WebhookOut,
)
from service.config import Settings
from service.errors import Conflict, InvalidInput, NotFound
from service.jobs import queue
from service.models import Brand, utcnow
from service.triage.models import DEFAULT_SLA_MINUTES

# What triage reads from a brand: a change to any of these re-triages the brand's open posts.
TRIAGE_FIELDS = ("language", "timezone", "business_hours", "holidays", "sla_minutes")
TRIAGE_SETTINGS = {"reply_to_praise": False, "urgent_around_the_clock": True}


async def get_by_slug(session: AsyncSession, slug: str) -> Brand:
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    return brand


async def visible_slugs(session: AsyncSession, principal: Principal) -> list[str]:
    """The brands a key may work with, by slug, in order."""
    query = sa.select(Brand.slug).order_by(Brand.slug)
    if principal.brands is not None:
        query = query.where(Brand.slug.in_(sorted(principal.brands)))
    return list((await session.scalars(query)).all())


async def _webhook(settings: Settings, webhook: WebhookIn) -> tuple[str, str, bool]:
    """Validated (url, secret, secret_was_generated)."""
    try:
        await check_url(
            webhook.url,
            allow_loopback=settings.webhook_allow_loopback,
            allowed_networks=settings.webhook_allowed_networks,
        )
    except HostDoesNotResolve:
        pass  # DNS may not know the helpdesk yet (or here): the address is checked at every delivery
    except UnsafeWebhookURL as exc:
        raise InvalidInput(
            f"webhook.url refused: {exc}", errors=[{"field": "webhook.url", "message": str(exc)}]
        ) from exc
    if webhook.secret is None:
        return webhook.url, new_secret(), True
    if not valid_secret(webhook.secret):
        message = "must be 'whsec_' followed by base64 of 24 to 64 random bytes"
        raise InvalidInput(
            f"webhook.secret {message}", errors=[{"field": "webhook.secret", "message": message}]
        )
    return webhook.url, webhook.secret, False


def to_out(brand: Brand, *, shown_secret: str | None = None) -> BrandOut:
    webhook = None
    if brand.webhook_url:
        webhook = WebhookOut(url=brand.webhook_url, enabled=not brand.webhook_disabled, secret=shown_secret)
    return BrandOut.model_validate(
        {
            "id": brand.id,
            "slug": brand.slug,
            "name": brand.name,
            "language": brand.language,
            "timezone": brand.timezone,
            "business_hours": brand.business_hours,
            "holidays": brand.holidays,
            "sla_minutes": {**DEFAULT_SLA_MINUTES, **(brand.sla_minutes or {})},
            "voice": brand.voice or {},
            "channels": brand.channels or {},
            "settings": brand.settings or {},
            "webhook": webhook,
            "policy_version": brand.policy_version or 1,
            "created_at": brand.created_at,
            "updated_at": brand.updated_at,
        }
    )


async def create_brand(session: AsyncSession, settings: Settings, data: BrandIn) -> BrandOut:
    if await session.scalar(sa.select(Brand.id).where(Brand.slug == data.slug)):
        raise Conflict(f"brand '{data.slug}' exists")
    shown = None
    brand = Brand(
        slug=data.slug,
        name=data.name,
        language=data.language,
        timezone=data.timezone,
        business_hours=data.business_hours,
        holidays=[d.isoformat() for d in data.holidays],
        sla_minutes={**DEFAULT_SLA_MINUTES, **(data.sla_minutes or {})},
        voice=data.voice.model_dump(),
        channels={k: v.model_dump() for k, v in data.channels.items()},
        settings=_merge_settings({}, data.settings, exclude_unset=False),
        policy_version=1,
    )
    if data.webhook is not None:
        brand.webhook_url, brand.webhook_secret, generated = await _webhook(settings, data.webhook)
        shown = brand.webhook_secret if generated else None
    session.add(brand)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"brand '{data.slug}' exists") from exc
    return to_out(brand, shown_secret=shown)


def _merge_settings(
    current: dict[str, Any], incoming: BrandSettings, *, exclude_unset: bool
) -> dict[str, Any]:
    merged = {**current, **incoming.model_dump(exclude_unset=exclude_unset)}
    if "out_of_hours_reply" in incoming.model_fields_set or not exclude_unset:
        new = incoming.out_of_hours_reply
        old = current.get("out_of_hours_reply") or {}
        if new is None:
            merged["out_of_hours_reply"] = None
        elif old.get("approved") and old.get("text") == new.text:
            merged["out_of_hours_reply"] = {**old, "enabled": new.enabled}  # same words: approval stands
        else:
            merged["out_of_hours_reply"] = {"text": new.text, "enabled": new.enabled, "approved": False}
    return merged


def _triage_view(brand: Brand) -> tuple[Any, ...]:
    settings = brand.settings or {}
    return (
        *(getattr(brand, field) for field in TRIAGE_FIELDS),
        *(settings.get(key, default) for key, default in TRIAGE_SETTINGS.items()),
    )


async def patch_brand(session: AsyncSession, settings: Settings, slug: str, data: BrandPatch) -> BrandOut:
    brand = await get_by_slug(session, slug)
    before = _triage_view(brand)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    shown = None
    for field in ("name", "language", "timezone", "business_hours"):
        if field in changes:
            setattr(brand, field, changes[field])
    if data.holidays is not None:
        brand.holidays = [d.isoformat() for d in data.holidays]
    if data.sla_minutes is not None:
        brand.sla_minutes = {**DEFAULT_SLA_MINUTES, **(brand.sla_minutes or {}), **data.sla_minutes}
    if data.voice is not None:
        brand.voice = data.voice.model_dump()
    if data.channels is not None:
        brand.channels = {k: v.model_dump() for k, v in data.channels.items()}
    if data.settings is not None:
        brand.settings = _merge_settings(brand.settings or {}, data.settings, exclude_unset=True)
    if "webhook" in changes:
        if data.webhook is None:
            brand.webhook_url, brand.webhook_secret = None, None
        else:
            brand.webhook_url, brand.webhook_secret, generated = await _webhook(settings, data.webhook)
            brand.webhook_disabled = False
            shown = brand.webhook_secret if generated else None
    if _triage_view(brand) != before:
        # open posts were triaged under the old hours or rules: a durable job triages them again
        brand.policy_version = (brand.policy_version or 1) + 1
        queue.enqueue(session, "retriage_brand", {"brand_id": brand.id})
    await session.flush()
    return to_out(brand, shown_secret=shown)


async def approve_out_of_hours_reply(session: AsyncSession, slug: str, key_id: str) -> BrandOut:
    """An admin approves the holding reply's current text; only then is it ever sent."""
    brand = await get_by_slug(session, slug)
    current = (brand.settings or {}).get("out_of_hours_reply")
    if not current:
        raise Conflict("this brand has no out_of_hours_reply to approve; set one with PATCH first")
    brand.settings = {
        **brand.settings,
        "out_of_hours_reply": {
            **current,
            "approved": True,
            "approved_at": utcnow().isoformat(),
            "approved_by": key_id,
        },
    }
    await session.flush()
    return to_out(brand)
