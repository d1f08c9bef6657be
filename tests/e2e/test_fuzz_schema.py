"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis), against the service
as a real process: every operation, with an admin, an agent and an integration key, valid and invalid
inputs, against seeded brands, knowledge, posts and drafts (so valid requests reach 2xx), with every one
of schemathesis' checks (`--checks all`: no 5xx, status codes, content types, headers and response bodies
conform to the schema, invalid data rejected, valid data accepted, ...), and every 4xx problem+json.

Bounded in the suite: FUZZ_EXAMPLES (3) examples per operation and mode, each sent with a key drawn from
the three roles (every role is used: asserted), with every check; `make fuzz` runs 500."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.conftest import ADMIN_KEY
from tests.e2e.process import ServiceProcess
from tests.e2e.test_service_process import pg_url, sqlite_url  # noqa: F401  (fixtures)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
POSTS = 6
# Valid data may still meet the state of the world: a draft already approved (409), a slug taken (409).
# Unknown ids (404) and keys whose role or brand does not fit (403) are valid requests refused, too.
ACCEPTED = ["2xx", "401", "403", "404", "409"]
# Rules no schema can state, each on the operations it applies to: the brands a key names must exist
# (422), a webhook URL must resolve to a public address (422), an upload's bytes must be a format the
# service reads, whatever its name says (415).
BEYOND_SCHEMA = {
    r"^POST /v1/api-keys$": ["422"],
    r"^(POST|PATCH) /v1/brands(/\{slug\})?$": ["422"],
    r"^POST /v1/brands/\{slug\}/documents$": ["415", "422"],
    # a feed URL is held to the webhook URL rules (a public host), which no schema can state
    r"^POST /v1/brands/\{slug\}/feeds$": ["422"],
    # a team member's shift ends after it starts; weekly shifts follow the business-hours rules
    r"^(POST|PATCH) /v1/brands/\{slug\}/members(/\{member_id\})?$": ["422"],
}
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "operations": [
            {
                "include-name-regex": name,
                "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + extra}},
            }
            for name, extra in BEYOND_SCHEMA.items()
        ],
    }
)


