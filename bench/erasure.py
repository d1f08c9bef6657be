"""Erasure benchmark: how long one author's erasure job takes as the tables around it grow (the job scans
the brand's audit entries and every live Idempotency-Key answer in Python, batch by batch).

Seeds a SQLite database (or REPLY_BENCH_DATABASE_URL) directly through the models: the author's posts
with a draft each, other authors' posts, stored idempotent answers and audit entries; then runs the
`erase_author` job once through a worker and prints one JSON line per size.

Run from the project root: `.venv/bin/python bench/erasure.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.auth.keys import Principal  # noqa: E402
from service.config import Settings  # noqa: E402
from service.models import AuditEntry, Brand, Draft, IdempotencyRecord, Post, utcnow  # noqa: E402
from service.privacy import erasure  # noqa: E402
from service.runtime import start_runtime  # noqa: E402
from service.worker import WorkerPool  # noqa: E402


async def run(theirs: int, others: int, records: int, audits: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp),
            database_url=os.environ.get("REPLY_BENCH_DATABASE_URL"),
            qdrant_path=":memory:",
            workers=0,
            multilingual_embedding_model="",
        )
        runtime = await start_runtime(settings)
        try:
            async with runtime.transaction() as session:
                brand = Brand(slug="shop", name="Shop", language="en", timezone="UTC")
                session.add(brand)
                await session.flush()
                for i in range(theirs + others):
                    handle = "erase_me" if i < theirs else f"other_{i}"
                    post = Post(
                        brand_id=brand.id,
                        channel="twitter",
                        external_id=f"e-{i}",
                        text=f"post {i} about parcel {i}",
                        author={"handle": handle},
                    )
                    session.add(post)
                    await session.flush()
                    session.add(Draft(post_id=post.id, text=f"reply {i}", language="en"))
                for i in range(records):
                    body = json.dumps({"id": f"x{i}", "status": "accepted"}).encode()
                    session.add(
                        IdempotencyRecord(
                            scope="s",
                            key=f"k{i}",
                            request_hash="h",
                            state="done",
                            response_status=202,
                            response_body=body,
                            expires_at=utcnow(),
                        )
                    )
                for i in range(audits):
                    session.add(
                        AuditEntry(
                            brand_id=brand.id,
                            action="edit",
                            target=f"draft:d{i}",
                            before={"text": f"old {i}"},
                            after={"text": f"new {i}"},
                        )
                    )
                job = await erasure.request(
                    session, Principal("bench", "admin", None, "bench"), brand, "twitter", "@Erase_Me"
                )
                erasure_id = job.id
            pool = WorkerPool(runtime, 1)
            started = time.perf_counter()
            while await pool.run_once():
                pass
            elapsed = time.perf_counter() - started
            async with runtime.sessionmaker() as session:
                row = await session.get(erasure.Erasure, erasure_id)
                assert row is not None and row.status == "done" and row.posts_deleted == theirs
        finally:
            await runtime.close()
    return {
        "bench": "erasure",
        "database": runtime.engine.dialect.name,
        "their_posts": theirs,
        "other_posts": others,
        "idempotency_records": records,
        "audit_entries": audits,
        "erase_ms": round(elapsed * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [(20, 200, 200, 200)] if args.quick else [(20, 200, 200, 200), (200, 5000, 5000, 5000)]
    for size in sizes:
        print(json.dumps(asyncio.run(run(*size))), flush=True)


if __name__ == "__main__":
    main()
