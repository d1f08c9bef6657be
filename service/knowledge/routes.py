"""HTTP routes for knowledge documents (admin) and knowledge search (admin, agent)."""

from __future__ import annotations

from litestar import Request, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter

from service.audit import service as audit
from service.auth.guards import allow
from service.auth.keys import Principal
from service.brands.service import get_by_slug
from service.errors import InvalidInput, UnsupportedMediaType
from service.knowledge import retrieval, service
from service.knowledge.schemas import DocumentList, DocumentOut, SearchHitOut, SearchOut
from service.runtime import Runtime

BASE = "/v1/brands/{slug:str}"


@post(
    BASE + "/documents", guards=allow("admin"), status_code=202, tags=["knowledge"], opt={"multipart": True}
)
async def upload_document(slug: str, request: Request, runtime: Runtime, principal: Principal) -> DocumentOut:
    """Multipart upload: `file` (FAQ JSON/CSV, Markdown, text, HTML, PDF) and optional `kind` (faq|doc)."""
    principal.ensure_brand(slug)
    if request.content_type[0] != "multipart/form-data":
        raise UnsupportedMediaType("upload a document as multipart/form-data with a 'file' field")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput(
            "multipart field 'file' is missing", errors=[{"field": "file", "message": "required"}]
        )
    kind = form.get("kind") or None
    if kind not in (None, "faq", "doc"):
        raise InvalidInput("kind must be 'faq' or 'doc'", errors=[{"field": "kind", "message": "faq or doc"}])
    if "\x00" in (upload.filename or "") or "\x00" in (upload.content_type or ""):
        raise InvalidInput(
            "the file's name or content type holds a NUL character",
            errors=[{"field": "file", "message": "NUL character in filename or content type"}],
        )
    filename = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:500]
    if not filename:
        raise InvalidInput(
            "the uploaded file needs a filename (it names the document; the same name replaces it)",
            errors=[{"field": "file", "message": "filename missing"}],
        )
    data = await upload.read()
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        doc = await service.upload(
            session,
            brand,
            filename,
            data,
            content_type=upload.content_type,
            kind=str(kind) if kind else None,
            max_bytes=runtime.settings.max_upload_bytes,
        )
        out = service.to_out(doc)
        audit.record(
            session,
            principal,
            "upload",
            f"document:{doc.id}",
            brand_id=brand.id,
            after={"filename": doc.filename, "sha256": doc.sha256, "version": doc.version, "kind": doc.kind},
        )
        return out


@get(BASE + "/documents", guards=allow("admin"), tags=["knowledge"])
async def list_documents(slug: str, runtime: Runtime, principal: Principal) -> DocumentList:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        return DocumentList(items=[service.to_out(d) for d in await service.list_documents(session, brand)])


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
        doc = await service.delete(session, brand, document_id)
        audit.record(
            session,
            principal,
            "delete",
            f"document:{document_id}",
            brand_id=brand.id,
            before={"filename": doc.filename, "sha256": doc.sha256, "version": doc.version},
        )


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
