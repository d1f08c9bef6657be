"""problem+json (RFC 9457) bodies, built in one place for handlers and middleware alike."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://reply-service.dev/problems/"


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def type_uri(status: int) -> str:
    """One problem type per status, whoever raises it: a 404 is ".../not-found" from every route."""
    return TYPE_BASE + _phrase(status).lower().replace(" ", "-").replace("'", "")


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_uri(status),
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()
