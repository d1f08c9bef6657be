"""Knowledge documents and past answers: upload, durable indexing with progress, atomic replace, delete."""

from __future__ import annotations

import asyncio
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from litestar.datastructures import FormMultiDict, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.embedder import Embedder, aencode
from service.adapters.vectors import VectorPoint, point_id
from service.errors import InvalidDocument, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from service.jobs import queue
from service.knowledge import sparse
from service.knowledge.chunking import chunk_document
from service.knowledge.parsers import ParsedDocument, ParseLimits, detect_format, parse_document
from service.knowledge.schemas import DocumentOut
from service.models import Brand, Document, Draft, Post
from service.runtime import Runtime
from service.text import strip_handles_and_links

EMBED_BATCH = 64


MAX_FILENAME_CHARS = 500


def safe_filename(raw: str) -> str:
    """The name an upload is stored under: its last path segment (a client path, `../../etc/passwd`,
    `C:\\x\\y.txt` or `/abs/name` gives its base name), without control or invisible formatting
    characters (a right-to-left override can disguise an extension), trimmed. The name is never a path on
    disk; it names the document (the same name replaces it) and prefixes its source ids. A NUL, or nothing
    usable left (`..`, `.`, empty), is a 422 naming `file`."""
    if "\x00" in raw:
        raise InvalidInput(
            "the file's name holds a NUL character",
            errors=[{"field": "file", "message": "NUL character in filename"}],
        )
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    if name in ("", ".", ".."):
        raise InvalidInput(
            "the uploaded file needs a filename (it names the document; the same name replaces it)",
            errors=[{"field": "file", "message": "filename missing or not a file name"}],
        )
    return name[:MAX_FILENAME_CHARS]


def to_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        filename=doc.filename,
        kind=doc.kind,
        status=doc.status,  # type: ignore[arg-type]
        version=doc.version,
        chunks=doc.chunks_total if doc.status == "ready" else doc.chunks_done,
        chunks_done=doc.chunks_done,
        chunks_total=doc.chunks_total,
        error=doc.error,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


async def read_upload(form: FormMultiDict) -> tuple[str, bytes, str | None, str | None]:
    """A multipart upload's `file` and optional `kind` (faq|doc), checked: (filename, bytes, content
    type, kind). The filename names the document (the same name replaces it), so it is required."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput(
            "multipart field 'file' is missing", errors=[{"field": "file", "message": "required"}]
        )
    kind = form.get("kind") or None
    if kind not in (None, "faq", "doc"):
        raise InvalidInput("kind must be 'faq' or 'doc'", errors=[{"field": "kind", "message": "faq or doc"}])
    if "\x00" in (upload.content_type or ""):
        raise InvalidInput(
            "the file's content type holds a NUL character",
            errors=[{"field": "file", "message": "NUL character in content type"}],
        )
    filename = safe_filename(upload.filename or "")
    return filename, await upload.read(), upload.content_type, str(kind) if kind else None


async def upload(
    session: AsyncSession,
    brand: Brand,
    filename: str,
    data: bytes,
    *,
    content_type: str | None,
    kind: str | None,
    max_bytes: int,
) -> Document:
    """Store the file and its indexing job in one transaction. The same filename replaces the old version
    (searches keep seeing the old one until the new one is fully indexed); the same content is a no-op."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"file is {len(data)} bytes; the limit is {max_bytes}")
    try:
        detect_format(filename, data, content_type)
    except InvalidDocument as exc:
        raise UnsupportedMediaType(exc.detail) from exc
    digest = hashlib.sha256(data).hexdigest()
    doc = await session.scalar(
        sa.select(Document).where(Document.brand_id == brand.id, Document.filename == filename)
    )
    if doc is not None and doc.sha256 == digest and doc.kind == kind and doc.status != "failed":
        return doc
    if doc is None:
        doc = Document(brand_id=brand.id, filename=filename, sha256=digest, version=1)
        session.add(doc)
    else:
        doc.version += 1
        doc.sha256 = digest
    doc.kind, doc.content_type, doc.content = kind, content_type, data
    doc.status, doc.error, doc.chunks_done, doc.chunks_total = "processing", None, 0, 0
    await session.flush()
    queue.enqueue(session, "index_document", {"document_id": doc.id, "version": doc.version}, max_attempts=5)
    return doc


