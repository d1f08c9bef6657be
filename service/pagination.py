"""Pagination for list routes: one cap on `limit` and an opaque keyset cursor.

Every list route takes `limit` (1..MAX_LIMIT; over the cap is a 422 naming `limit`, not a silent clamp,
so a caller never takes a short page for the end of the list). Lists that only grow at one end and are
ordered by (created_at, id) (documents, deliveries) page with `cursor`: the response's `next_cursor`,
passed back, continues after the last item, unaffected by items added meanwhile. Lists ordered by keys
that change under the reader (the queue by due time, incidents by last post) page with `offset`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from service.errors import InvalidInput

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_OFFSET = 100_000


def encode_cursor(at: datetime, row_id: str) -> str:
    raw = f"{at.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, id) of the last item of the previous page; 422 naming `cursor` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)  # year 9999 at -05:00 overflows here, not in the database
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            "cursor is not one this service gave out; pass back `next_cursor` as it came",
            errors=[{"field": "cursor", "message": "invalid cursor"}],
        ) from exc
    if parsed.tzinfo is None or not row_id:
        raise InvalidInput("cursor is not valid", errors=[{"field": "cursor", "message": "invalid cursor"}])
    return parsed, row_id
