"""Loading the demo brands in knowledge/ at startup (make run): each folder is a brand with a brand.json
and its knowledge files. Idempotent: unchanged files are not indexed again."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import sqlalchemy as sa
import structlog

from service.brands.schemas import BrandIn
from service.brands.service import create_brand
from service.errors import Conflict
from service.jobs import queue
from service.knowledge import service
from service.models import Brand
from service.runtime import Runtime

log = structlog.get_logger("service.demo")


async def load_demo_knowledge(runtime: Runtime, directory: Path) -> int:
    """Returns the number of files handed to indexing."""
    count = 0
    brand_dirs = sorted(p for p in directory.iterdir() if (p / "brand.json").is_file())  # noqa: ASYNC240
    for brand_dir in brand_dirs:
        spec = BrandIn.model_validate(json.loads((brand_dir / "brand.json").read_text("utf-8")))
        async with runtime.transaction() as session:
            if not await session.scalar(sa.select(Brand.id).where(Brand.slug == spec.slug)):
                with contextlib.suppress(Conflict):  # another replica made it first
                    await create_brand(session, runtime.settings, runtime.secrets, None, spec)
        for path in sorted(brand_dir.iterdir()):
            if path.name == "brand.json" or not path.is_file() or path.name.startswith("."):
                continue
            kind = "faq" if ".faq." in path.name else None
            async with runtime.transaction() as session:
                brand = await session.scalar(sa.select(Brand).where(Brand.slug == spec.slug))
                assert brand is not None
                await service.upload(
                    session,
                    brand,
                    path.name,
                    path.read_bytes(),
                    content_type=None,
                    kind=kind,
                    max_bytes=runtime.settings.max_upload_bytes,
                )
            count += 1
        log.info("demo brand loaded", brand=spec.slug)
    queue.notify()
    return count
