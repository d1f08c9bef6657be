"""HTTP routes for knowledge documents (admin) and knowledge search (admin, agent)."""

from __future__ import annotations

from litestar import Request, delete, get, post
from litestar.params import Parameter

from service import pagination
from service.auth.guards import allow
from service.auth.keys import Principal
from service.brands.service import get_by_slug
from service.errors import UnsupportedMediaType
from service.knowledge import retrieval, service
from service.knowledge.schemas import DocumentList, DocumentOut, SearchHitOut, SearchOut
from service.runtime import Runtime

BASE = "/v1/brands/{slug:str}"
# Larger than the other lists' default: callers that listed every document in one call keep doing so for
# any brand of ordinary size.
DOCUMENTS_DEFAULT_LIMIT = 200


@post(
    BASE + "/documents", guards=allow("admin"), status_code=202, tags=["knowledge"], opt={"multipart": True}
)
async def upload_document(slug: str, request: Request, runtime: Runtime, principal: Principal) -> DocumentOut:
    """Multipart upload: `file` (FAQ JSON/CSV, Markdown, text, HTML, PDF) and optional `kind` (faq|doc)."""
    principal.ensure_brand(slug)
    if request.content_type[0] != "multipart/form-data":
        raise UnsupportedMediaType("upload a document as multipart/form-data with a 'file' field")
    filename, data, content_type, kind = await service.read_upload(await request.form())
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        doc = await service.upload(
            session,
            brand,
            filename,
            data,
            content_type=content_type,
            kind=kind,
            max_bytes=runtime.settings.max_upload_bytes,
        )
        return service.to_out(doc)


@get(BASE + "/documents", guards=allow("admin"), tags=["knowledge"])
async def list_documents(
    slug: str,
    runtime: Runtime,
    principal: Principal,
    limit: int = Parameter(default=DOCUMENTS_DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
    cursor: str | None = Parameter(default=None, max_length=200, description="next_cursor of the last page"),
) -> DocumentList:
    """The brand's documents, oldest first; `next_cursor` when there are more."""
    principal.ensure_brand(slug)
    after = pagination.decode_cursor(cursor) if cursor else None
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        rows = await service.list_documents(session, brand, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return DocumentList(items=[service.to_out(d) for d in rows], next_cursor=next_cursor)


@get(BASE + "/documents/{document_id:str}", guards=allow("admin"), tags=["knowledge"])
async def get_document(slug: str, document_id: str, runtime: Runtime, principal: Principal) -> DocumentOut:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        return service.to_out(await service.get(session, brand, document_id))


@delete(BASE + "/documents/{document_id:str}", guards=allow("admin"), tags=["knowledge"])
async def delete_document(slug: str, document_id: str, runtime: Runtime, principal: Principal) -> None:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        await service.delete(session, brand, document_id)


@get(BASE + "/knowledge/search", guards=allow("admin", "agent"), tags=["knowledge"])
async def search_knowledge(
    slug: str,
    runtime: Runtime,
    principal: Principal,
    q: str = Parameter(min_length=1, max_length=2000),
    limit: int = Parameter(default=5, ge=1, le=50),
) -> SearchOut:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
    hits = await retrieval.search(runtime, brand.id, q, limit=limit)
    return SearchOut(
        hits=[
            SearchHitOut(
                source_id=h.source_id,
                kind=h.kind,  # type: ignore[arg-type]
                title=h.title,
                text=h.text,
                score=h.score,
                url=h.url,
                page=h.page,
            )
            for h in hits
        ]
    )
