"""The console's Jinja environment (autoescaped): its templates and the filters they use."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, StrictUndefined
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig


def compact(number: object) -> str:
    """12345 -> 12.3k: a follower count as a badge shows it."""
    if not isinstance(number, int | float):
        return ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(int(number))


def _configure(engine: JinjaTemplateEngine) -> None:
    env: Environment = engine.engine
    env.filters["compact"] = compact
    env.undefined = StrictUndefined  # a name a page forgot to pass is an error, not an empty string
    env.trim_blocks = True
    env.lstrip_blocks = True


def template_config(directory: Path) -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=directory, engine=JinjaTemplateEngine, engine_callback=_configure)
