"""drafting: prompt version, checks, model usage, the generated text and the agent's edit on drafts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:30:00

Plain ADD COLUMNs (no table rebuild on SQLite); the index serves the monthly token budget per brand.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("drafts", sa.Column("prompt_version", sa.String(length=40), nullable=True))
    op.add_column("drafts", sa.Column("checks", sa.JSON(), nullable=True))
    op.add_column("drafts", sa.Column("usage", sa.JSON(), nullable=True))
    op.add_column("drafts", sa.Column("tokens", sa.Integer(), server_default="0", nullable=False))
    op.add_column("drafts", sa.Column("generated_text", sa.Text(), nullable=True))
    op.add_column("drafts", sa.Column("edit", sa.JSON(), nullable=True))
    op.create_index("ix_drafts_created_at", "drafts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_drafts_created_at", table_name="drafts")
    for column in ("edit", "generated_text", "tokens", "usage", "checks", "prompt_version"):
        op.drop_column("drafts", column)
