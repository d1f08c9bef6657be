"""Request-wide input rules no schema can state: JSON nesting depth and NUL characters.

A JSON body nested thousands deep makes the decoder recurse past Python's limit; we answer 400 as for
any malformed body. NUL characters ("\\u0000") are refused in every JSON string (keys too), path
parameter and query value with 422 naming the field: PostgreSQL text cannot hold them, and no customer
post, handle or name needs one.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from service.errors import InvalidInput, MalformedBody

NUL = "\x00"


def nul_fields(value: Any, path: str = "") -> list[str]:
    """Dotted paths (`author.handle`, `banned_phrases.0`) of the strings in `value` that hold a NUL."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:  # iterative: the depth of the document must not become our recursion depth
        where, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                found.append(where or "body")
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and NUL in key:
                    found.append(name.replace(NUL, "\\u0000"))
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), child) for i, child in enumerate(item))
    return sorted(found)


def refuse_nul(fields: list[str]) -> None:
    if fields:
        raise InvalidInput(
            f"NUL characters are not allowed in: {', '.join(fields)}",
            errors=[{"field": field, "message": "contains a NUL character"} for field in fields],
        )


async def check_request(request: Request[Any, Any, Any], *, json_body: bool) -> None:
    """Raises MalformedBody (400) or InvalidInput (422). A JSON body decoded here stays cached on the
    request, so the handler's own decoding does not run twice."""
    fields = [name for name, value in request.path_params.items() if isinstance(value, str) and NUL in value]
    fields += [name for name, value in request.query_params.items() if NUL in name or NUL in value]
    refuse_nul(sorted(fields))
    if not json_body:
        return
    try:
        body = await request.json()
    except RecursionError as exc:
        raise MalformedBody("the JSON body is nested too deeply") from exc
    except SerializationException:
        return  # malformed JSON: the handler's decoding answers it (400) as before
    refuse_nul(nul_fields(body))
