"""The running service's parts, built once at startup and handed to features: settings, database,
embedder, vector index, LLM and webhook sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import db
from service.adapters.embedder import Embedder, load_embedder
from service.adapters.llm import LLMClient
from service.adapters.vectors import VectorStore
from service.adapters.webhooks import WebhookSender
from service.config import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    embedder: Embedder
    vectors: VectorStore
    llm: LLMClient | None
    webhooks: WebhookSender
    state: dict[str, object] = field(default_factory=dict)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back on an exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def close(self) -> None:
        await self.webhooks.close()
        if self.llm is not None:
            await self.llm.close()
        await self.vectors.close()
        await self.engine.dispose()


async def start_runtime(settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
    """Connect everything and migrate the database. `embedder` lets tests share one loaded model."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.create_engine(settings)
    await db.run_migrations(engine, settings)
    embedder = embedder or load_embedder(settings.embedding_model)
    vectors = VectorStore(settings, embedder.dim)
    await vectors.ensure_collection()
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=db.create_sessionmaker(engine),
        embedder=embedder,
        vectors=vectors,
        llm=LLMClient(settings) if settings.llm_enabled else None,
        webhooks=WebhookSender(settings.webhook_timeout_s),
    )
