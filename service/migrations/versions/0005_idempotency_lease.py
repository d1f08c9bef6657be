"""idempotency: a lease and an owner for in-flight keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:15:00

A key whose request died with its process was stuck `in_flight` until it expired (24 h). The request now
holds the key under a short lease it renews while it runs; a retry after the lease takes the key over.
Plain ADD COLUMNs (see 0002 on why no batch rebuilds); no import of the live models (as 0001, 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("idempotency_keys", sa.Column("owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("idempotency_keys", "owner")
    op.drop_column("idempotency_keys", "lease_until")
