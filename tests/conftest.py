"""Shared fixtures: real databases (SQLite and the local PostgreSQL), real vector engines (Qdrant Edge by
default; `VECTOR_BACKENDS` runs a module on qdrant-client's local mode too), the real embedding model
(loaded once), the app from its factory, a fake OpenAI-compatible server, a receiver."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from service.adapters.embedder import Embedder, load_embedder
from service.app import create_app
from service.config import Settings
from service.models import Job
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.receiver import WebhookReceiver

PG_DSN = os.environ.get("REPLY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
# Set by CI (.ci/run): a PostgreSQL that is down must fail the run, not skip every PostgreSQL test.
REQUIRE_POSTGRES = os.environ.get("REPLY_TEST_REQUIRE_POSTGRES", "") not in ("", "0")
ADMIN_KEY = "test-admin-key-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    # Hermetic settings: a REPLY_* variable from the shell (a .env, `make run` defaults) must not leak
    # into the apps the tests build; each test passes what it needs.
    # REPLY_TEST_* variables are the tests' own (a PostgreSQL, a real LLM for the opt-in smoke test).
    for name in [n for n in os.environ if n.startswith("REPLY_") and not n.startswith("REPLY_TEST_")]:
        del os.environ[name]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder()


async def _pg_available() -> bool:
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def postgres_unreachable() -> NoReturn:
    """Skip a PostgreSQL test on a machine without it; fail it where PostgreSQL is required (CI)."""
    message = f"PostgreSQL not reachable at {PG_DSN} (start it: pg_ctlcluster ... main start)"
    if REQUIRE_POSTGRES:
        pytest.fail(f"{message}; REPLY_TEST_REQUIRE_POSTGRES is set, so this is an error", pytrace=False)
    pytest.skip(message)


async def create_pg_database() -> str:
    """A fresh database on the local PostgreSQL; returns its URL."""
    name = "reply_t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_DSN.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'reply.db'}"
        return
    if not await _pg_available():
        postgres_unreachable()
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


# The embedded engines every vector-focused module runs on: `pytestmark = VECTOR_BACKENDS` in a module
# runs its tests on both (times both databases); the other modules run on the default, Qdrant Edge.
VECTOR_BACKENDS = pytest.mark.parametrize("vector_backend", ["edge", "local"], indirect=True)


@pytest.fixture
def vector_backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "edge"))


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, vector_backend: str) -> Any:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "vector_backend": vector_backend,
            "database_url": database_url,
            "bootstrap_admin_key": ADMIN_KEY,
            "webhook_allow_loopback": True,
            "workers": 2,
            "job_poll_s": 0.05,
            # the middleware stays in every test's stack, but tests poll at 20 requests a second with one
            # key: the limit's own tests (test_rate_limits.py) set the small limits they check
            "rate_limit_per_minute": 100_000,
            "log_level": os.environ.get("TEST_LOG_LEVEL", "WARNING"),
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(timeout_sleep_s=3.0) as server:
        yield server


@pytest.fixture
def fake_llm(llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rec:
        yield rec


class Api:
    """A thin test helper over the HTTP API: keys, brands, knowledge, posts, polling."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def key(self, role: str, brands: list[str] | str) -> dict[str, str]:
        response = await self.client.post(
            "/v1/api-keys", json={"name": f"{role} key", "role": role, "brands": brands}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['key']}"}

    async def brand(self, slug: str, **fields: Any) -> dict[str, Any]:
        body = {"slug": slug, "name": slug.title(), "language": "en", "timezone": "Europe/Berlin", **fields}
        response = await self.client.post("/v1/brands", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def send_post(
        self, headers: dict[str, str], external_id: str, text: str, *, author: dict[str, Any] | None = None
    ) -> str:
        """POST /v1/posts to brand "shop" on twitter; asserts 202 and returns the post id."""
        body = {
            "brand": "shop",
            "channel": "twitter",
            "external_id": external_id,
            "text": text,
            "author": author or {"handle": "jo"},
        }
        response = await self.client.post("/v1/posts", json=body, headers=headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def upload(
        self, slug: str, filename: str, content: bytes, kind: str | None = None
    ) -> dict[str, Any]:
        data = {"kind": kind} if kind else None
        response = await self.client.post(
            f"/v1/brands/{slug}/documents", files={"file": (filename, content)}, data=data, headers=self.admin
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    async def wait_document(self, slug: str, doc_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.poll(
            f"/v1/brands/{slug}/documents/{doc_id}",
            self.admin,
            lambda d: d["status"] != "processing",
            timeout,
        )

    async def wait_post(
        self,
        post_id: str,
        headers: dict[str, str],
        statuses: tuple[str, ...] = ("drafted",),
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        return await self.poll(
            f"/v1/posts/{post_id}",
            headers,
            lambda d: d["status"] in (*statuses, "failed", "no_reply_needed"),
            timeout,
        )

    async def settled_jobs(self, timeout: float = 20.0) -> list[Job]:
        """Every job, once none is queued or running: the work the requests so far caused is over, so a
        test may then assert that something did not happen."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with runtime.sessionmaker() as session:
                rows = list((await session.scalars(sa.select(Job).order_by(Job.id))).all())
            # the next runs of periodic jobs (retention purge, shift re-assignment) are always queued:
            # a schedule, not work a request caused
            rows = [job for job in rows if job.kind not in ("purge_expired", "reassign_shifts")]
            if rows and all(job.status in ("done", "failed") for job in rows):
                return rows
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError([(j.kind, j.status, j.attempts) for j in rows])
            await asyncio.sleep(0.05)

    async def poll(self, path: str, headers: dict[str, str], done: Any, timeout: float) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            body = dict(response.json())
            if done(body):
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting on {path}: {body}")
            await asyncio.sleep(0.05)


class _Lifespan:
    """Runs an app's lifespan in a task of its own: it is entered and exited in the same task, as anyio
    requires, while the test (a different task) talks to the app on the same event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = asyncio.Event()
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with self.app.lifespan():
            self.started.set()
            await self.stop.wait()

    async def __aenter__(self) -> None:
        self.task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self.started.wait())
        await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            waiter.cancel()
            self.task.result()  # raises the startup error

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await self.task


@pytest.fixture
async def make_client(make_settings: Any, embedder: Embedder) -> AsyncIterator[Any]:
    """The app from its factory, its lifespan (workers included) and the HTTP client all on the test's
    event loop: asyncpg connections cannot be shared across loops, as a portal thread would."""
    lifespans: list[_Lifespan] = []
    clients: list[httpx.AsyncClient] = []

    async def make(**overrides: Any) -> Api:
        app = create_app(make_settings(**overrides), embedder=embedder)
        lifespan = _Lifespan(app)
        await lifespan.__aenter__()
        lifespans.append(lifespan)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
        )
        client.app = app  # type: ignore[attr-defined]
        clients.append(client)
        return Api(client)

    yield make
    for client in clients:
        await client.aclose()
    for lifespan in reversed(lifespans):
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def api(make_client: Any) -> Api:
    return await make_client()
