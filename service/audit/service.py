"""The audit log: who (API key id and name) did what to which target, with the state before and after.

`record` adds the entry to the caller's session, so it commits with the change it describes or not at all.
Secrets never enter it: `scrub` drops every field named like one (webhook secrets, API keys), whatever
the snapshot handed in.

Scope: an entry belongs to one brand, the one the change touched. An API key for some brands is recorded
once under each of them; an all-brands key (and so any change not tied to a brand) is recorded with no
brand, and shows in every brand's audit for admins whose own key reaches all brands (a brand's admin
does not learn about keys outside their brands).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.keys import Principal
from service.errors import InvalidInput
from service.models import AuditEntry, Brand

MAX_LIMIT = 200
SECRET_FIELDS = frozenset({"secret", "webhook_secret", "key", "key_hash", "api_key", "password", "token"})
ERASED = {"erased": True}


def scrub(value: Any) -> Any:
    """A JSON-able copy without any field that names a secret."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in SECRET_FIELDS}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    target: str,
    *,
    brand_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        brand_id=brand_id,
        actor_key_id=principal.key_id if principal else None,
        actor_name=principal.name if principal else None,
        action=action,
        target=target[:300],
        before=scrub(before) if before is not None else None,
        after=scrub(after) if after is not None else None,
    )
    session.add(entry)
    return entry


def encode_cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("a") or not raw[1:].isdigit():
            raise ValueError(cursor)
        value = int(raw[1:])
        if value > 2**62:
            raise ValueError(cursor)
        return value
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput(
            "before must be a cursor from a previous page's `next`",
            errors=[{"field": "before", "message": "not a cursor"}],
        ) from exc


async def page(
    session: AsyncSession, principal: Principal, brand: Brand, limit: int, before: str | None
) -> tuple[list[AuditEntry], str | None]:
    """Newest first; `next` is the cursor for the following page (None on the last one)."""
    scope = AuditEntry.brand_id == brand.id
    if principal.brands is None:
        scope = sa.or_(scope, AuditEntry.brand_id.is_(None))
    stmt = sa.select(AuditEntry).where(scope).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < decode_cursor(before))
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more and rows else None
