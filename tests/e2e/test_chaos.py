"""Chaos, with real processes on SQLite and PostgreSQL:

1. CHAOS_POSTS posts sent by a client that retries and sends duplicates (the same Idempotency-Key again,
   the same external_id again under a new key) while worker processes are SIGKILLed at random and the
   model fails a fifth of its calls (429, 500, timeouts; seeded): every post is drafted exactly once, none
   is lost, no job is left behind.
2. CHAOS_APPROVALS approvals while the webhook receiver fails half of its deliveries (seeded) and the
   service is SIGKILLed twice: exactly one reply.approved event per approved draft reaches the receiver
   (deduped by webhook-id, as receivers must), no gaps; duplicates delivered are counted.

Each test prints its figures as one JSON line (RELIABILITY.md). Sized for the suite by default
(CHAOS_POSTS=60, CHAOS_APPROVALS=30: the same kills, faults and assertions, fewer requests between them);
`make chaos` runs 5000 and 1000. CHAOS_SEED changes every random
choice (default 12)."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.process import ServiceProcess
from tests.e2e.test_service_process import (  # noqa: F401  (fixtures)
    ADMIN,
    base_env,
    count_rows,
    pg_url,
    setup_brand,
    sqlite_url,
)
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.receiver import WebhookReceiver

pytestmark = pytest.mark.chaos

POSTS = int(os.environ.get("CHAOS_POSTS", "60"))
APPROVALS = int(os.environ.get("CHAOS_APPROVALS", "30"))
SEED = int(os.environ.get("CHAOS_SEED", "12"))
KILLS = max(3, POSTS // 100)  # worker kills in the posts test
RESTART_S = 300  # a (re)start loads the embedding model: slow on a crowded machine
# Short leases, polls and backoffs: a killed worker's job is taken again within seconds.
FAST = {
    "REPLY_JOB_LEASE_S": "5",
    "REPLY_JOB_POLL_S": "0.05",
    "REPLY_JOB_BACKOFF_BASE_S": "0.05",
    "REPLY_JOB_BACKOFF_CAP_S": "0.5",
    "REPLY_IDEMPOTENCY_LEASE_S": "5",
}


def request_with_retries(
    client: httpx.Client, method: str, path: str, tally: dict[str, int], **kwargs: Any
) -> Any:
    """What a careful client does: retry a request that got no answer or a 5xx (with the same
    Idempotency-Key, so a retry cannot act twice), for up to two minutes."""
    deadline = time.monotonic() + 120
    while True:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError:
            response = None
        with tally_lock:
            tally["requests"] += 1
        if response is not None and response.status_code < 500 and response.status_code != 409:
            return response
        if (
            response is not None
            and response.status_code == 409
            and "still being processed" not in response.text
        ):
            return response  # a real conflict, not "the same key is still in flight"
        with tally_lock:
            tally["retries"] += 1
        assert time.monotonic() < deadline, f"{method} {path}: no answer for two minutes"
        time.sleep(0.1)


tally_lock = threading.Lock()


# The self-rescheduling periodic jobs (retention purge, shift re-assignment) are always queued: not work.
NOT_SCHEDULES = " AND kind NOT IN ('purge_expired', 'reassign_shifts')"


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.25)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_posts_drafted_exactly_once_through_kills_duplicates_and_model_faults(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    rng = random.Random(SEED)
    started = time.monotonic()
    with FakeLLMServer(timeout_sleep_s=1.5) as llm:
        llm.set_fault_rate(0.2, SEED)
        env = base_env(
            tmp_path,
            database_url,
            REPLY_LLM_BASE_URL=llm.base_url,
            REPLY_LLM_MODEL="fake-model",
            REPLY_LLM_TIMEOUT_S="0.5",  # under the fake's 1.5 s "timeout" fault: the client gives up
            REPLY_LLM_MAX_BACKOFF_S="0.2",
            REPLY_WORKERS="0",
            # several processes: each its own in-memory vector store (local mode is one process a folder)
            REPLY_QDRANT_PATH=":memory:",
            **FAST,
        )
        api = ServiceProcess(env, log_path=tmp_path / "api.log").start(wait=False)
        api.wait_ready(RESTART_S)
        worker_env = {**env, "REPLY_WORKERS": "2"}
        workers = [
            ServiceProcess(worker_env, worker=True, log_path=tmp_path / f"worker-{i}.log").start()
            for i in range(2)
        ]
        stop = threading.Event()
        kills = 0

        def working(worker: ServiceProcess) -> bool:
            assert worker.proc is not None
            pattern = f"%:{worker.proc.pid}:%"  # worker ids are host:pid:random
            query = f"SELECT count(*) FROM jobs WHERE locked_by LIKE '{pattern}'"
            return bool(count_rows(database_url, query)[0][0])

        def killer() -> None:
            """SIGKILL a random one of the workers holding jobs, a random while later (so it dies mid-way,
            with jobs in hand, not while still loading), then start a new one; KILLS in all. Picking among
            the working ones, not waiting on a restarted one to load, keeps the kills inside the run when
            it is short (the suite's 60 posts take seconds of work; a restart takes as long)."""
            nonlocal kills
            while kills < KILLS and not stop.is_set():
                candidates = [worker for worker in workers if working(worker)]
                if not candidates:
                    stop.wait(0.2)
                    continue
                victim = rng.choice(candidates)
                if stop.wait(rng.uniform(0.2, 2.0)):
                    return
                victim.kill()  # no shutdown handler runs; its jobs stay "running" until the lease ends
                kills += 1
                victim.start()  # a worker has no /ready: working() above tells when it takes jobs

        tally = {"requests": 0, "retries": 0}
        try:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                integration, _, _ = setup_brand(client)
                # what each post is resent as: nothing, the same key again, the same external_id anew
                plans = [rng.choice(["once", "once", "same_key", "same_external_id"]) for _ in range(POSTS)]
                kill_thread = threading.Thread(target=killer, daemon=True)
                kill_thread.start()

                def send(index: int) -> tuple[int, set[str]]:
                    body = {
                        "brand": "acme",
                        "channel": "twitter",
                        "external_id": f"chaos-{index}",
                        "text": f"Question {index}: where is my parcel? It was due days ago.",
                        "author": {"handle": f"fan{index % 50}"},
                    }
                    headers = {**integration, "Idempotency-Key": f"post-{index}"}
                    ids = set()
                    first = request_with_retries(
                        client, "POST", "/v1/posts", tally, json=body, headers=headers
                    )
                    assert first.status_code in (200, 202), first.text
                    ids.add(first.json()["id"])
                    if plans[index] == "same_key":  # a retry of a request whose answer was lost
                        # sent at once, no retry: the answer is stored before the first one arrived
                        again = client.post("/v1/posts", json=body, headers=headers)
                        with tally_lock:
                            tally["requests"] += 1
                        assert again.status_code == first.status_code, again.text
                        assert again.headers.get("idempotent-replayed") == "true", again.headers
                        ids.add(again.json()["id"])
                    elif plans[index] == "same_external_id":  # the integration sends the post twice
                        headers = {**integration, "Idempotency-Key": f"post-{index}-again"}
                        again = request_with_retries(
                            client, "POST", "/v1/posts", tally, json=body, headers=headers
                        )
                        assert again.status_code == 200, again.text
                        ids.add(again.json()["id"])
                    return index, ids

                with ThreadPoolExecutor(4) as pool:
                    answers = dict(pool.map(send, range(POSTS)))
                assert all(len(ids) == 1 for ids in answers.values()), "one external post, one id"

                def settled() -> bool:
                    open_jobs = count_rows(
                        database_url,
                        "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')" + NOT_SCHEDULES,
                    )[0][0]
                    drafted = count_rows(database_url, "SELECT count(*) FROM posts WHERE status = 'drafted'")[
                        0
                    ][0]
                    return bool(drafted == POSTS and open_jobs == 0)

                wait_until(settled, 300, "every post drafted")
        finally:
            stop.set()
            for worker in workers:
                worker.stop()
            api.stop()
        faults = dict(llm.fault_counts)
        chat_calls = len(llm.chat_requests)

    posts = count_rows(database_url, "SELECT external_id, status FROM posts")
    per_post = dict(count_rows(database_url, "SELECT post_id, count(*) FROM drafts GROUP BY post_id"))
    jobs = count_rows(database_url, "SELECT kind, status, attempts FROM jobs WHERE TRUE" + NOT_SCHEDULES)
    figures = {
        "db": db,
        "posts": POSTS,
        "requests_sent": tally["requests"],
        "client_retries": tally["retries"],
        "duplicates_sent": sum(plan != "once" for plan in plans),
        "worker_kills": kills,
        "llm_calls": chat_calls,
        "llm_faults": faults,
        "posts_stored": len(posts),
        "lost": POSTS - len({external for external, status in posts if status == "drafted"}),
        "duplicated": sum(count - 1 for count in per_post.values()),
        "jobs_not_done": sum(status != "done" for _, status, _ in jobs),
        "job_retries": sum(attempts - 1 for _, _, attempts in jobs),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps({"chaos_posts": figures}))
    assert len(posts) == POSTS and sorted(e for e, _ in posts) == sorted(f"chaos-{i}" for i in range(POSTS))
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and len(per_post) == POSTS, figures
    assert figures["jobs_not_done"] == 0, figures
    # the chaos happened: workers died mid-way and the model failed calls, which jobs retried
    assert kills == KILLS and sum(faults.values()) >= chat_calls * 0.1 and figures["job_retries"] > 0, figures


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_approvals_delivered_once_each_through_receiver_failures_and_service_kills(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    rng = random.Random(SEED)
    started = time.monotonic()
    with WebhookReceiver(fail_rate=0.5, seed=SEED) as receiver:
        env = base_env(tmp_path, database_url, REPLY_WORKERS="2", **FAST)
        service = ServiceProcess(env, log_path=tmp_path / "service.log").start(wait=False)
        service.wait_ready(RESTART_S)
        tally = {"requests": 0, "retries": 0}
        kills = 0
        killers: list[threading.Thread] = []
        approved: list[str] = []
        phases: dict[str, float] = {}
        try:
            with httpx.Client(base_url=service.url, timeout=30) as client:
                integration, agent, _ = setup_brand(client, receiver.url)
                post_ids = []
                for index in range(APPROVALS):
                    body = {
                        "brand": "acme",
                        "channel": "twitter",
                        "external_id": f"ok-{index}",
                        "text": f"Is order {index} on its way?",
                        "author": {"handle": f"fan{index}"},
                    }
                    made = client.post("/v1/posts", json=body, headers=integration)
                    assert made.status_code == 202, made.text
                    post_ids.append(made.json()["id"])

                def drafted() -> bool:
                    done = count_rows(database_url, "SELECT count(*) FROM posts WHERE status = 'drafted'")[0][
                        0
                    ]
                    return bool(done == APPROVALS)

                wait_until(drafted, 120, "every post drafted")
                phases = {"drafted_s": round(time.monotonic() - started, 1)}
                drafts = [client.get(f"/v1/posts/{p}", headers=integration).json()["draft"] for p in post_ids]
                kill_at = sorted(rng.sample(range(1, APPROVALS), 2))

                def kill_soon() -> None:  # while the next approval (and deliveries) are in flight
                    nonlocal kills
                    time.sleep(rng.uniform(0.0, 0.05))
                    service.kill()
                    kills += 1
                    service.start(wait=False).wait_ready(RESTART_S)

                for index, draft in enumerate(drafts):
                    if index in kill_at:
                        killers.append(threading.Thread(target=kill_soon))
                        killers[-1].start()
                    headers = {**agent, "If-Match": str(draft["version"]), "Idempotency-Key": f"ok-{index}"}
                    response = request_with_retries(
                        client, "POST", f"/v1/drafts/{draft['id']}/approve", tally, json={}, headers=headers
                    )
                    if response.status_code == 409:  # approved before the answer was lost, then no replay
                        now = client.get(f"/v1/drafts/{draft['id']}", headers=agent).json()
                        assert now["status"] == "approved", (response.text, now)
                    else:
                        assert response.status_code == 200, response.text
                    approved.append(draft["id"])

                phases["approved_s"] = round(time.monotonic() - started, 1)

                def all_delivered() -> bool:
                    return len(receiver.accepted("reply.approved")[0]) >= APPROVALS

                wait_until(all_delivered, 180, f"{APPROVALS} reply.approved events delivered")
                time.sleep(1.0)  # a redelivery still on its way is counted as the duplicate it is
        finally:
            for thread in killers:
                thread.join()
            service.stop()
        unique, duplicates = receiver.accepted("reply.approved")
        attempts = len(receiver.received)
        refused = sum(1 for delivery in receiver.received if delivery["status"] >= 300)
    delivered_drafts = [event["data"]["draft_id"] for event in unique.values()]
    figures = {
        "db": db,
        "approved": len(approved),
        "service_kills": kills,
        "approve_requests": tally["requests"],
        "delivery_attempts": attempts,
        "deliveries_refused": refused,
        "events_delivered": len(unique),
        "duplicates_delivered": duplicates,
        "missing": len(set(approved) - set(delivered_drafts)),
        **phases,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps({"chaos_approvals": figures}))
    assert kills == 2 and refused > attempts * 0.3, figures  # the chaos happened
    assert len(unique) == APPROVALS, figures  # exactly one distinct event id per approval
    assert sorted(delivered_drafts) == sorted(approved), figures  # no gaps, nothing extra
    statuses = count_rows(
        database_url, "SELECT status, count(*) FROM events WHERE type = 'reply.approved' GROUP BY status"
    )
    assert statuses == [("delivered", APPROVALS)], statuses
