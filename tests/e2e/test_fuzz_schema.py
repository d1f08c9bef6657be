"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis), against the service
as a real process with an admin key and a seeded brand: no 5xx answer, every 4xx answer problem+json.
Bounded: a few examples per operation, so the suite stays quick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_KEY
from tests.e2e.process import ServiceProcess
from tests.e2e.test_service_process import pg_url, sqlite_url  # noqa: F401  (fixtures)

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MAX_EXAMPLES = 25


def _seed(url: str) -> None:
    brand = {"slug": "shop", "name": "Shop", "language": "en", "timezone": "Europe/Berlin"}
    assert httpx.post(url + "/v1/brands", json=brand, headers=ADMIN).status_code == 201
    faq = b'[{"id": "faq-return", "question": "How do I return it?", "answer": "At shop.example/returns."}]'
    upload = httpx.post(url + "/v1/brands/shop/documents", files={"file": ("faq.json", faq)}, headers=ADMIN)
    assert upload.status_code == 202, upload.text


def _fuzz(url: str, operation: Any, statuses: list[int]) -> list[str]:
    problems: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(), slug=st.sampled_from(["shop", "ghost"]))
    def run(case: Any, slug: str) -> None:
        if case.path_parameters and "slug" in case.path_parameters:
            case.path_parameters["slug"] = slug  # mostly the seeded brand, so requests get past the 404
        headers = {**(case.headers or {}), **ADMIN}
        try:
            response = case.call(base_url=url, headers=headers, timeout=30)
        except ValueError:  # a header value requests itself refuses to send
            return
        statuses.append(response.status_code)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.text[:300]}")
        elif response.status_code >= 400:
            content_type = response.headers.get("content-type") or [""]
            if isinstance(content_type, list):  # schemathesis keeps every value of a header
                content_type = content_type[0]
            if not content_type.startswith("application/problem+json"):
                problems.append(f"{where}: not problem+json ({content_type})")

    run()
    return problems


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_fuzzing_finds_no_5xx_and_only_problem_json(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    service = ServiceProcess(
        {
            "REPLY_DATA_DIR": str(tmp_path / "data"),
            "REPLY_DATABASE_URL": database_url,
            "REPLY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
            "REPLY_WORKERS": "0",
            "REPLY_QDRANT_PATH": ":memory:",
        },
        log_path=tmp_path / "service.log",
    )
    service.start()
    try:
        _seed(service.url)
        schema = schemathesis.openapi.from_url(service.url + "/schema/openapi.json")
        problems: list[str] = []
        statuses: list[int] = []
        operations = 0
        for result in schema.get_all_operations():
            operations += 1
            problems += _fuzz(service.url, result.ok(), statuses)
        assert operations > 25 and len(statuses) > operations * 5
        assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
        assert not problems, "\n".join(sorted(set(problems))[:40])
    finally:
        service.stop()