async def get(session: AsyncSession, brand: Brand, document_id: str) -> Document:
    doc = await session.get(Document, document_id)
    if doc is None or doc.brand_id != brand.id:
        raise NotFound(f"no document '{document_id}' in brand '{brand.slug}'")
    return doc


async def list_documents(
    session: AsyncSession, brand: Brand, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Document]:
    """Oldest first, by (created_at, id); `after` is the last (created_at, id) of the previous page."""
    query = sa.select(Document).where(Document.brand_id == brand.id)
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(Document.created_at > at, sa.and_(Document.created_at == at, Document.id > last_id))
        )
    rows = await session.scalars(query.order_by(Document.created_at, Document.id).limit(limit))
    return list(rows)


async def delete(session: AsyncSession, brand: Brand, document_id: str) -> None:
    """The row goes now (searches stop seeing its hits at once); its points go in a durable job."""
    doc = await get(session, brand, document_id)
    await session.delete(doc)
    queue.enqueue(session, "delete_vectors", {"brand_id": brand.id, "document_id": document_id})


@dataclass(frozen=True)
class Entry:
    """One retrievable piece of knowledge; indexed once per text in `embed_texts` (an FAQ entry by its
    question, which matches posts phrased alike, and by question and answer, which matches posts that
    use the answer's words), and found by its best one."""

    source_id: str
    kind: str
    title: str
    text: str
    embed_texts: tuple[str, ...]
    url: str | None = None
    page: int | None = None
    question: str | None = None


def entries(parsed: ParsedDocument, filename: str) -> list[Entry]:
    """FAQ entries, then the prose chunks (an FAQ document's intro and non-question sections too)."""
    found = [
        Entry(
            source_id=faq.source_id,
            kind="faq",
            title=faq.question,
            text=faq.answer,
            embed_texts=(faq.question, f"{faq.question}\n{faq.answer}"),
            url=faq.url,
            question=faq.question,
        )
        for faq in parsed.faqs
    ]
    found.extend(
        Entry(
            source_id=f"{filename}#{chunk.ordinal}",
            kind="doc",
            title=chunk.title,
            text=chunk.text,
            embed_texts=(f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text,),
            page=chunk.page,
        )
        for chunk in chunk_document(parsed)
    )
    return found


async def embed_points(
    models: dict[str, Embedder], items: list[tuple[str, str, dict[str, Any]]]
) -> list[VectorPoint]:
    """Points for (id, text, payload) items: each text embedded by every model (the query decides which
    one it searches with) and turned into keyword terms."""
    texts = [text for _, text, _ in items]
    dense = {name: await aencode(model, texts) for name, model in models.items()}
    return [
        VectorPoint(
            id=pid,
            vectors={name: rows[i] for name, rows in dense.items()},
            payload=payload,
            sparse=sparse.document_vector(text),
        )
        for i, (pid, text, payload) in enumerate(items)
    ]


def entry_items(
    batch: list[Entry], id_prefix: tuple[str, ...], base: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            point_id(*id_prefix, entry.source_id, str(i)),
            text,
            {
                **base,
                "kind": entry.kind,
                "source_id": entry.source_id,
                "title": entry.title,
                "text": entry.text,
                "url": entry.url,
                "page": entry.page,
                "question": entry.question,
            },
        )
        for entry in batch
        for i, text in enumerate(entry.embed_texts)
    ]


