"""Prompt and reply templates: Jinja files in prompts/, rendered here; no prompt text lives in Python."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2


@lru_cache(maxsize=4)
def _environment(directory: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text for an LLM or a social post, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(directory: Path, template: str, **context: Any) -> str:
    return _environment(str(directory)).get_template(template).render(**context).strip()
