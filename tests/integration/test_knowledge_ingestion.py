"""Uploading knowledge through the API: every format becomes searchable, hostile files get a clear error
or a failed status with its reason, and the service keeps serving."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import VECTOR_BACKENDS, Api
from tests.unit.test_parsers import flate_bomb, make_pdf, raw_pdf

pytestmark = VECTOR_BACKENDS  # each test on Qdrant Edge and on qdrant-client local mode

HTML = b"""<html><head><title>Help</title><script>var tracking = "SECRET_SCRIPT";</script></head>
<body><nav>Home | Shop | NAVIGATION_LINKS</nav>
<main><h1>Shipping</h1><p>We ship parcels to Norway within four working days.</p>
<h2>Customs</h2><p>Customs duties for Norway are included in the price.</p></main>
<footer>FOOTER_TEXT</footer></body></html>"""

MARKDOWN = b"""# Help center

## How do I reset my password?
Use 'Forgot password' on the login page; the link is valid for one hour.

## Can I change my delivery address?
Yes, until the parcel is handed to the carrier, in your account under Orders.
"""

CSV = '\ufeffid;question;answer\r\nc-1;"Do you sell gift cards?";"Yes; gift cards from 10 to 200 euros."\r\n'


async def upload(api: Api, filename: str, content: bytes, kind: str | None = None) -> dict[str, Any]:
    doc = await api.upload("shop", filename, content, kind)
    return await api.wait_document("shop", doc["id"], timeout=60)


async def top(api: Api, query: str) -> dict[str, Any]:
    response = await api.client.get(
        "/v1/brands/shop/knowledge/search", params={"q": query, "limit": 3}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits, query
    return dict(hits[0])


async def test_every_format_becomes_searchable(api: Api) -> None:
    await api.brand("shop")
    pdf = make_pdf(
        [
            "Terms of service. Warranty claims need the order number.",
            "Price list. The premium plan costs 12 euros a month.",
        ]
    )
    docs = {
        "terms.pdf": await upload(api, "terms.pdf", pdf),
        "help.html": await upload(api, "help.html", HTML),
        "faq.md": await upload(api, "faq.md", MARKDOWN),
        "faq.csv": await upload(api, "faq.csv", CSV.encode("utf-8")),
        "faq.json": await upload(
            api,
            "faq.json",
            json.dumps(
                {"faqs": [{"id": "j-1", "question": "Is there a student discount?", "answer": "Yes, 15 %."}]}
            ).encode(),
        ),
        "notes.txt": await upload(api, "notes.txt", b"Our stores open at 9 am on Saturdays."),
    }
    for name, doc in docs.items():
        assert doc["status"] == "ready", (name, doc)
        assert doc["chunks"] >= 1 and doc["chunks_done"] == doc["chunks_total"]

    price = await top(api, "how much is the premium plan per month")
    assert price["kind"] == "doc" and price["page"] == 2 and "12 euros" in price["text"]
    shipping = await top(api, "customs duties to Norway")
    assert "included in the price" in shipping["text"]
    assert "SECRET_SCRIPT" not in shipping["text"] and "NAVIGATION_LINKS" not in shipping["text"]
    assert (await top(api, "I forgot my password"))["kind"] == "faq"
    gift = await top(api, "can I buy a gift card")
    assert gift["source_id"] == "c-1" and "200 euros" in gift["text"]
    assert (await top(api, "student discount"))["source_id"] == "j-1"


async def test_hostile_files_fail_clearly_and_the_service_keeps_serving(make_client: Any) -> None:
    api = await make_client(max_upload_bytes=30 * 1024 * 1024)
    await api.brand("shop")

    failed = {
        "bomb.pdf": raw_pdf(flate_bomb(1024)),
        "scan.pdf": make_pdf([""]),
        "latin1.txt": "Grüße aus Köln".encode("latin-1"),
        "empty.md": b"   \n\n",
        "broken.json": b'{"faqs": [{"id": 1, "question": "x"',
    }
    for name, content in failed.items():
        doc = await upload(api, name, content)
        assert doc["status"] == "failed" and doc["error"], (name, doc)
    errors = {
        d["filename"]: d["error"]
        for d in (await api.client.get("/v1/brands/shop/documents", headers=api.admin)).json()["items"]
    }
    assert "byte" in errors["latin1.txt"] and "no text" in errors["empty.md"]

    zipped = await api.client.post(
        "/v1/brands/shop/documents",
        headers=api.admin,
        files={"file": ("report.pdf", b"PK\x03\x04" + b"\0" * 64)},
    )
    assert zipped.status_code == 415 and zipped.headers["content-type"].startswith("application/problem+json")
    huge = await api.client.post(
        "/v1/brands/shop/documents", headers=api.admin, files={"file": ("big.txt", b"a" * (50 * 1024 * 1024))}
    )
    assert huge.status_code == 413 and huge.json()["detail"]

    # Still serving: health, and a good document after all of that.
    assert (await api.client.get("/health")).status_code == 200
    ok = await upload(
        api,
        "good.json",
        json.dumps([{"id": "g", "question": "Open on Sunday?", "answer": "No, closed on Sundays."}]).encode(),
    )
    assert ok["status"] == "ready"