def seed(url: str) -> dict[str, Any]:
    """Two brands with knowledge, role keys for "shop", drafted posts; returns keys and ids."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        for slug in ("shop", "other"):
            brand = {"slug": slug, "name": slug.title(), "language": "en", "timezone": "Europe/Berlin"}
            assert client.post("/v1/brands", json=brand).status_code == 201
        faq = (
            b'[{"id": "faq-return", "question": "How do I return it?", "answer": "At shop.example/returns."}]'
        )
        upload = client.post("/v1/brands/shop/documents", files={"file": ("faq.json", faq)})
        assert upload.status_code == 202, upload.text
        keys = {"admin": ADMIN}
        for role in ("agent", "integration"):
            made = client.post("/v1/api-keys", json={"name": role, "role": role, "brands": ["shop"]})
            assert made.status_code == 201, made.text
            keys[role] = {"Authorization": f"Bearer {made.json()['key']}"}
        posts = []
        for index in range(POSTS):
            body = {
                "brand": "shop",
                "channel": "twitter",
                "external_id": f"seed-{index}",
                "text": f"How do I return order {index}?",
                "author": {"handle": f"fan{index}"},
            }
            response = client.post("/v1/posts", json=body, headers=keys["integration"])
            assert response.status_code == 202, response.text
            posts.append(response.json()["id"])
        drafts = []
        deadline = time.monotonic() + 60
        for post_id in posts:
            while True:
                post = client.get(f"/v1/posts/{post_id}").json()
                if post["status"] == "drafted" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert post["status"] == "drafted", post
            drafts.append(post["draft"]["id"])
        documents = client.get("/v1/brands/shop/documents").json()["items"]
    return {
        "keys": keys,
        "slug": ["shop", "other"],
        "post_id": posts,
        "draft_id": drafts,
        "document_id": [d["id"] for d in documents],
    }


def fuzz(
    url: str, operation: Any, world: dict[str, Any], mode: GenerationMode, tally: dict[str, Any]
) -> None:
    """Fuzz one operation in one mode with every role; failures go into tally["failures"]."""
    seeded = {name: world[name] for name in world if name != "keys"}
    names = [p.name for p in operation.path_parameters]
    strategy = operation.as_strategy(generation_mode=mode)
    where_op = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(
        case=strategy,
        role=st.sampled_from(sorted(world["keys"])),
        pick=st.integers(0, 99),
        real=st.booleans(),
    )
    def run(case: Any, role: str, pick: int, real: bool) -> None:
        if real or mode is GenerationMode.POSITIVE:  # mostly things that exist, so requests reach the handler
            for name in names:
                if name in seeded and (real or pick % 4):
                    case.path_parameters[name] = seeded[name][pick % len(seeded[name])]
        headers = {**(case.headers or {}), **world["keys"][role]}
        where = f"{case.method} {case.formatted_path} as {role} ({mode.value})"
        try:
            response = case.call(base_url=url, headers=headers, timeout=30)
        except ValueError:  # a header value the HTTP client itself refuses to send
            return
        tally["requests"] += 1
        tally["roles"][role] += 1
        tally["statuses"][f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, headers=headers, transport_kwargs={"base_url": url})
        except FailureGroup as group:  # one entry per failed check
            for failure in group.exceptions:
                tally["failures"].append(
                    f"{where} -> {response.status_code} {response.text[:300]}: {failure.title}\n"
                    f"   {case.as_curl_command()[:600]}"
                )
        if 400 <= response.status_code < 500:
            content_type = response.headers.get("content-type") or [""]
            if isinstance(content_type, list):  # schemathesis keeps every value of a header
                content_type = content_type[0]
            if not content_type.startswith("application/problem+json"):
                tally["failures"].append(
                    f"{where} -> {response.status_code}: not problem+json ({content_type})"
                )

    try:
        run()
    except Unsatisfiable:  # nothing invalid to send (an operation without inputs): only in negative mode
        assert mode is GenerationMode.NEGATIVE, where_op
        tally["no_negative"].append(where_op)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_fuzzing_all_checks_all_roles(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    service = ServiceProcess(
        {
            "REPLY_DATA_DIR": str(tmp_path / "data"),
            "REPLY_DATABASE_URL": database_url,
            "REPLY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "REPLY_WORKERS": "1",
            "REPLY_JOB_POLL_S": "0.1",
            "REPLY_QDRANT_PATH": ":memory:",
        },
        log_path=tmp_path / "service.log",
    )
    service.start(wait=False)
    service.wait_ready(300)  # loading the embedding model takes minutes on a crowded machine
    started = time.monotonic()
    try:
        world = seed(service.url)
        schema = schemathesis.openapi.from_url(service.url + "/schema/openapi.json", config=CONFIG)
        tally: dict[str, Any] = {
            "requests": 0,
            "statuses": Counter(),
            "roles": Counter(),
            "failures": [],
            "no_negative": [],
        }
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(service.url, operation, world, mode, tally)
        figures = {
            "db": db,
            "operations": operations,
            "examples_per_operation_and_mode": EXAMPLES,
            "requests": tally["requests"],
            "statuses": dict(sorted(tally["statuses"].items())),
            "roles": dict(sorted(tally["roles"].items())),
            "failures": len(tally["failures"]),
            "operations_without_invalid_inputs": len(tally["no_negative"]),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps({"fuzz": figures}))
        assert operations > 25 and tally["requests"] > operations * EXAMPLES
        assert tally["statuses"]["2xx"] and tally["statuses"]["4xx"], figures
        assert set(tally["roles"]) == set(world["keys"]), figures
        assert not tally["statuses"]["5xx"], figures
        assert not tally["failures"], "\n".join(sorted(set(tally["failures"]))[:40])
    finally:
        service.stop()
