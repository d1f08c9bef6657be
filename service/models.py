"""Database tables (SQLAlchemy 2). Features read and write them through their services, never the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDict = dict[str, Any]


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, JSONDict: sa.JSON, list[Any]: sa.JSON}


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(8))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    business_hours: Mapped[JSONDict | None] = mapped_column(default=None)
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    sla_minutes: Mapped[JSONDict] = mapped_column(default=dict)
    voice: Mapped[JSONDict] = mapped_column(default=dict)
    channels: Mapped[JSONDict] = mapped_column(default=dict)
    settings: Mapped[JSONDict] = mapped_column(default=dict)
    webhook_url: Mapped[str | None] = mapped_column(sa.String(2048), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    webhook_disabled: Mapped[bool] = mapped_column(default=False)
    # Raised by every change that moves triage results (hours, holidays, SLA, timezone, reply policy);
    # posts remember the version they were triaged under, so re-triage knows what is stale.
    policy_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    brands: Mapped[list[Any]] = mapped_column(default=list)  # slugs, or ["*"] for all brands
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        sa.UniqueConstraint("brand_id", "channel", "external_id", name="uq_posts_external"),
        sa.Index("ix_posts_queue", "brand_id", "status", "due_at"),
        sa.Index("ix_posts_brand_posted", "brand_id", "posted_at"),
        sa.Index("ix_posts_author_recent", "brand_id", "author_handle", "received_at"),
        sa.Index("ix_posts_thread", "brand_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    brand_id: Mapped[str] = mapped_column(sa.ForeignKey("brands.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    author: Mapped[JSONDict] = mapped_column(default=dict)
    # author["handle"], as a column for the repeat-contact index (ix_posts_author_recent)
    author_handle: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    url: Mapped[str | None] = mapped_column(sa.String(2048), default=None)
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(20), default="accepted")
    triage: Mapped[JSONDict | None] = mapped_column(default=None)
    triage_version: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    priority_rank: Mapped[int] = mapped_column(default=9)  # 0 urgent .. 3 low, for the queue order
    policy_version: Mapped[int | None] = mapped_column(default=None)  # the brand's, when triaged
    incident_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL", name="fk_posts_incident_id"),
        default=None,
        index=True,
    )
    # The text's embedding (float32 bytes) and the model that made it, for grouping posts into incidents
    embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary, default=None, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(sa.String(100), default=None)
    holding_reply_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    published: Mapped[JSONDict | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Incident(Base):
    """Posts from many authors about the same thing (an outage), grouped so the team answers once."""

    __tablename__ = "incidents"
    __table_args__ = (sa.Index("ix_incidents_brand_status", "brand_id", "status", "last_post_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    brand_id: Mapped[str] = mapped_column(sa.ForeignKey("brands.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open, closed, merged
    merged_into: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    post_count: Mapped[int] = mapped_column(default=0)
    author_count: Mapped[int] = mapped_column(default=0)
    first_post_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (sa.UniqueConstraint("post_id", "generation", name="uq_drafts_generation"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    post_id: Mapped[str] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    generation: Mapped[int] = mapped_column(default=1)
    text: Mapped[str] = mapped_column(sa.Text)
    language: Mapped[str] = mapped_column(sa.String(8))
    sources: Mapped[list[Any]] = mapped_column(default=list)
    confidence: Mapped[float] = mapped_column(default=0.0)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    instruction: Mapped[str | None] = mapped_column(sa.Text, default=None)
    reject_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
    decided_by: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    # Which prompt templates wrote it (a hash), what the checks found (flag, spans, detail), what the
    # model cost (tokens, latency, calls, output mode), the text as generated (before any edit) and the
    # agent's edit of it (diff, edit distance) for analytics and learning.
    prompt_version: Mapped[str | None] = mapped_column(sa.String(40), default=None)
    checks: Mapped[list[Any] | None] = mapped_column(default=None)
    usage: Mapped[JSONDict | None] = mapped_column(default=None)
    tokens: Mapped[int] = mapped_column(default=0, server_default="0")
    generated_text: Mapped[str | None] = mapped_column(sa.Text, default=None)
    edit: Mapped[JSONDict | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (sa.UniqueConstraint("brand_id", "filename", name="uq_documents_filename"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    brand_id: Mapped[str] = mapped_column(sa.ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(500))
    kind: Mapped[str | None] = mapped_column(sa.String(8), default=None)
    content_type: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    content: Mapped[bytes | None] = mapped_column(sa.LargeBinary, default=None, deferred=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="processing")
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    version: Mapped[int] = mapped_column(default=1)  # the version being processed or last processed
    active_version: Mapped[int | None] = mapped_column(default=None)  # the version searches see
    chunks_total: Mapped[int] = mapped_column(default=0)
    chunks_done: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """The outbox: written in the same transaction as the change it reports, delivered by a job."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_post_order", "brand_id", "post_id", "created_at"),
        sa.Index("ix_events_brand_created", "brand_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: "msg_" + new_id())
    brand_id: Mapped[str] = mapped_column(sa.ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    # the post the event is about: its events are delivered in the order they were written
    post_id: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    type: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[JSONDict] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    # The delivery log (GET /v1/brands/{slug}/deliveries): the receiver's last HTTP status (None: no
    # answer), when the next attempt is due while pending, when an admin last replayed it (the retry
    # window then runs from there).
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    replayed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_ready", "status", "run_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[JSONDict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    locked_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(300))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default="in_flight")
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary, default=None)
    response_headers: Mapped[JSONDict | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    # While in flight: the request that holds the key renews this; once it passes, a retry takes over.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    owner: Mapped[str | None] = mapped_column(sa.String(32), default=None)  # the holding request's token
