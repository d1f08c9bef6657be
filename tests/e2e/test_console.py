"""The console in a real headless Chromium against the service as a real process, with a webhook
receiver: sign in, the queue most urgent first, the draft past X's limit warns, two agents editing the
same draft (the second sees the conflict with the first one's text), approve with the keyboard, the post
leaves the queue and the receiver gets the signed `reply.approved`; an admin's knowledge page.

Chromium is the system's (`/usr/bin/chromium`, Debian's package; .ci/run installs it), driven by
Playwright without its browser download. Outside CI a machine without it skips with the reason.
Screenshots go to $REPLY_TEST_ARTIFACTS (default tests/artifacts/, not committed)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY
from tests.e2e.process import ROOT, ServiceProcess
from tests.fakes.receiver import WebhookReceiver, verified

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHROMIUM = os.environ.get("REPLY_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("REPLY_TEST_REQUIRE_BROWSER", "") not in ("", "0")
ARTIFACTS = Path(os.environ.get("REPLY_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
FAQ = {
    "faqs": [
        {
            "id": "shop-refund",
            "question": "I was charged twice, how do I get a refund?",
            "answer": "A double charge is refunded automatically within 3 business days; "
            "if not, reply with your order number and we refund it at once.",
        },
        {
            "id": "shop-shipping",
            "question": "Do you ship internationally?",
            "answer": "We ship to the UK, the EU, Switzerland and Norway.",
        },
    ]
}
POSTS = [
    ("p-question", "Hi, do you ship to Norway?", {"handle": "nora", "followers": 120}),
    (
        "p-urgent",
        "You charged my card twice!!! This is fraud, I want my money back today or I go to my lawyer",
        {"handle": "bigvoice", "name": "Big Voice", "followers": 250000, "verified": True},
    ),
]


def _chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM}: apt-get install chromium (CI does, in .ci/run)"
    if REQUIRE_BROWSER:
        pytest.fail(message + "; REPLY_TEST_REQUIRE_BROWSER is set", pytrace=False)
    pytest.skip(message)


def _poll(client: httpx.Client, path: str, headers: dict[str, str], done: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path, headers=headers).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out on {path}: {body}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rec:
        yield rec


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver) -> Iterator[dict[str, Any]]:
    """The service as a process, a brand with a webhook and an FAQ, an agent key and two drafted posts."""
    chromium = _chromium_or_skip()
    tmp = tmp_path_factory.mktemp("console")
    env = {
        "REPLY_DATA_DIR": str(tmp / "data"),
        "REPLY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "REPLY_WEBHOOK_ALLOW_LOOPBACK": "true",
        "REPLY_JOB_POLL_S": "0.05",
        "REPLY_MULTILINGUAL_EMBEDDING_MODEL": "",  # an English brand: the English model alone, a faster start
    }
    service = ServiceProcess(env, log_path=tmp / "service.log").start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            brand = {
                "slug": "shop",
                "name": "Shop",
                "language": "en",
                "timezone": "Europe/Berlin",
                "business_hours": {
                    d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                },
                "channels": {"twitter": {"max_chars": 280}},
                "webhook": {"url": receiver.url},
            }
            created = client.post("/v1/brands", json=brand, headers=ADMIN)
            assert created.status_code == 201, created.text
            secret = created.json()["webhook"]["secret"]
            doc = client.post(
                "/v1/brands/shop/documents",
                files={"file": ("faq.json", json.dumps(FAQ).encode())},
                data={"kind": "faq"},
                headers=ADMIN,
            )
            assert doc.status_code == 202, doc.text
            _poll(
                client,
                f"/v1/brands/shop/documents/{doc.json()['id']}",
                ADMIN,
                lambda d: d["status"] == "ready",
            )
            keys = {}
            for role in ("agent", "integration"):
                made = client.post(
                    "/v1/api-keys", json={"name": role, "role": role, "brands": ["shop"]}, headers=ADMIN
                )
                keys[role] = made.json()["key"]
            integration = {"Authorization": f"Bearer {keys['integration']}"}
            ids = {}
            for external_id, text, author in POSTS:
                body = {
                    "brand": "shop",
                    "channel": "twitter",
                    "external_id": external_id,
                    "text": text,
                    "author": author,
                }
                sent = client.post("/v1/posts", json=body, headers=integration)
                assert sent.status_code == 202, sent.text
                ids[external_id] = sent.json()["id"]
            for post_id in ids.values():
                _poll(client, f"/v1/posts/{post_id}", integration, lambda p: p["status"] == "drafted")
            agent = {"Authorization": f"Bearer {keys['agent']}"}
            queue = client.get("/v1/queue", params={"brand": "shop"}, headers=agent).json()["items"]
        yield {
            "url": service.url,
            "chromium": chromium,
            "agent_key": keys["agent"],
            "agent": agent,
            "ids": ids,
            "api_queue": [p["id"] for p in queue],
            "secret": secret,
        }
    finally:
        service.stop()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _sign_in(context: Any, url: str, key: str) -> Any:
    page = context.new_page()
    page.goto(url + "/console/login")
    page.fill("input[name=key]", key)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/console/queue*")
    return page


def test_review_in_the_browser(seeded: dict[str, Any], receiver: WebhookReceiver) -> None:
    url, ids = seeded["url"], seeded["ids"]
    urgent = ids["p-urgent"]
    assert seeded["api_queue"][0] == urgent, "the urgent post is first in the API's queue"
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=seeded["chromium"], args=["--no-sandbox"])
        try:
            errors: list[str] = []
            first = browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-US")
            page = _sign_in(first, url, seeded["agent_key"])
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            # the queue: most urgent first, with its badges; the due time counts down
            rows = page.locator("tr.queue-item")
            assert rows.count() == 2
            assert rows.first.get_attribute("data-post-id") == urgent
            assert "urgent" in rows.first.inner_text() and "250k" in rows.first.inner_text()
            due = rows.first.locator("time.due")
            before = due.inner_text()
            page.wait_for_function(
                "t => document.querySelector('tr.queue-item time.due').textContent !== t", arg=before
            )
            _shot(page, "queue")

            # keyboard: j selects the first row, Enter opens it
            page.keyboard.press("j")
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/console/posts/{urgent}")
            assert "charged my card twice" in page.inner_text("#post-text")
            assert page.locator("ol.sources details").count() >= 1

            # a second agent opens the same draft before the first one saves
            second = browser.new_context(viewport={"width": 1360, "height": 860}, locale="en-US")
            other = _sign_in(second, url, seeded["agent_key"])
            other.goto(f"{url}/console/posts/{urgent}")

            # past X's 280 characters the counter warns
            textarea = page.locator("#draft-text")
            textarea.fill("We are sorry. " * 25)
            counter = page.locator("#counter")
            assert "over the channel's limit" in counter.inner_text()
            assert "over" in (counter.get_attribute("class") or "")
            _shot(page, "draft-over-limit")
            final = "We are very sorry about the double charge. It is refunded within 3 business days."
            textarea.fill(final)
            assert "over" not in (counter.get_attribute("class") or "")
            page.click("#save")
            page.wait_for_selector(".notice:has-text('Draft saved')")

            # the second agent's save is refused: it sees the first one's text, its own stays in the editor
            other.fill("#draft-text", "Sorry! Refund is coming.")
            other.click("#save")
            other.wait_for_selector("#conflict-theirs")
            assert final in other.inner_text("#conflict-theirs")
            assert other.input_value("#draft-text") == "Sorry! Refund is coming."
            _shot(other, "conflict")
            second.close()

            # approve with the keyboard: back on the queue, without the post
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press("a")
            page.wait_for_url("**/console/queue*")
            assert page.locator(f"tr[data-post-id='{urgent}']").count() == 0
            assert page.locator("tr.queue-item").count() == 1
            assert not errors, errors  # no script error, no CSP violation
        finally:
            browser.close()

    events = [json.loads(d["body"]) for d in receiver.wait_for(1, timeout=30)]
    deadline = time.monotonic() + 30
    while not any(e["type"] == "reply.approved" for e in events) and time.monotonic() < deadline:
        time.sleep(0.1)
        events = [json.loads(d["body"]) for d in receiver.received]
    approved = [d for d in receiver.received if json.loads(d["body"])["type"] == "reply.approved"]
    assert len(approved) == 1, [e["type"] for e in events]
    event = verified(seeded["secret"], approved[0])
    assert event["data"]["post_id"] == urgent
    assert final in json.dumps(event["data"])
    with httpx.Client(base_url=url) as client:
        assert client.get(f"/v1/posts/{urgent}", headers=seeded["agent"]).json()["status"] == "approved"


def test_admin_knowledge_page(seeded: dict[str, Any]) -> None:
    url = seeded["url"]
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=seeded["chromium"], args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 760}, locale="de-DE")
            page = context.new_page()
            page.goto(url + "/console/login")
            assert page.locator("h1").inner_text() == "Anmelden"  # German from Accept-Language
            page.fill("input[name=key]", ADMIN_KEY)
            page.click("button[type=submit].primary")
            page.wait_for_url("**/console/knowledge*")
            # upload a second document; its row polls the indexing progress until it is ready
            page.set_input_files(
                "#upload-file",
                files=[
                    {
                        "name": "returns.md",
                        "mimeType": "text/markdown",
                        "buffer": b"# Returns\n\nReturns are free within 30 days at shop.example/returns.\n",
                    }
                ],
            )
            page.click("#upload")
            page.wait_for_selector("tr.doc-ready:has-text('returns.md')", timeout=30000)
            page.fill("#search-q", "Can I send something back?")
            page.press("#search-q", "Enter")
            page.wait_for_selector("#hits li")
            assert "Returns" in page.inner_text("#hits")
            _shot(page, "knowledge")
        finally:
            browser.close()
