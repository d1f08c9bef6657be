"""posts: the author's handle as an indexed column, a thread index; jobs: NOTIFY on PostgreSQL

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 00:30:00

The repeat-contact check read every post of the brand's last 48 hours to count one author's; it now reads
that author's by `ix_posts_author_recent` (brand, handle, received_at). The handle is copied out of the
`author` JSON at accept and here for the posts already stored. A thread's parent is found by
(brand, external_id) without the channel, which the unique constraint's index did not serve.

On PostgreSQL a statement trigger sends NOTIFY reply_jobs when jobs are inserted: delivered at commit,
once per transaction, so workers in other processes start a new job at once instead of at their next poll.
No import of the live models (as 0001, 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION reply_jobs_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('reply_jobs', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.add_column("posts", sa.Column("author_handle", sa.String(length=100), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        op.execute("UPDATE posts SET author_handle = LEFT(author::json ->> 'handle', 100)")
        op.execute(NOTIFY_FUNCTION)
        op.execute(
            "CREATE TRIGGER jobs_notify AFTER INSERT ON jobs "
            "FOR EACH STATEMENT EXECUTE FUNCTION reply_jobs_notify()"
        )
    else:
        op.execute("UPDATE posts SET author_handle = substr(json_extract(author, '$.handle'), 1, 100)")
    op.create_index("ix_posts_author_recent", "posts", ["brand_id", "author_handle", "received_at"])
    op.create_index("ix_posts_thread", "posts", ["brand_id", "external_id"])


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS jobs_notify ON jobs")
        op.execute("DROP FUNCTION IF EXISTS reply_jobs_notify()")
    op.drop_index("ix_posts_thread", table_name="posts")
    op.drop_index("ix_posts_author_recent", table_name="posts")
    op.drop_column("posts", "author_handle")
