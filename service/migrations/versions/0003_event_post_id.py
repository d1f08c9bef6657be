"""events: the post an event is about, so one post's events are delivered in the order they happened

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00

Written by hand, like 0002: a plain ADD COLUMN and CREATE INDEX. Events written before it carry no post
id and are delivered as before, in no particular order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("post_id", sa.String(length=32), nullable=True))
    op.create_index("ix_events_post_order", "events", ["brand_id", "post_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_events_post_order", table_name="events")
    op.drop_column("events", "post_id")
