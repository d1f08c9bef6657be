"""Drafting benchmark: german-dev and a twitter-cdp sample through the running service (API, workers,
triage, retrieval, drafting, checks), for the template writer, the fake model (tests/fakes) and, when
`REPLY_BENCH_LLM_URL` (+ `REPLY_BENCH_LLM_MODEL`, optional `REPLY_BENCH_LLM_API_KEY`) is set, a real
OpenAI-compatible model. Prints a table, then one JSON line per (dataset, writer) with the BENCH.md keys.

Run from the project root: `.venv/bin/python bench/drafting.py [--quick]`.

What the figures mean:
- `grounded_rate`: drafts with no `unsupported_claim`, `unknown_source_cited` or `injection_suspected`
  that either rest on a source or say they have none (`no_knowledge`).
- `false_flag_rate`: the share of supported drafts carrying a check flag (`unsupported_claim`,
  `wrong_language`, `wrong_formality`, `banned_phrase`, `injection_suspected`). The template writer and
  the fake model only ever write the brand's greeting and source text, so each such flag on their drafts
  is false by construction; for a real model it is not known (null) and `flag_rates` tell.
- `length_ok_rate`: drafts within the channel's limit (X: 280 characters with "@handle ").
- `language_match_rate`: drafts detected in the post's language (triage's).
- `latency_p50_ms`, `latency_p95_ms`: writing and checking one draft (usage.latency_ms).
- `invented_flagged_rate` (fake-invents only): drafts with an invented price, date and phone number
  that the checks flag `unsupported_claim` (should be 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.adapters.embedder import load_embedder  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.drafts.writer import DEFAULT_MAX_CHARS  # noqa: E402
from service.triage.language import detect_language  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, default_reply  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
ADMIN = "bench-admin-key-0123456789"
CHECK_FLAGS = (
    "unsupported_claim",
    "wrong_language",
    "wrong_formality",
    "banned_phrase",
    "injection_suspected",
)
TWITTER_BRANDS = ("RockstarSupport", "MojangSupport", "Google")
INVENTED = " The fee is 19,99 € until 31.12.2027, call 0171 5550199."


def _rewrite(body: dict[str, Any], change: Any) -> str:
    content = default_reply(body)
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return str(change(content))
    data["reply"] = change(data["reply"])
    return json.dumps(data, ensure_ascii=False)


def _reformat(text: str) -> str:
    """The same facts written differently: 4,99 € as 4.99 EUR, bare links with https:// and a slash,
    phone digits regrouped. A supported reply the checks must not flag."""
    text = re.sub(r"(\d+),(\d{2})\s?€", r"\1.\2 EUR", text)
    bare = re.compile(r"(?:[a-z0-9-]+\.)+(?:de|com|example)(?:/[\w/-]*)?")
    text = " ".join(f"https://{w}/" if bare.fullmatch(w) else w for w in text.split(" "))
    return re.sub(r"\b(\d{4}) (\d{3}) (\d{3})\b", r"\1 \2\3", text)


# Fake models with a known truth: "fake" and "fake-reformat" write only supported text (every check
# flag on them is false); "fake-invents" adds a price, a date and a phone number no source has.
BEHAVIOURS = {
    "fake": None,
    "fake-reformat": lambda body: _rewrite(body, _reformat),
    "fake-invents": lambda body: _rewrite(body, lambda t: t + INVENTED),
}


class App:
    """The service from its factory with its lifespan (workers included) in a task, and a client."""

    def __init__(self, settings: Settings, embedder: Any) -> None:
        self.app = create_app(settings, embedder=embedder)
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://bench", timeout=60
        )
        self.admin = {"Authorization": f"Bearer {ADMIN}"}

    async def _run(self) -> None:
        async with self.app.lifespan():
            self.started.set()
            await self.stop.wait()

    async def __aenter__(self) -> App:
        self.task = asyncio.create_task(self._run())
        await self.started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.stop.set()
        assert self.task is not None
        await self.task

    async def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()


def settings_for(data_dir: Path, writer: str, fake: FakeLLMServer | None) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "bootstrap_admin_key": ADMIN,
        "workers": 2,
        "job_poll_s": 0.05,
        "log_level": "WARNING",
        "rate_limit_per_minute": 0,  # the bench measures drafting, not the per-key limit
    }
    if writer.startswith("fake") and fake is not None:
        values |= {"llm_base_url": fake.base_url, "llm_model": "fake-model", "llm_api_key": "k"}
    if writer == "real":
        values |= {
            "llm_base_url": os.environ["REPLY_BENCH_LLM_URL"],
            "llm_model": os.environ.get("REPLY_BENCH_LLM_MODEL", "default"),
            "llm_api_key": os.environ.get("REPLY_BENCH_LLM_API_KEY", "none"),
            "llm_timeout_s": 120.0,
        }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def german_dev() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    folder = DATASETS / "german-dev"
    faqs = json.loads((folder / "faqs.json").read_text(encoding="utf-8"))["faqs"]
    posts = json.loads((folder / "posts.json").read_text(encoding="utf-8"))["posts"]
    brand = {
        "slug": "elbtal",
        "language": "de",
        "voice": {"formality": "formal", "signature": "Ihre Stadtwerke Elbtal"},
        "knowledge": faqs,
    }
    cases = [
        {
            "brand": "elbtal",
            "channel": p["channel"],
            "text": p["text"],
            "attack": bool(p.get("must_not_contain")),
        }
        for p in posts
    ]
    return [brand], cases


def _customer(conv: dict[str, Any]) -> str:
    return " ".join(t["message"] for t in conv["dialogContent"] if any(k.startswith("client") for k in t))


def _strip_handles(text: str) -> str:
    words = text.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    return " ".join(words)


def twitter_cdp(per_brand: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    folder = DATASETS / "twitter-cdp"
    dev = json.loads((folder / "dev.json").read_text(encoding="utf-8"))
    test = json.loads((folder / "test.json").read_text(encoding="utf-8"))
    brands, cases = [], []
    for company in TWITTER_BRANDS:
        slug = company.lower()
        knowledge = [
            {
                "id": f"{slug}-{n}",
                "question": _customer(c)[:1000],
                "answer": _strip_handles(c["agentURL"]["url_utterance"]),
            }
            for n, c in enumerate(d for d in dev if d["dialogHeader"]["company"] == company)
        ]
        brands.append(
            {"slug": slug, "language": "en", "voice": {"formality": "informal"}, "knowledge": knowledge}
        )
        queries = [c for c in test if c["dialogHeader"]["company"] == company][:per_brand]
        cases += [
            {"brand": slug, "channel": "twitter", "text": _customer(c)[:2000], "attack": False}
            for c in queries
        ]
    return brands, cases


def _limit(channel: str, handle: str) -> int:
    limit = DEFAULT_MAX_CHARS.get(channel, 2000)
    return limit - (len(handle) + 2) if channel in ("twitter", "x") else limit


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    dataset: str,
    writer: str,
    brands: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    embedder: Any,
    fake: Any,
) -> dict[str, Any]:
    fake.set_reply(BEHAVIOURS.get(writer))
    with tempfile.TemporaryDirectory(prefix="bench-drafting-") as tmp:
        async with App(settings_for(Path(tmp), writer, fake), embedder) as app:
            for brand in brands:
                body = {k: brand[k] for k in ("slug", "language", "voice")}
                await app.call(
                    "POST", "/v1/brands", 201, json={**body, "name": brand["slug"]}, headers=app.admin
                )
                files = {"file": ("faq.json", json.dumps({"faqs": brand["knowledge"]}).encode())}
                doc = await app.call(
                    "POST",
                    f"/v1/brands/{brand['slug']}/documents",
                    202,
                    files=files,
                    data={"kind": "faq"},
                    headers=app.admin,
                )
                path = f"/v1/brands/{brand['slug']}/documents/{doc['id']}"
                for _ in range(3000):  # polling the API as a client does; 10 minutes at most
                    if (await app.call("GET", path, 200, headers=app.admin))["status"] != "processing":
                        break
                    await asyncio.sleep(0.2)
            key = await app.call(
                "POST",
                "/v1/api-keys",
                201,
                json={"name": "bench", "role": "integration", "brands": "*"},
                headers=app.admin,
            )
            headers = {"Authorization": f"Bearer {key['key']}"}
            started = time.perf_counter()
            ids = []
            for n, case in enumerate(cases):
                post = {
                    "brand": case["brand"],
                    "channel": case["channel"],
                    "external_id": f"b-{n}",
                    "text": case["text"],
                    "author": {"handle": "customer42", "name": "Alex Kunde"},
                }
                ids.append((await app.call("POST", "/v1/posts", 202, json=post, headers=headers))["id"])
            results = []
            for pid in ids:
                while True:
                    got = await app.call("GET", f"/v1/posts/{pid}", 200, headers=headers)
                    if got["status"] not in ("accepted", "triaged"):
                        break
                    await asyncio.sleep(0.1)
                results.append(got)
            wall = time.perf_counter() - started
    return measure(dataset, writer, cases, results, wall)


def measure(
    dataset: str, writer: str, cases: list[dict[str, Any]], results: list[dict[str, Any]], wall: float
) -> dict[str, Any]:
    drafted = [
        (c, r) for c, r in zip(cases, results, strict=True) if r["status"] == "drafted" and not c["attack"]
    ]
    n = len(drafted)
    flags: Counter[str] = Counter()
    grounded = length_ok = language_ok = false_flagged = 0
    latencies = []
    for case, post in drafted:
        draft = post["draft"]
        flags.update(draft["flags"])
        bad = {"unsupported_claim", "unknown_source_cited", "injection_suspected"} & set(draft["flags"])
        if not bad and (draft["sources"] or "no_knowledge" in draft["flags"]):
            grounded += 1
        length_ok += len(draft["text"]) <= _limit(case["channel"], "customer42")
        language = post["triage"]["language"]
        language_ok += detect_language(draft["text"], language).language == language
        false_flagged += any(f in draft["flags"] for f in CHECK_FLAGS)
        latencies.append(float((draft.get("usage") or {}).get("latency_ms") or 0.0))
    by_construction = writer in ("template", "fake", "fake-reformat")
    invented_flagged = sum("unsupported_claim" in r["draft"]["flags"] for _, r in drafted)
    return {
        "bench": "drafting",
        "dataset": dataset,
        "writer": writer,
        "n": n,
        "posts": len(cases),
        "grounded_rate": round(grounded / n, 3) if n else None,
        "false_flag_rate": round(false_flagged / n, 3) if n and by_construction else None,
        "false_flags": false_flagged if by_construction else None,
        "length_ok_rate": round(length_ok / n, 3) if n else None,
        "language_match_rate": round(language_ok / n, 3) if n else None,
        "flag_rates": {f: round(c / n, 3) for f, c in sorted(flags.items())} if n else {},
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(_pct(latencies, 0.95), 1) if latencies else None,
        "wall_s": round(wall, 1),
        **(
            {"invented_flagged_rate": round(invented_flagged / n, 3) if n else None}
            if writer == "fake-invents"
            else {}
        ),
    }


async def main_async(quick: bool, only: list[str] | None = None) -> list[dict[str, Any]]:
    embedder = load_embedder()
    writers = ["template", *BEHAVIOURS] + (["real"] if os.environ.get("REPLY_BENCH_LLM_URL") else [])
    writers = [w for w in writers if not only or w in only]
    datasets = [("german-dev", *german_dev()), ("twitter-cdp", *twitter_cdp(8 if quick else 25))]
    lines = []
    with FakeLLMServer() as fake:
        for name, brands, cases in datasets:
            for writer in writers:
                lines.append(await run(name, writer, brands, cases, embedder, fake))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="8 twitter-cdp posts per brand instead of 25")
    parser.add_argument("--writers", nargs="*", help="only these writers (template, fake, ..., real)")
    args = parser.parse_args()
    lines = asyncio.run(main_async(args.quick, args.writers))
    columns = ("dataset", "writer", "n", "grounded", "falseflag", "length", "lang", "p50 ms")
    print(" ".join(f"{c:>9}" for c in columns))
    for line in lines:
        keys = ("dataset", "writer", "n", "grounded_rate", "false_flag_rate", "length_ok_rate")
        values = [line[k] for k in (*keys, "language_match_rate", "latency_p50_ms")]
        print(" ".join(f"{v!s:>9}" for v in values))
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
