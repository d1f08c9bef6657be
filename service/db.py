"""Engine, sessions and migrations: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL."""

from __future__ import annotations

import asyncio
import fcntl
import zlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from service.config import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Every replica takes this lock before migrating, so two that start together never race.
_MIGRATION_LOCK_ID = zlib.crc32(b"reply-service-migrations")


def create_engine(settings: Settings) -> AsyncEngine:
    """hide_parameters: a database error's message (logged, and kept in a job's last_error) names the
    statement but not its values, which can be post text or handles."""
    url = settings.resolved_database_url
    pool: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
    }
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **pool)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


# An execution option of the engine that `create_read_sessionmaker` binds: on SQLite its transactions
# begin deferred, so reads neither wait for nor hold up the one writer (WAL); other databases ignore it.
READ_ONLY = "reply_read_only"


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers, and BEGIN IMMEDIATE so writers queue on busy_timeout instead of
    failing with 'database is locked' when a read transaction tries to upgrade to a write. Read-only
    sessions (READ_ONLY) begin deferred: they never write, so they never upgrade."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only (the same pool): a flush in one fails on SQLite instead of waiting."""
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def _alembic_config(connection: Connection, secrets_keys: list[str] | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["secrets_keys"] = secrets_keys or []  # 0007 encrypts plaintext webhook secrets
    return config


async def run_migrations(
    engine: AsyncEngine, settings: Settings, secrets_keys: list[str] | None = None
) -> None:
    """Bring the schema to head; safe when several replicas start at once."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection, secrets_keys), "head")

    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            try:
                await conn.commit()
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                await conn.commit()
        return
    lock_path = settings.data_dir / "migrations.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock_file:
        await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(_upgrade)
                await conn.commit()
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
