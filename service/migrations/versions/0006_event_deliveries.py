"""events: the delivery log (last status code, next attempt, replay time) and its newest-first index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:30:00

An event row is its delivery record: `attempts`, `status` and `last_error` were there; the receiver's last
HTTP status, when the next attempt is due and when an admin last replayed it are new. Plain ADD COLUMNs
(see 0002 on why no batch rebuilds); no import of the live models (as 0001, 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("last_status_code", sa.Integer(), nullable=True))
    op.add_column("events", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("events", sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_events_brand_created", "events", ["brand_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_brand_created", table_name="events")
    op.drop_column("events", "replayed_at")
    op.drop_column("events", "next_attempt_at")
    op.drop_column("events", "last_status_code")
