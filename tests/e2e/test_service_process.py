"""The service as real processes: the whole path over HTTP, a worker SIGKILLed mid-job, two workers
sharing 200 posts on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import (
    ADMIN_KEY,
    _pg_available,
    create_pg_database,
    drop_pg_database,
    postgres_unreachable,
)
from tests.e2e.process import ServiceProcess
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.receiver import WebhookReceiver, verified

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FAQ = {
    "faqs": [
        {
            "id": "acme-return",
            "question": "How do I return a product?",
            "answer": "Start your return at acme.example/returns within 30 days; the label is free.",
        },
        {
            "id": "acme-password",
            "question": "How do I reset my password?",
            "answer": "Use 'Forgot password' on the login page; the emailed link is valid for 1 hour.",
        },
        {
            "id": "acme-shipping",
            "question": "Do you ship internationally?",
            "answer": "We ship to the UK, the EU, Switzerland and Norway.",
        },
    ]
}


def base_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "REPLY_DATA_DIR": str(tmp_path / "data"),
        "REPLY_DATABASE_URL": database_url,
        "REPLY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "REPLY_WEBHOOK_ALLOW_LOOPBACK": "true",
        "REPLY_JOB_POLL_S": "0.1",
        **extra,
    }


def poll(client: httpx.Client, path: str, headers: dict[str, str], done: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path, headers=headers).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out on {path}: {body}")
        time.sleep(0.1)


def setup_brand(
    client: httpx.Client, receiver_url: str | None = None
) -> tuple[dict[str, str], dict[str, str], str]:
    body: dict[str, Any] = {"slug": "acme", "name": "Acme", "language": "en", "timezone": "Europe/London"}
    if receiver_url:
        body["webhook"] = {"url": receiver_url}
    created = client.post("/v1/brands", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    secret = (created.json()["webhook"] or {}).get("secret", "")
    keys = []
    for role in ("integration", "agent"):
        response = client.post(
            "/v1/api-keys", json={"name": role, "role": role, "brands": ["acme"]}, headers=ADMIN
        )
        assert response.status_code == 201
        keys.append({"Authorization": f"Bearer {response.json()['key']}"})
    return keys[0], keys[1], secret


def send_post(client: httpx.Client, integration: dict[str, str], external_id: str, text: str) -> str:
    response = client.post(
        "/v1/posts",
        headers=integration,
        json={
            "brand": "acme",
            "channel": "twitter",
            "external_id": external_id,
            "text": text,
            "author": {"handle": "sam", "name": "Sam Smith", "followers": 40},
        },
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reply.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not asyncio.run(_pg_available()):
        postgres_unreachable()
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


def count_rows(database_url: str, query: str) -> list[Any]:
    async def run() -> list[Any]:
        url = database_url.replace("sqlite:///", "sqlite+aiosqlite:///").replace(
            "postgresql://", "postgresql+asyncpg://"
        )
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(sa.text(query))).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_whole_path_over_http(tmp_path: Path, sqlite_url: str) -> None:
    with FakeLLMServer() as llm, WebhookReceiver() as receiver:
        service = ServiceProcess(
            base_env(tmp_path, sqlite_url, REPLY_LLM_BASE_URL=llm.base_url, REPLY_LLM_MODEL="fake-model"),
            log_path=tmp_path / "service.log",
        ).start()
        try:
            with httpx.Client(base_url=service.url, timeout=30) as client:
                integration, agent, secret = setup_brand(client, receiver.url)
                upload = client.post(
                    "/v1/brands/acme/documents",
                    headers=ADMIN,
                    files={"file": ("faq.json", json.dumps(FAQ).encode(), "application/json")},
                )
                assert upload.status_code == 202, upload.text
                doc = poll(
                    client,
                    f"/v1/brands/acme/documents/{upload.json()['id']}",
                    ADMIN,
                    lambda d: d["status"] != "processing",
                )
                assert doc["status"] == "ready" and doc["chunks"] == 3

                post_id = send_post(
                    client, integration, "tw-1", "@acme how can I send back the speaker I bought?"
                )
                post = poll(client, f"/v1/posts/{post_id}", integration, lambda p: p["status"] == "drafted")
                draft = post["draft"]
                assert draft["sources"][0]["source_id"] == "acme-return"
                assert "llm" in draft["flags"] and draft["text"].startswith("Thanks for reaching out!")
                # The LLM saw the FAQ as a source, with its id.
                assert "[source:acme-return]" in llm.chat_requests[-1]["messages"][-1]["content"]

                edit = client.patch(
                    f"/v1/drafts/{draft['id']}",
                    json={"text": "Hi Sam! Returns: acme.example/returns"},
                    headers={**agent, "If-Match": str(draft["version"])},
                )
                assert edit.status_code == 200
                approve = client.post(
                    f"/v1/drafts/{draft['id']}/approve",
                    json={},
                    headers={**agent, "If-Match": str(edit.json()["version"])},
                )
                assert approve.status_code == 200

                deliveries = receiver.wait_for(3)
                approved = [d for d in deliveries if json.loads(d["body"])["type"] == "reply.approved"]
                assert len(approved) == 1
                reply = verified(secret, approved[0])["data"]
                assert reply["text"] == "Hi Sam! Returns: acme.example/returns"

                past = f"past:{draft['id']}"
                poll(
                    client,
                    "/v1/brands/acme/knowledge/search?q=send+back+a+speaker",
                    agent,
                    lambda b: any(h["source_id"] == past for h in b["hits"]),
                    30,
                )
                second = send_post(
                    client, integration, "tw-2", "how do I send back a speaker I bought last month?"
                )
                post2 = poll(client, f"/v1/posts/{second}", integration, lambda p: p["status"] == "drafted")
                sources = post2["draft"]["sources"]
                assert past in [s["source_id"] for s in sources]
                assert [s["kind"] for s in sources if s["source_id"] == past] == ["past_answer"]
        finally:
            service.stop()


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_worker_killed_mid_job_drafts_once_after_restart(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    with FakeLLMServer() as llm:
        env = base_env(
            tmp_path,
            database_url,
            REPLY_LLM_BASE_URL=llm.base_url,
            REPLY_LLM_MODEL="fake-model",
            REPLY_JOB_LEASE_S="3",
            REPLY_LLM_TIMEOUT_S="60",
        )
        service = ServiceProcess(env, log_path=tmp_path / "first.log").start()
        with httpx.Client(base_url=service.url, timeout=30) as client:
            integration, _, _ = setup_brand(client)
            llm.set_delay(30)  # the model "thinks" long: the job is mid-way when the process dies
            post_id = send_post(client, integration, "k-1", "Where is my order? It has been two weeks.")
            deadline = time.monotonic() + 60
            while not llm.chat_requests and time.monotonic() < deadline:
                time.sleep(0.1)
            assert llm.chat_requests, "the job never reached the LLM"
        service.kill()
        # triage is stored and done; the draft step was cut off mid-way
        assert count_rows(database_url, "SELECT status, attempts FROM jobs WHERE kind = 'triage_post'") == [
            ("done", 1)
        ]
        assert count_rows(database_url, "SELECT status FROM jobs WHERE kind = 'draft_post'") == [("running",)]
        llm.set_delay(0)

        restarted = ServiceProcess(env, log_path=tmp_path / "second.log").start()
        try:
            with httpx.Client(base_url=restarted.url, timeout=30) as client:
                post = poll(client, f"/v1/posts/{post_id}", integration, lambda p: p["status"] == "drafted")
                assert post["draft"]["generation"] == 1
        finally:
            restarted.stop()
    drafts = count_rows(database_url, f"SELECT count(*) FROM drafts WHERE post_id = '{post_id}'")
    assert drafts == [(1,)]
    jobs = count_rows(database_url, "SELECT status, attempts FROM jobs WHERE kind = 'draft_post'")
    assert jobs == [("done", 2)]


def test_two_workers_on_postgres_draft_each_post_once(tmp_path: Path, pg_url: str) -> None:
    env = base_env(tmp_path, pg_url, REPLY_WORKERS="0")
    api = ServiceProcess(env, log_path=tmp_path / "api.log").start()
    workers: list[ServiceProcess] = []
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            integration, _, _ = setup_brand(client)
            post_ids = [
                send_post(client, integration, f"bulk-{i}", f"Question number {i}: where is my parcel?")
                for i in range(200)
            ]
        for index in range(2):
            # Local-mode Qdrant is one process per folder, so each worker gets its own (empty) store here;
            # at scale they share a Qdrant server (REPLY_QDRANT_URL).
            worker_env = {**env, "REPLY_WORKERS": "2", "REPLY_QDRANT_PATH": str(tmp_path / f"qdrant-{index}")}
            workers.append(
                ServiceProcess(worker_env, worker=True, log_path=tmp_path / f"w{index}.log").start()
            )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            done = count_rows(pg_url, "SELECT count(*) FROM posts WHERE status = 'drafted'")[0][0]
            if done == len(post_ids):
                break
            time.sleep(0.5)
        per_post = count_rows(pg_url, "SELECT post_id, count(*) FROM drafts GROUP BY post_id")
        assert len(per_post) == 200 and all(count == 1 for _, count in per_post)
        jobs = count_rows(
            pg_url,
            "SELECT status, attempts, locked_by FROM jobs WHERE kind IN ('triage_post', 'draft_post')",
        )
        assert len(jobs) == 400 and all(status == "done" and attempts == 1 for status, attempts, _ in jobs)
        owners = {locked_by.rsplit(":", 1)[0] for _, _, locked_by in jobs}
        assert len(owners) == 2, f"both worker processes should have taken jobs: {owners}"
    finally:
        for worker in workers:
            worker.stop()
        api.stop()


def test_a_second_service_on_the_same_vector_folder_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    # the embedded engine's folder belongs to the first process; a second one stops at start and says why
    first = ServiceProcess(base_env(tmp_path, sqlite_url), log_path=tmp_path / "first.log").start()
    try:
        second = ServiceProcess(base_env(tmp_path, sqlite_url), log_path=tmp_path / "second.log")
        second.start(wait=False)
        assert second.proc is not None
        assert second.proc.wait(180) != 0
        log = (tmp_path / "second.log").read_text()
        assert "is in use by another process" in log and "REPLY_QDRANT_URL" in log, log[-2000:]
        assert httpx.get(first.url + "/health", timeout=10).status_code == 200  # the first serves on
    finally:
        first.stop()


def _samples(metrics: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines of a /metrics text, by their label text."""
    found = {}
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            found[key[len(name) :]] = float(value)
    return found


