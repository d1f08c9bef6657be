"""Migration 0002 on a database that already holds posts and drafts (SQLite and PostgreSQL): nothing is
lost (a table rebuild on SQLite would cascade-delete drafts), old posts count as triaged under no known
policy, and the schema matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from service import db
from service.config import Settings
from service.models import Base

ROWS = [
    "INSERT INTO brands (id, slug, name, language, timezone, holidays, sla_minutes, voice, channels,"
    " settings, webhook_disabled, created_at, updated_at) VALUES ('b1', 'shop', 'Shop', 'en', 'UTC',"
    " '[]', '{}', '{}', '{}', '{}', false, '2024-01-01', '2024-01-01')",
    "INSERT INTO posts (id, brand_id, channel, external_id, text, author, posted_at, received_at, status,"
    " priority_rank, updated_at) VALUES ('p1', 'b1', 'x', 'e1', 'Where is my parcel?', '{}',"
    " '2024-01-01', '2024-01-01', 'drafted', 2, '2024-01-01')",
    "INSERT INTO drafts (id, post_id, generation, text, language, sources, confidence, flags, version,"
    " status, created_at, updated_at) VALUES ('d1', 'p1', 1, 'On its way.', 'en', '[]', 0, '[]', 1,"
    " 'pending', '2024-01-01', '2024-01-01')",
]


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    command.upgrade(db._alembic_config(connection), revision)


def _schema_diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    diff = compare_metadata(context, Base.metadata)
    # SQLite does not report the name and ON DELETE of a REFERENCES clause added by ALTER TABLE
    return [d for d in diff if not (connection.dialect.name == "sqlite" and d[0] in ("add_fk", "remove_fk"))]


async def test_upgrade_keeps_posts_and_drafts(database_url: str) -> None:
    url = Settings(_env_file=None, database_url=database_url).resolved_database_url  # type: ignore[call-arg]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "0001")
            for row in ROWS:
                await conn.execute(sa.text(row))
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "head")
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM drafts"))).scalar() == 1
            post = (
                await conn.execute(sa.text("SELECT status, policy_version, incident_id FROM posts"))
            ).one()
            assert tuple(post) == ("drafted", None, None)
            assert (await conn.execute(sa.text("SELECT policy_version FROM brands"))).scalar() == 1
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()
