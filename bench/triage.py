"""Triage benchmark: reply decision and intent on german-dev, reply recall on twitter-cdp (BENCH.md keys).

Run from the project root: `.venv/bin/python bench/triage.py [--quick] [--no-embed]`. Uses the service's
own `Triager`, once with rules alone and once with the packaged sentence embedder (skipped with
--no-embed or --quick, or when the model cannot be loaded).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.triage import BrandPolicy, TriageInput, Triager  # noqa: E402
from service.triage.models import INTENTS  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
GERMAN_DEV = DATASETS / "german-dev" / "posts.json"
TWITTER_CDP = DATASETS / "twitter-cdp"
HANDLE = re.compile(r"(?<![\w@])@\w+")
# the posts carry no time; a Monday noon keeps due dates readable and out of the night
GERMAN_DEV_POSTED = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
QUICK_TWITTER = 150
WARM_UP_POLICY = BrandPolicy(language="en", timezone="UTC")


def bench_german_dev(triager: Triager, config: str) -> dict[str, Any]:
    data = json.loads(GERMAN_DEV.read_text(encoding="utf-8"))
    policy = BrandPolicy(language="de", timezone="Europe/Berlin")
    rows = []
    started = time.perf_counter()
    for post in data["posts"]:
        result = triager.triage(
            TriageInput(
                text=post["text"],
                channel=post["channel"],
                created_at=GERMAN_DEV_POSTED,
                author_followers=post.get("followers"),
            ),
            policy,
        )
        rows.append((post, result))
    elapsed_ms = (time.perf_counter() - started) * 1000 / max(len(rows), 1)

    gold_counts = Counter(p["intent"] for p, _ in rows)
    predicted_counts = Counter(r.intent for _, r in rows)
    labels = [i for i in INTENTS if gold_counts[i] or predicted_counts[i]]
    print(f"\n== german-dev ({config}): {len(rows)} posts ==")
    print(f"{'intent':<11}{'gold':>6}{'predicted':>11}")
    for label in labels:
        print(f"{label:<11}{gold_counts[label]:>6}{predicted_counts[label]:>11}")
    print("\nconfusion (rows gold, columns predicted)")
    print(f"{'':<11}" + "".join(f"{label[:9]:>10}" for label in labels))
    confusion = Counter((p["intent"], r.intent) for p, r in rows)
    for gold in labels:
        print(f"{gold:<11}" + "".join(f"{confusion[(gold, pred)]:>10}" for pred in labels))
    reply_gold = Counter(p["needs_reply"] for p, _ in rows)
    reply_hits = Counter((p["needs_reply"], r.needs_reply) for p, r in rows)
    print(
        f"\nneeds_reply: gold yes {reply_gold[True]}, no {reply_gold[False]}; "
        f"predicted yes/yes {reply_hits[(True, True)]}, no/no {reply_hits[(False, False)]}, "
        f"missed {reply_hits[(True, False)]}, extra {reply_hits[(False, True)]}"
    )
    for post, result in rows:
        if post["needs_reply"] != result.needs_reply or post["intent"] != result.intent:
            gold = f"{post['intent']}/{post['needs_reply']}"
            got = f"{result.intent}/{result.needs_reply}"
            print(f"  miss: gold {gold} got {got}: {post['text'][:70]!r} ({result.reasons[0]})")
    return {
        "bench": "triage",
        "dataset": "german-dev",
        "config": config,
        "n": len(rows),
        "needs_reply_correct": sum(p["needs_reply"] == r.needs_reply for p, r in rows),
        "intent_correct": sum(p["intent"] == r.intent for p, r in rows),
        "spam_marked_needs_reply": sum(p["intent"] == "spam" and r.needs_reply for p, r in rows),
        "question_marked_no_reply": sum(p["intent"] == "question" and not r.needs_reply for p, r in rows),
        "language_de": sum(r.language == "de" for _, r in rows),
        "decided_by_embedding": sum(r.decided_by != "rules" for _, r in rows),
        "ms_per_post": round(elapsed_ms, 3),
    }


def customer_text(conversation: dict[str, Any]) -> str:
    """All customer turns of a conversation, @handles removed (they name the brand and the customer)."""
    turns = [t["message"] for t in conversation["dialogContent"] if "agent" not in t]
    return "\n".join(HANDLE.sub(" ", t).strip() for t in turns)


def bench_twitter(triager: Triager, config: str, split: str, limit: int | None) -> dict[str, Any]:
    conversations = json.loads((TWITTER_CDP / f"{split}.json").read_text(encoding="utf-8"))
    if limit is not None:
        conversations = conversations[:limit]
    policy = BrandPolicy(language="en", timezone="UTC")
    results = []
    started = time.perf_counter()
    for conversation in conversations:
        posted = datetime.fromisoformat(
            conversation["dialogHeader"]["conversationDateTime"].replace("Z", "+00:00")
        )
        result = triager.triage(
            TriageInput(text=customer_text(conversation), channel="twitter", created_at=posted), policy
        )
        results.append((conversation, result))
    elapsed_ms = (time.perf_counter() - started) * 1000 / max(len(results), 1)
    replied = sum(r.needs_reply for _, r in results)
    intents = Counter(r.intent for _, r in results)
    print(f"\n== twitter-cdp {split} ({config}): {len(results)} conversations, all answered by the brand ==")
    print(
        f"needs_reply: {replied}/{len(results)}; intents: "
        + ", ".join(f"{k} {v}" for k, v in intents.most_common())
    )
    for conversation, result in results:
        if not result.needs_reply:
            print(f"  marked no reply: {customer_text(conversation)[:90]!r} ({result.reasons[0]})")
    return {
        "bench": "triage",
        "dataset": "twitter-cdp",
        "split": split,
        "config": config,
        "n": len(results),
        "needs_reply_recall": round(replied / max(len(results), 1), 4),
        "intents": dict(intents.most_common()),
        "language_en": sum(r.language == "en" for _, r in results),
        "decided_by_embedding": sum(r.decided_by != "rules" for _, r in results),
        "ms_per_post": round(elapsed_ms, 3),
    }


def load_embed() -> Callable[..., Any] | None:
    try:
        from service.adapters.embedder import load_embedder

        return load_embedder().encode
    except Exception as exc:  # the rules-only figures still count without the model
        print(f"(embedder not available, rules+embedding skipped: {exc})")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help=f"first {QUICK_TWITTER} conversations, rules only"
    )
    parser.add_argument("--no-embed", action="store_true", help="rules only")
    args = parser.parse_args()
    if not GERMAN_DEV.exists() or not TWITTER_CDP.exists():
        sys.exit(f"datasets not found under {DATASETS} (shared/ is expected beside the project root)")

    configs: list[tuple[str, Triager]] = [("rules", Triager())]
    if not (args.quick or args.no_embed):
        embed = load_embed()
        if embed is not None:
            configs.append(("rules+embedding", Triager(embed=embed)))
    limit = QUICK_TWITTER if args.quick else None

    lines = []
    for config, triager in configs:
        # load the language model and embed the examples before the clock runs
        triager.triage(TriageInput(text="warm up", channel="x", created_at=GERMAN_DEV_POSTED), WARM_UP_POLICY)
        lines.append(bench_german_dev(triager, config))
        for split in ("test", "dev"):
            lines.append(bench_twitter(triager, config, split, limit))

    print("\n== summary ==")
    print(f"{'dataset':<14}{'split':<6}{'config':<17}{'n':>5}  figures")
    for line in lines:
        if line["dataset"] == "german-dev":
            n = line["n"]
            figures = (
                f"needs_reply {line['needs_reply_correct']}/{n}, intent {line['intent_correct']}/{n}, "
                f"spam->reply {line['spam_marked_needs_reply']}, "
                f"question->no reply {line['question_marked_no_reply']}"
            )
        else:
            figures = f"needs_reply recall {line['needs_reply_recall']:.3f}"
        print(f"{line['dataset']:<14}{line.get('split', ''):<6}{line['config']:<17}{line['n']:>5}  {figures}")
    print()
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
