"""triage: incidents, brand policy versions, post embeddings, holding replies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:18:41.857592

Written by hand: every change to an existing table is a plain ADD COLUMN / CREATE INDEX. A batch
("move and copy") rebuild of `posts` on SQLite would DROP the old table, and with foreign keys on that
deletes every draft through ON DELETE CASCADE.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("post_count", sa.Integer(), nullable=False),
        sa.Column("author_count", sa.Integer(), nullable=False),
        sa.Column("first_post_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_post_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_brand_status", "incidents", ["brand_id", "status", "last_post_at"])

    op.add_column("brands", sa.Column("policy_version", sa.Integer(), server_default="1", nullable=False))

    op.add_column("posts", sa.Column("policy_version", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # Alembic would ask for a table rebuild to add the constraint; SQLite takes it inline.
        op.execute(
            "ALTER TABLE posts ADD COLUMN incident_id VARCHAR(32)"
            " CONSTRAINT fk_posts_incident_id REFERENCES incidents (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("posts", sa.Column("incident_id", sa.String(length=32), nullable=True))
        op.create_foreign_key(
            "fk_posts_incident_id", "posts", "incidents", ["incident_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("posts", sa.Column("embedding", sa.LargeBinary(), nullable=True))
    op.add_column("posts", sa.Column("embedding_model", sa.String(length=100), nullable=True))
    op.add_column(
        "posts",
        sa.Column("holding_reply_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_posts_brand_posted", "posts", ["brand_id", "posted_at"])
    op.create_index("ix_posts_incident_id", "posts", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_posts_incident_id", table_name="posts")
    op.drop_index("ix_posts_brand_posted", table_name="posts")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_posts_incident_id", "posts", type_="foreignkey")
    for column in ("holding_reply_at", "embedding_model", "embedding", "incident_id", "policy_version"):
        op.drop_column("posts", column)
    op.drop_column("brands", "policy_version")
    op.drop_index("ix_incidents_brand_status", table_name="incidents")
    op.drop_table("incidents")
