"""privacy: the audit log, author erasures, webhook secrets encrypted at rest

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:30:00

Two new tables, and on PostgreSQL `brands.webhook_secret` widened to text (a Fernet token of a 64-byte
secret is longer than the old 200 characters; SQLite does not enforce lengths, and no batch rebuild is
done there, see 0002). Existing plaintext `whsec_` secrets are encrypted with the newest key when one is
available: the service passes its key ring (`secrets_keys` in the Alembic config's attributes); a plain
`alembic upgrade` reads REPLY_SECRETS_KEY. Without a key they stay as they are and the service encrypts
them at its next start (service/crypto.py rotate_secrets). No import of the live models (as 0001).
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys() -> list[str]:
    given = context.config.attributes.get("secrets_keys")
    if given:
        return list(given)
    raw = os.environ.get("REPLY_SECRETS_KEY", "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "brand_id",
            sa.String(length=32),
            sa.ForeignKey("brands.id", ondelete="CASCADE", name="fk_audit_brand_id"),
            nullable=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_id", sa.String(length=32), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_index("ix_audit_brand_id", "audit_log", ["brand_id", "id"])
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "brand_id",
            sa.String(length=32),
            sa.ForeignKey("brands.id", ondelete="CASCADE", name="fk_erasures_brand_id"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=True),
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("posts_deleted", sa.Integer(), nullable=False),
        sa.Column("post_ids", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_erasures_brand_id", "erasures", ["brand_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.alter_column("brands", "webhook_secret", type_=sa.Text(), existing_nullable=True)
    keys = _keys()
    if not keys:
        return
    from cryptography.fernet import Fernet, MultiFernet

    ring = MultiFernet([Fernet(k) for k in keys])
    brands = sa.table("brands", sa.column("id", sa.String), sa.column("webhook_secret", sa.Text))
    rows = bind.execute(
        sa.select(brands.c.id, brands.c.webhook_secret).where(
            brands.c.webhook_secret.like("whsec\\_%", escape="\\")
        )
    ).all()
    for brand_id, secret in rows:
        bind.execute(
            sa.update(brands)
            .where(brands.c.id == brand_id)
            .values(webhook_secret=ring.encrypt(secret.encode()).decode())
        )


def downgrade() -> None:
    keys = _keys()
    bind = op.get_bind()
    if keys:
        from cryptography.fernet import Fernet, MultiFernet

        ring = MultiFernet([Fernet(k) for k in keys])
        brands = sa.table("brands", sa.column("id", sa.String), sa.column("webhook_secret", sa.Text))
        rows = bind.execute(
            sa.select(brands.c.id, brands.c.webhook_secret).where(brands.c.webhook_secret.isnot(None))
        ).all()
        for brand_id, stored in rows:
            if not stored.startswith("whsec_"):
                plain = ring.decrypt(stored.encode()).decode()
                bind.execute(sa.update(brands).where(brands.c.id == brand_id).values(webhook_secret=plain))
    if bind.dialect.name == "postgresql":
        op.alter_column("brands", "webhook_secret", type_=sa.String(length=200), existing_nullable=True)
    op.drop_index("ix_erasures_brand_id", table_name="erasures")
    op.drop_table("erasures")
    op.drop_index("ix_audit_brand_id", table_name="audit_log")
    op.drop_table("audit_log")
