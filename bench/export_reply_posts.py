"""Writes service/triage/data/reply_posts.jsonl: the labelled posts of the seen post sets (those marked
in_sample in bench/triage.py's POST_SETS), as training examples of the trained reply model.

Run from the project root after a set becomes seen: `.venv/bin/python bench/export_reply_posts.py`. A set
still out of sample is never exported, so a frozen set measured once stays unseen by the model; the
shared datasets are never exported (they are read at run time only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from triage import POST_SETS  # noqa: E402

OUT = ROOT / "service" / "triage" / "data" / "reply_posts.jsonl"


def export_lines() -> tuple[list[str], list[str]]:
    """(the file's lines, one report line per set)."""
    lines, report = [], []
    for name, (directory, in_sample) in POST_SETS.items():
        if not in_sample:
            report.append(f"{name}: out of sample, not exported")
            continue
        text = (directory / "posts.jsonl").read_text("utf-8")
        posts = [json.loads(line) for line in text.splitlines() if line.strip()]
        # a thread's last post reads differently without its thread: the model sees posts without one
        kept = [p for p in posts if not p.get("thread")]
        for post in kept:
            row = {"set": name, "needs_reply": post["needs_reply"], "lang": post.get("language", "en")}
            lines.append(json.dumps({**row, "text": post["text"]}, ensure_ascii=False))
        report.append(f"{name}: {len(kept)} posts")
    return lines, report


def main() -> None:
    lines, report = export_lines()
    print("\n".join(report))
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} examples -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