def test_two_api_replicas_on_postgres_report_metrics_that_add_up(tmp_path: Path, pg_url: str) -> None:
    """Two API replicas with in-process workers on one PostgreSQL: each replica's counters are its own
    (jobs run here), so they add up to the work done; the queue's counts are global, so only the
    metrics leader shows them, and its figure is the table's, not one per replica."""
    replicas = []
    try:
        for index in range(2):
            env = base_env(
                tmp_path,
                pg_url,
                REPLY_WORKERS="2",
                REPLY_QDRANT_PATH=str(tmp_path / f"qdrant-{index}"),  # at scale: one Qdrant server
            )
            replicas.append(ServiceProcess(env, log_path=tmp_path / f"api{index}.log").start(wait=False))
        for replica in replicas:  # both start at once
            replica.wait_ready()
        with httpx.Client(base_url=replicas[0].url, timeout=30) as client:
            integration, _, _ = setup_brand(client)
        post_ids = []
        for n in range(10):
            with httpx.Client(base_url=replicas[n % 2].url, timeout=30) as client:
                post_ids.append(
                    send_post(client, integration, f"r-{n}", f"Question {n}: where is my parcel?")
                )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = count_rows(pg_url, "SELECT count(*) FROM posts WHERE status = 'drafted'")[0][0]
            if done == len(post_ids):
                break
            time.sleep(0.5)
        assert done == len(post_ids)
        done_in_table = count_rows(pg_url, "SELECT count(*) FROM jobs WHERE status = 'done'")[0][0]
        # the leader reads the queue's counts once per metrics interval (5 s): until it has read them
        # after the work, its figure lags the table's
        deadline = time.monotonic() + 30
        while True:
            texts = [httpx.get(r.url + "/metrics", timeout=10).text for r in replicas]
            leaders = [_samples(t, "reply_service_metrics_leader").get("", 0.0) for t in texts]
            jobs = [_samples(t, "reply_service_jobs") for t in texts]
            if 1.0 in leaders and jobs[leaders.index(1.0)].get('{status="done"}') == done_in_table:
                break
            assert time.monotonic() < deadline, (leaders, jobs, done_in_table)
            time.sleep(0.5)
        assert sorted(leaders) == [0.0, 1.0], leaders
        leader = leaders.index(1.0)
        assert jobs[1 - leader] == {}, "a follower must not report the global queue as its own"
        runs = [
            _samples(t, "reply_service_job_runs_total").get('{kind="triage_post",outcome="done"}', 0.0)
            for t in texts
        ]
        assert sum(runs) == len(post_ids), runs  # per replica: they add up
    finally:
        for replica in replicas:
            replica.stop()
