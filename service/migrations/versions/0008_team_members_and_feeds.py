"""team members with shifts, post assignees, feeds

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-02 00:30:00

Plain CREATE TABLE / ADD COLUMN (see 0002 on why no batch rebuilds); no import of the live models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("weekly_shifts", sa.JSON(), nullable=True),
        sa.Column("shifts", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand_id", "key_id", name="uq_members_key"),
    )
    op.create_index("ix_members_brand_id", "members", ["brand_id"])

    op.create_table(
        "feeds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("poll_job_id", sa.BigInteger(), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("posts_created", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("brand_id", "url", name="uq_feeds_url"),
    )
    op.create_index("ix_feeds_brand_id", "feeds", ["brand_id"])

    if op.get_bind().dialect.name == "sqlite":
        # Alembic would ask for a table rebuild to add the constraint; SQLite takes it inline.
        op.execute(
            "ALTER TABLE posts ADD COLUMN assignee_id VARCHAR(32)"
            " CONSTRAINT fk_posts_assignee_id REFERENCES members (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("posts", sa.Column("assignee_id", sa.String(length=32), nullable=True))
        op.create_foreign_key(
            "fk_posts_assignee_id", "posts", "members", ["assignee_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("posts", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_posts_assignee_id", "posts", ["assignee_id"])


def downgrade() -> None:
    op.drop_index("ix_posts_assignee_id", table_name="posts")
    op.drop_column("posts", "assigned_at")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_posts_assignee_id", "posts", type_="foreignkey")
    op.drop_column("posts", "assignee_id")
    op.drop_index("ix_feeds_brand_id", table_name="feeds")
    op.drop_table("feeds")
    op.drop_index("ix_members_brand_id", table_name="members")
    op.drop_table("members")
