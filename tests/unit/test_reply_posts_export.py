"""The reply model's examples from the evaluation sets (service/triage/data/reply_posts.jsonl) are what
bench/export_reply_posts.py writes now: the seen sets' posts, none of a set still out of sample. A set
marked seen without a new export, or an export that took an unseen set, fails here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from service.triage.reply_model import POSTS_PATH

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _export() -> object:
    spec = importlib.util.spec_from_file_location("export_reply_posts", BENCH / "export_reply_posts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_examples_are_the_seen_sets_posts_exactly() -> None:
    module = _export()
    lines, _ = module.export_lines()  # type: ignore[attr-defined]
    assert POSTS_PATH.read_text(encoding="utf-8").splitlines() == lines
    unseen = [name for name, (_, in_sample) in module.POST_SETS.items() if not in_sample]  # type: ignore[attr-defined]
    assert unseen, "an out-of-sample set is expected in the benches"
    exported = {json.loads(line)["set"] for line in lines}
    assert exported and not exported & set(unseen)
