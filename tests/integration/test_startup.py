"""Starting up: migrations and the bootstrap admin key are safe when replicas start at once; logs carry
no post text and no secrets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from service import db
from service.auth.keys import ensure_bootstrap_admin
from service.models import ApiKey
from tests.conftest import ADMIN_KEY, Api


async def test_concurrent_migrations_and_bootstrap(make_settings: Any) -> None:
    settings = make_settings()
    engines = [db.create_engine(settings) for _ in range(3)]
    try:
        await asyncio.gather(*(db.run_migrations(engine, settings) for engine in engines))
        async with engines[0].connect() as conn:
            versions = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
        assert len(versions) == 1

        async def bootstrap(engine: Any) -> None:
            async with db.create_sessionmaker(engine)() as session, session.begin():
                await ensure_bootstrap_admin(session, ADMIN_KEY)

        await asyncio.gather(*(bootstrap(engine) for engine in engines))
        await asyncio.gather(*(bootstrap(engine) for engine in engines))  # and again after a "restart"
        async with db.create_sessionmaker(engines[0])() as session:
            keys = (await session.scalars(sa.select(ApiKey))).all()
        assert len(keys) == 1 and keys[0].role == "admin" and keys[0].brands == ["*"]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_logs_hold_no_post_text_or_secrets(make_client: Any, capfd: pytest.CaptureFixture[str]) -> None:
    api: Api = await make_client(log_level="INFO")
    brand = await api.brand("shop", webhook={"url": "http://127.0.0.1:9/hook"})
    integration = await api.key("integration", ["shop"])
    text = "My secret order number is ZZ-991 and my parcel is lost"
    response = await api.client.post(
        "/v1/posts",
        headers=integration,
        json={
            "brand": "shop",
            "channel": "twitter",
            "external_id": "log-1",
            "text": text,
            "author": {"handle": "x"},
        },
    )
    await api.wait_post(response.json()["id"], integration)
    out = capfd.readouterr()
    logs = out.out + out.err
    assert '"event": "request"' in logs and '"path": "/v1/posts"' in logs
    assert "ZZ-991" not in logs
    assert ADMIN_KEY not in logs
    assert integration["Authorization"].split()[1] not in logs
    assert brand["webhook"]["secret"] not in logs
