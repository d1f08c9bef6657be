"""API keys: creation, hashing, lookup, and the principal a request acts as."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Forbidden, Unauthorized
from service.models import ApiKey

ALL_BRANDS = "*"


def hash_key(secret: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: no dictionary can reach them.
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    return "rk_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    brands: frozenset[str] | None  # None: every brand

    def can_access(self, brand_slug: str) -> bool:
        return self.brands is None or brand_slug in self.brands

    def ensure_brand(self, brand_slug: str) -> None:
        if not self.can_access(brand_slug):
            raise Forbidden(f"this API key is not scoped to brand '{brand_slug}'")


def _principal(row: ApiKey) -> Principal:
    brands = None if ALL_BRANDS in row.brands else frozenset(row.brands)
    return Principal(key_id=row.id, role=row.role, brands=brands)


async def authenticate(session: AsyncSession, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthorized("missing Authorization header: send 'Authorization: Bearer <key>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <key>'")
    row = await session.scalar(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_key(token.strip()), ApiKey.revoked_at.is_(None))
    )
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    return _principal(row)


async def principal_by_id(session: AsyncSession, key_id: str) -> Principal:
    """The principal of a key known by its id (a console session holds the id, never the secret); a key
    revoked since the login no longer works."""
    row = await session.scalar(sa.select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)))
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    return _principal(row)


async def create_key(session: AsyncSession, name: str, role: str, brands: list[str]) -> tuple[ApiKey, str]:
    secret = generate_secret()
    row = ApiKey(name=name, role=role, brands=brands, key_hash=hash_key(secret), prefix=secret[:10])
    session.add(row)
    await session.flush()
    return row, secret


async def ensure_bootstrap_admin(session: AsyncSession, secret: str) -> None:
    """Idempotent across restarts and replicas: the key row's id is derived from the secret's hash."""
    digest = hash_key(secret)
    if await session.scalar(sa.select(ApiKey.id).where(ApiKey.key_hash == digest)):
        return
    stmt_values = {
        "id": "bootstrap" + digest[:23],
        "name": "bootstrap admin",
        "role": "admin",
        "brands": [ALL_BRANDS],
        "key_hash": digest,
        "prefix": secret[:10],
    }
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(pg_insert(ApiKey).values(**stmt_values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await session.execute(sqlite_insert(ApiKey).values(**stmt_values).on_conflict_do_nothing())