async def index_document(runtime: Runtime, lease: queue.Lease) -> None:
    document_id, version = lease.payload["document_id"], int(lease.payload["version"])
    async with runtime.transaction() as session:
        doc = await session.get(Document, document_id, options=[sa.orm.undefer(Document.content)])
        if doc is None or doc.version != version:
            # Deleted, or replaced by a newer upload whose own job will index it.
            await queue.complete(session, lease)
            return
        brand_id, filename, data = doc.brand_id, doc.filename, doc.content or b""
        content_type, kind = doc.content_type, doc.kind
    try:
        parsed = await asyncio.to_thread(
            parse_document, filename, data, content_type=content_type, kind=kind, limits=ParseLimits()
        )
        found = entries(parsed, filename)
        if not found:
            raise InvalidDocument("the document has no text to index")
    except InvalidDocument as exc:
        async with runtime.transaction() as session:
            await session.execute(
                sa.update(Document)
                .where(Document.id == document_id, Document.version == version)
                .values(status="failed", error=exc.detail, content=None)  # the bytes are not kept
            )
            await queue.complete(session, lease)
        return

    async with runtime.transaction() as session:
        await session.execute(
            sa.update(Document)
            .where(Document.id == document_id, Document.version == version)
            .values(kind=parsed.kind, chunks_total=len(found), chunks_done=0)
        )
    models = runtime.retrieval_models
    base = {"brand_id": brand_id, "document_id": document_id, "version": version}
    for start in range(0, len(found), EMBED_BATCH):
        batch = found[start : start + EMBED_BATCH]
        items = entry_items(batch, (document_id, str(version)), base)
        await runtime.vectors.upsert(await embed_points(models, items))
        async with runtime.transaction() as session:
            await session.execute(
                sa.update(Document)
                .where(Document.id == document_id, Document.version == version)
                .values(chunks_done=start + len(batch))
            )
            await queue.extend(session, lease, runtime.settings.job_lease_s)

    # The flip: one UPDATE makes the new version the one searches see. The upload's bytes go with it:
    # nothing reads them again (a replacement is a new upload), so they need not sit in the database.
    async with runtime.transaction() as session:
        result = await session.execute(
            sa.update(Document)
            .where(Document.id == document_id, Document.version == version)
            .values(status="ready", active_version=version, error=None, content=None)
        )
        flipped = bool(getattr(result, "rowcount", 0))
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)
    if flipped:
        await runtime.vectors.delete(brand_id, document_id=document_id, keep_version=version)


async def delete_vectors(runtime: Runtime, lease: queue.Lease) -> None:
    await runtime.vectors.delete(lease.payload["brand_id"], document_id=lease.payload["document_id"])
    async with runtime.transaction() as session:
        await queue.complete(session, lease)


def past_answer_source_id(draft_id: str) -> str:
    return f"past:{draft_id}"


def past_answer_items(
    draft_id: str, post_text: str, reply_text: str, payload: dict[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """A past answer's points: the customer's post (found by posts asking alike) and the reply (found by
    posts using its words); handles and URLs stripped as for queries."""
    return [
        (point_id("past_answer", draft_id, part), strip_handles_and_links(text), {**payload, "part": part})
        for part, text in (("post", post_text), ("reply", reply_text))
    ]


def answered_with(sources: list[Any], own: str) -> str:
    """The source an approved reply was grounded on (what it votes for); itself when it had none."""
    for source in sources or []:
        if isinstance(source, dict) and source.get("source_id"):
            return str(source["source_id"])
    return own


async def learn_answer(runtime: Runtime, lease: queue.Lease) -> None:
    """An approved reply becomes a past answer, indexed by the customer's post that it answered and by the
    reply itself; it votes for the source the reply was grounded on (ranking.rank)."""
    draft_id = lease.payload["draft_id"]
    async with runtime.transaction() as session:
        row = (
            await session.execute(
                sa.select(Draft, Post).join(Post, Post.id == Draft.post_id).where(Draft.id == draft_id)
            )
        ).first()
    if row is None:
        async with runtime.transaction() as session:
            await queue.complete(session, lease)
        return
    draft, post = row
    source_id = past_answer_source_id(draft.id)
    payload = {
        "brand_id": post.brand_id,
        "kind": "past_answer",
        "source_id": source_id,
        "group": answered_with(draft.sources, source_id),
        "title": post.text[:120],
        "text": draft.text,
        "question": post.text,
        "language": draft.language,
        "post_id": post.id,
    }
    items = past_answer_items(draft.id, post.text, draft.text, payload)
    models = runtime.retrieval_models
    await runtime.vectors.upsert(await embed_points(models, items))
    async with runtime.transaction() as session:
        await queue.complete(session, lease)
