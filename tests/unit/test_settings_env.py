"""Every variable of README's configuration table, set through the environment as an operator would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
PROMPTS = Path(__file__).resolve().parents[2] / "prompts"

_NEW_KEY = "bmV3LWtleS0wMTIzNDU2Nzg5LWFiY2RlZi1naGlqa2w="  # 32 bytes, url-safe base64: Fernet keys
_OLD_KEY = "b2xkLWtleS0wMTIzNDU2Nzg5LWFiY2RlZi1naGlqa2w="

# variable -> (value in the environment, settings attribute, value expected there)
CASES: dict[str, tuple[str, str, Any]] = {
    "REPLY_HOST": ("0.0.0.0", "host", "0.0.0.0"),
    "REPLY_PORT": ("8123", "port", 8123),
    "REPLY_DATA_DIR": ("/tmp/reply-data", "data_dir", Path("/tmp/reply-data")),
    "REPLY_DATABASE_URL": (
        "postgres://u:p@db/reply",
        "resolved_database_url",
        "postgresql+asyncpg://u:p@db/reply",
    ),
    "REPLY_VECTOR_BACKEND": ("local", "resolved_vector_backend", "local"),
    "REPLY_QDRANT_URL": ("http://qdrant:6333", "qdrant_url", "http://qdrant:6333"),
    "REPLY_QDRANT_API_KEY": ("qk", "qdrant_api_key", "qk"),
    "REPLY_QDRANT_PATH": (":memory:", "qdrant_path", Path(":memory:")),
    "REPLY_QDRANT_COLLECTION": ("kb_test", "qdrant_collection", "kb_test"),
    "REPLY_EMBEDDING_MODEL": ("/models/minilm", "embedding_model", "/models/minilm"),
    "REPLY_MULTILINGUAL_EMBEDDING_MODEL": ("", "multilingual_embedding_model", None),
    "REPLY_TRIAGE_REPLY_MODEL": ("true", "triage_reply_model", True),
    "REPLY_RETRIEVAL_SPARSE_WEIGHT": ("0.3", "retrieval_sparse_weight", 0.3),
    "REPLY_RETRIEVAL_VOTE_WEIGHT": ("0.05", "retrieval_vote_weight", 0.05),
    "REPLY_RETRIEVAL_CANDIDATES": ("60", "retrieval_candidates", 60),
    "REPLY_RETRIEVAL_RERANK_MODEL": ("off", "retrieval_rerank_model", None),
    "REPLY_RETRIEVAL_RERANK_DEPTH": ("6", "retrieval_rerank_depth", 6),
    "REPLY_LLM_BASE_URL": ("http://llm:8080/v1", "llm_base_url", "http://llm:8080/v1"),
    "REPLY_LLM_MODEL": ("qwen", "llm_model", "qwen"),
    "REPLY_LLM_API_KEY": ("sk-x", "llm_api_key", "sk-x"),
    "REPLY_LLM_TIMEOUT_S": ("12.5", "llm_timeout_s", 12.5),
    "REPLY_LLM_ATTEMPTS": ("5", "llm_attempts", 5),
    "REPLY_LLM_OUTPUT_MODE": ("json_object", "llm_output_mode", "json_object"),
    "REPLY_LLM_BREAKER_FAILURES": ("7", "llm_breaker_failures", 7),
    "REPLY_LLM_BREAKER_RESET_S": ("45", "llm_breaker_reset_s", 45.0),
    "REPLY_LLM_MAX_BACKOFF_S": ("2", "llm_max_backoff_s", 2.0),
    "REPLY_BOOTSTRAP_ADMIN_KEY": ("boot-key-123", "bootstrap_admin_key", "boot-key-123"),
    "REPLY_WORKERS": ("0", "workers", 0),
    "REPLY_JOB_LEASE_S": ("90", "job_lease_s", 90.0),
    "REPLY_JOB_POLL_S": ("0.25", "job_poll_s", 0.25),
    "REPLY_JOB_MAX_ATTEMPTS": ("4", "job_max_attempts", 4),
    "REPLY_JOB_BACKOFF_BASE_S": ("0.5", "job_backoff_base_s", 0.5),
    "REPLY_JOB_BACKOFF_CAP_S": ("60", "job_backoff_cap_s", 60.0),
    "REPLY_DB_POOL_SIZE": ("4", "db_pool_size", 4),
    "REPLY_DB_MAX_OVERFLOW": ("0", "db_max_overflow", 0),
    "REPLY_DB_POOL_TIMEOUT_S": ("5", "db_pool_timeout_s", 5.0),
    "REPLY_EMBED_BATCH_WAIT_MS": ("0.5", "embed_batch_wait_ms", 0.5),
    "REPLY_EMBED_BATCH_SIZE": ("16", "embed_batch_size", 16),
    "REPLY_WEBHOOK_ALLOW_LOOPBACK": ("true", "webhook_allow_loopback", True),
    "REPLY_WEBHOOK_ALLOWED_NETWORKS": (
        "10.0.0.0/8, 192.168.5.0/24,fd00::/8",
        "webhook_allowed_networks",
        ["10.0.0.0/8", "192.168.5.0/24", "fd00::/8"],
    ),
    "REPLY_SECRETS_KEY": (
        f"{_NEW_KEY}, {_OLD_KEY}",
        "secrets_key",
        [_NEW_KEY, _OLD_KEY],
    ),
    "REPLY_MAX_JSON_BYTES": ("2048", "max_json_bytes", 2048),
    "REPLY_MAX_UPLOAD_BYTES": ("4096", "max_upload_bytes", 4096),
    "REPLY_IDEMPOTENCY_TTL_S": ("3600", "idempotency_ttl_s", 3600),
    "REPLY_IDEMPOTENCY_LEASE_S": ("15", "idempotency_lease_s", 15.0),
    "REPLY_EVENT_RETRY_HOURS": ("48", "event_retry_hours", 48.0),
    "REPLY_READY_CACHE_S": ("2", "ready_cache_s", 2.0),
    "REPLY_RATE_LIMIT_PER_MINUTE": ("90", "rate_limit_per_minute", 90),
    "REPLY_REDIS_URL": ("redis://cache:6379/2", "redis_url", "redis://cache:6379/2"),
    "REPLY_SHUTDOWN_GRACE_S": ("7.5", "shutdown_grace_s", 7.5),
    "REPLY_RETRIEVAL_MIN_SCORE": ("0.55", "retrieval_min_score", 0.55),
    "REPLY_LOAD_DEMO_KNOWLEDGE": ("true", "load_demo_knowledge", True),
    "REPLY_DEMO_DIR": ("/srv/knowledge", "demo_dir", Path("/srv/knowledge")),
    "REPLY_RETENTION_INTERVAL_S": ("600", "retention_interval_s", 600.0),
    "REPLY_RETENTION_JOBS_DAYS": ("3", "retention_jobs_days", 3.0),
    "REPLY_RETENTION_EVENTS_DAYS": ("14", "retention_events_days", 14.0),
    "REPLY_ASSIGNMENT_INTERVAL_S": ("30", "assignment_interval_s", 30.0),
    "REPLY_FEED_DEFAULT_INTERVAL_S": ("900", "feed_default_interval_s", 900),
    "REPLY_FEED_MIN_INTERVAL_S": ("120", "feed_min_interval_s", 120),
    "REPLY_FEED_MAX_BYTES": ("65536", "feed_max_bytes", 65536),
    "REPLY_KNOWLEDGE_GAP_SIMILARITY": ("0.7", "knowledge_gap_similarity", 0.7),
    "REPLY_PROMPTS_DIR": (str(PROMPTS), "prompts_dir", PROMPTS),
    "REPLY_CONSOLE_SECRET": ("c" * 32, "console_secret", "c" * 32),
    "REPLY_CONSOLE_SECURE_COOKIE": ("true", "console_secure_cookie", True),
    "REPLY_CONSOLE_SESSION_HOURS": ("12", "console_session_hours", 12.0),
    "REPLY_LOG_LEVEL": ("DEBUG", "log_level", "DEBUG"),
    "REPLY_LOG_JSON": ("false", "log_json", False),
}


def documented_variables() -> set[str]:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `REPLY_")]
    return {name for row in rows for name in re.findall(r"REPLY_[A-Z0-9_]+", row)}


def test_every_documented_variable_is_covered() -> None:
    assert documented_variables() == set(CASES)


def test_every_documented_variable_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, (value, _, _) in CASES.items():
        if name != "REPLY_QDRANT_URL":  # URL and path together are refused; the URL is checked below
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for name, (_, attribute, expected) in CASES.items():
        if name != "REPLY_QDRANT_URL":
            assert getattr(settings, attribute) == expected, name
    monkeypatch.delenv("REPLY_QDRANT_PATH")
    monkeypatch.delenv("REPLY_VECTOR_BACKEND")  # an embedded backend with a URL is refused (below)
    monkeypatch.setenv("REPLY_QDRANT_URL", CASES["REPLY_QDRANT_URL"][0])
    assert Settings(_env_file=None).qdrant_url == CASES["REPLY_QDRANT_URL"][2]  # type: ignore[call-arg]


def test_vector_backend_follows_the_url_and_refuses_contradictions(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = Settings(_env_file=None, data_dir=Path("/srv/d"))  # type: ignore[call-arg]
    assert (plain.resolved_vector_backend, plain.resolved_vector_path) == ("edge", "/srv/d/vectors")
    local = Settings(_env_file=None, data_dir=Path("/srv/d"), vector_backend="local")  # type: ignore[call-arg]
    assert local.resolved_vector_path == "/srv/d/qdrant"  # qdrant-client's own format, its own folder
    monkeypatch.setenv("REPLY_QDRANT_URL", "http://qdrant:6333")
    assert Settings(_env_file=None).resolved_vector_backend == "server"  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_VECTOR_BACKEND", "edge")
    with pytest.raises(ValueError, match="REPLY_VECTOR_BACKEND=edge is embedded"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("REPLY_QDRANT_URL")
    monkeypatch.setenv("REPLY_VECTOR_BACKEND", "server")
    with pytest.raises(ValueError, match="REPLY_VECTOR_BACKEND=server needs REPLY_QDRANT_URL"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_VECTOR_BACKEND", "faiss")
    with pytest.raises(ValueError, match="vector_backend"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_single_network_and_a_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLY_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8")
    assert Settings(_env_file=None).webhook_allowed_networks == ["10.0.0.0/8"]  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network")
    with pytest.raises(ValueError, match="not-a-network"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_single_secrets_key_and_a_bad_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLY_SECRETS_KEY", _NEW_KEY)
    assert Settings(_env_file=None).secrets_key == [_NEW_KEY]  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_SECRETS_KEY", f"{_NEW_KEY},short")
    with pytest.raises(ValueError, match="REPLY_SECRETS_KEY entry 2") as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert _NEW_KEY not in str(caught.value)  # the keys are never echoed
