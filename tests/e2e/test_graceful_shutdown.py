"""Graceful shutdown with real processes: SIGTERM while a job is held by a slow model. /ready turns 503
while the process drains; the process exits 0 within the job lease; the job is done exactly once, by
the same process finishing it or, when the grace runs out, released and taken at once by a new one."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e import test_service_process as processes
from tests.e2e.process import ServiceProcess
from tests.e2e.test_service_process import base_env, count_rows, poll, send_post, setup_brand
from tests.fakes.llm_server import FakeLLMServer

# the process tests' database fixtures, shared
sqlite_url = processes.sqlite_url
pg_url = processes.pg_url

LEASE_S = 30


def _wait_for_chat(llm: FakeLLMServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not llm.chat_requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert llm.chat_requests, "the job never reached the LLM"


def _exit_code(service: ServiceProcess, timeout: float) -> tuple[int, float]:
    assert service.proc is not None
    started = time.monotonic()
    code = service.proc.wait(timeout)
    return code, time.monotonic() - started


def test_sigterm_finishes_the_held_job_and_is_not_ready_meanwhile(tmp_path: Path, sqlite_url: str) -> None:
    with FakeLLMServer() as llm:
        env = base_env(
            tmp_path,
            sqlite_url,
            REPLY_LLM_BASE_URL=llm.base_url,
            REPLY_LLM_MODEL="fake-model",
            REPLY_JOB_LEASE_S=str(LEASE_S),
            REPLY_SHUTDOWN_GRACE_S="12",
            REPLY_LLM_TIMEOUT_S="60",
        )
        service = ServiceProcess(env, log_path=tmp_path / "api.log").start()
        try:
            with httpx.Client(base_url=service.url, timeout=10) as client:
                integration, _, _ = setup_brand(client)
                llm.set_delay(4)  # the model is slow: the draft job is held when the signal comes
                post_id = send_post(client, integration, "g-1", "Where is my order? It has been two weeks.")
                _wait_for_chat(llm)
                assert client.get("/ready").status_code == 200
                assert service.proc is not None
                service.proc.terminate()  # SIGTERM
                time.sleep(0.3)
                draining = client.get("/ready")
                assert draining.status_code == 503, draining.text
                assert draining.json()["checks"] == {"shutdown": "shutting down"}
                assert client.get("/health").status_code == 200  # still answering meanwhile
            code, took = _exit_code(service, LEASE_S)
        finally:
            service.kill()
    assert code == 0
    assert took < LEASE_S
    drafts = count_rows(sqlite_url, f"SELECT count(*) FROM drafts WHERE post_id = '{post_id}'")
    assert drafts == [(1,)]
    assert count_rows(sqlite_url, "SELECT status, attempts FROM jobs WHERE kind = 'draft_post'") == [
        ("done", 1)
    ]
    assert count_rows(sqlite_url, f"SELECT status FROM posts WHERE id = '{post_id}'") == [("drafted",)]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_sigterm_past_the_grace_releases_the_job_for_the_next_worker(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    with FakeLLMServer() as llm:
        env = base_env(
            tmp_path,
            database_url,
            REPLY_LLM_BASE_URL=llm.base_url,
            REPLY_LLM_MODEL="fake-model",
            REPLY_JOB_LEASE_S=str(LEASE_S),
            REPLY_SHUTDOWN_GRACE_S="1",
            REPLY_LLM_TIMEOUT_S="120",
        )
        api = ServiceProcess({**env, "REPLY_WORKERS": "0"}, log_path=tmp_path / "api.log").start()
        worker_env = {**env, "REPLY_WORKERS": "1", "REPLY_QDRANT_PATH": str(tmp_path / "qdrant-w")}
        first = ServiceProcess(worker_env, worker=True, log_path=tmp_path / "w1.log").start()
        second = ServiceProcess(worker_env, worker=True, log_path=tmp_path / "w2.log")
        try:
            with httpx.Client(base_url=api.url, timeout=10) as client:
                integration, _, _ = setup_brand(client)
                llm.set_delay(90)  # far past the grace: the job cannot finish before the worker must go
                post_id = send_post(client, integration, "g-2", "Where is my order? It has been two weeks.")
                _wait_for_chat(llm, timeout=120)
                assert first.proc is not None
                first.proc.terminate()
                code, took = _exit_code(first, LEASE_S)
                assert code == 0 and took < LEASE_S
                # released, not left running under a lease: the next worker may take it right away
                held = count_rows(
                    database_url,
                    "SELECT status, attempts, locked_by, lease_until FROM jobs WHERE kind = 'draft_post'",
                )
                assert held == [("queued", 0, None, None)]
                llm.set_delay(0)
                second.start()
                post = poll(
                    client, f"/v1/posts/{post_id}", integration, lambda p: p["status"] == "drafted", 120
                )
                assert post["draft"]["generation"] == 1
        finally:
            second.stop()
            first.kill()
            api.stop()
    assert count_rows(database_url, f"SELECT count(*) FROM drafts WHERE post_id = '{post_id}'") == [(1,)]
    assert count_rows(database_url, "SELECT status, attempts FROM jobs WHERE kind = 'draft_post'") == [
        ("done", 1)
    ]
