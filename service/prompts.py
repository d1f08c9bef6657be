"""Prompt and reply templates: Jinja files in prompts/, rendered here; no prompt text lives in Python.

The environment is Jinja's sandbox: templates only read the values handed to them (post text, knowledge,
brand voice all come from outside), so nothing rendered can reach Python attributes or call methods
beyond the safe ones. `version` names the exact template texts a draft was made with.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment


@lru_cache(maxsize=4)
def _environment(directory: str) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text for an LLM or a social post, never HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(directory: Path, template: str, **context: Any) -> str:
    return _environment(str(directory)).get_template(template).render(**context).strip()


@lru_cache(maxsize=64)
def _source_hash(directory: str, template: str) -> str:
    source, _, _ = _environment(directory).loader.get_source(_environment(directory), template)  # type: ignore[union-attr]
    return hashlib.sha256(f"{template}\0{source}".encode()).hexdigest()


def version(directory: Path, *templates: str) -> str:
    """A short hash of the named templates' texts: drafts record it, so a change of wording is traceable."""
    digest = hashlib.sha256()
    for template in sorted(set(templates)):
        digest.update(_source_hash(str(directory), template).encode())
    return digest.hexdigest()[:12]
