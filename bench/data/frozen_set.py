"""The checker of the frozen out-of-sample sets oos3 to oos7 (their `check.py` names the set and calls
`main`): validates a set's brands, FAQs and posts, prints its counts and the README's table, and fails if
a data file no longer matches the hash in its SHA256SUMS. Exit status 1 on any error.

One module instead of a copy per set: the sets differ only in the figures their READMEs promise.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FrozenSet:
    """What one set's README promises: its folder and name (the posts' id prefix), the brands that get
    posts in a second language, the FAQ sizes, the minimum posts per language, the shares of no-reply and
    unanswerable posts, and the brands' order in the README's table."""

    here: Path
    name: str
    other_languages: dict[str, set[str]]
    min_posts: dict[str, int]
    brand_order: tuple[str, ...]
    faq_size: tuple[int, int] = (16, 20)
    no_reply_share: tuple[float, float] = (0.28, 0.38)
    unanswerable_share: tuple[float, float] = (0.15, 0.22)


CHANNELS = {"twitter", "facebook", "instagram", "forum"}
INTENTS = {"question", "complaint", "request", "praise", "feedback", "spam", "other"}
# kind -> intents it may carry; the first five kinds are the ones that need a reply.
KIND_INTENTS = {
    "question": {"question"},
    "complaint": {"complaint", "feedback"},
    "request": {"request", "feedback"},
    "question_in_praise": {"question"},
    "complaint_with_thanks": {"complaint"},
    "spam": {"spam"},
    "promotion": {"spam"},
    "bot_notice": {"other"},
    "resolved_thanks": {"praise"},
    "praise": {"praise"},
    "rhetorical_praise": {"praise"},
    "caption": {"other"},
    "chitchat": {"other"},
}
REPLY_KINDS = {"question", "complaint", "request", "question_in_praise", "complaint_with_thanks"}
POST_KEYS = {"id", "brand", "language", "channel", "text", "author", "needs_reply", "intent", "kind"}
POST_KEYS |= {"answer", "with_code"}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def load_json(path: Path, errors: list[str]) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        errors.append(f"{path.name}: {exc}")
        return None


def check_brands(s: FrozenSet, errors: list[str]) -> dict[str, dict]:
    brands = load_json(s.here / "brands.json", errors)
    if not isinstance(brands, list) or len(brands) != 4:
        errors.append("brands.json: expected a list of 4 brands")
        return {}
    by_slug: dict[str, dict] = {}
    for b in brands:
        slug = b.get("slug", "")
        if not SLUG.match(slug) or slug in by_slug:
            errors.append(f"brands.json: bad or repeated slug {slug!r}")
        for key in ("name", "language", "timezone", "industry"):
            if not isinstance(b.get(key), str) or not b[key]:
                errors.append(f"brands.json: {slug}: missing {key}")
        by_slug[slug] = b
    languages = Counter(b.get("language") for b in by_slug.values())
    if languages != Counter({"de": 3, "en": 1}):
        errors.append(f"brands.json: expected three German brands and one English, got {dict(languages)}")
    return by_slug


def check_faqs(s: FrozenSet, brands: dict[str, dict], errors: list[str]) -> dict[str, set[str]]:
    faq_ids: dict[str, set[str]] = {}
    for slug in brands:
        path = s.here / "faqs" / f"{slug}.json"
        faqs = load_json(path, errors)
        if not isinstance(faqs, list):
            errors.append(f"faqs/{slug}.json: expected a list")
            continue
        if not s.faq_size[0] <= len(faqs) <= s.faq_size[1]:
            errors.append(f"faqs/{slug}.json: {len(faqs)} entries, expected {s.faq_size[0]}-{s.faq_size[1]}")
        ids: set[str] = set()
        for entry in faqs:
            fid = entry.get("id")
            if not isinstance(fid, str) or not fid or fid in ids:
                errors.append(f"faqs/{slug}.json: bad or repeated id {fid!r}")
                continue
            ids.add(fid)
            if set(entry) - {"id", "question", "answer", "url"}:
                unknown = set(entry) - {"id", "question", "answer", "url"}
                errors.append(f"faqs/{slug}.json: {fid}: unknown keys {unknown}")
            for key in ("question", "answer"):
                if not isinstance(entry.get(key), str) or len(entry[key].strip()) < 10:
                    errors.append(f"faqs/{slug}.json: {fid}: {key} missing or too short")
        clash = [other for other, other_ids in faq_ids.items() if ids & other_ids]
        if clash:
            errors.append(f"faqs/{slug}.json: ids shared with {clash}")
        faq_ids[slug] = ids
    return faq_ids


def check_post(
    s: FrozenSet, post: dict, brands: dict[str, dict], faq_ids: dict[str, set[str]], errors: list[str]
) -> None:
    pid = post.get("id")
    where = f"posts.jsonl: {pid}"
    missing = POST_KEYS - set(post)
    extra = set(post) - POST_KEYS - {"thread"}
    if missing or extra:
        errors.append(f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}")
        return
    brand = brands.get(post["brand"])
    if brand is None:
        errors.append(f"{where}: unknown brand {post['brand']!r}")
        return
    lang = post["language"]
    allowed = {brand["language"]} | s.other_languages.get(post["brand"], set())
    if lang not in allowed or not re.fullmatch(rf"{s.name}-{lang}-\d{{3}}", str(pid)):
        errors.append(f"{where}: language {lang!r} does not fit the brand or the id")
    if post["channel"] not in CHANNELS:
        errors.append(f"{where}: channel {post['channel']!r}")
    if not isinstance(post["text"], str) or not post["text"].strip():
        errors.append(f"{where}: empty text")
    author = post["author"]
    if not (
        isinstance(author, dict)
        and isinstance(author.get("handle"), str)
        and author["handle"]
        and isinstance(author.get("followers"), int)
        and author["followers"] >= 0
        and isinstance(author.get("verified"), bool)
        and isinstance(author.get("bot"), bool)
    ):
        errors.append(f"{where}: author needs handle, followers >= 0, verified and bot")
    thread = post.get("thread")
    if thread is not None and not (
        isinstance(thread, list) and thread and all(isinstance(t, str) and t for t in thread)
    ):
        errors.append(f"{where}: thread must be a non-empty list of texts")
    kind, intent = post["kind"], post["intent"]
    if kind not in KIND_INTENTS or intent not in INTENTS or intent not in KIND_INTENTS[kind]:
        errors.append(f"{where}: kind {kind!r} with intent {intent!r}")
        return
    if post["needs_reply"] is not (kind in REPLY_KINDS):
        errors.append(f"{where}: needs_reply {post['needs_reply']!r} does not fit kind {kind!r}")
    answer, with_code = post["answer"], post["with_code"]
    if answer is not None:
        if not post["needs_reply"]:
            errors.append(f"{where}: a post that needs no reply has an answer")
        elif answer not in faq_ids.get(post["brand"], set()):
            errors.append(f"{where}: answer {answer!r} is not in the FAQ of {post['brand']}")
    if (with_code is not None) != (answer is not None):
        errors.append(f"{where}: with_code must be given exactly for answerable posts")
    elif with_code is not None and (
        not isinstance(with_code, str)
        or with_code == post["text"]
        or len(with_code) <= len(post["text"])
        or not re.search(r"[0-9@]", with_code)
    ):
        errors.append(f"{where}: with_code must be the text with a code (digits or an address) added")


def check_posts(
    s: FrozenSet, brands: dict[str, dict], faq_ids: dict[str, set[str]], errors: list[str]
) -> list[dict]:
    posts: list[dict] = []
    seen: set[str] = set()
    for n, line in enumerate((s.here / "posts.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        try:
            post = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"posts.jsonl line {n}: {exc}")
            continue
        if not isinstance(post, dict):
            errors.append(f"posts.jsonl line {n}: not an object")
            continue
        if post.get("id") in seen:
            errors.append(f"posts.jsonl line {n}: repeated id {post.get('id')!r}")
        seen.add(post.get("id"))
        check_post(s, post, brands, faq_ids, errors)
        posts.append(post)
    return posts


def check_shape(s: FrozenSet, posts: list[dict], errors: list[str]) -> None:
    """The proportions the set promises in README.md."""
    by_lang = Counter(p.get("language") for p in posts)
    if any(by_lang[lang] < n for lang, n in s.min_posts.items()):
        errors.append(f"need at least {s.min_posts} posts per language, got {dict(by_lang)}")
    reply = [p for p in posts if p.get("needs_reply")]
    no_reply_share = 1 - len(reply) / max(len(posts), 1)
    if not s.no_reply_share[0] <= no_reply_share <= s.no_reply_share[1]:
        low, high = s.no_reply_share
        errors.append(f"share of posts needing no reply is {no_reply_share:.2f}, expected {low}-{high}")
    unanswerable_share = sum(p.get("answer") is None for p in reply) / max(len(reply), 1)
    if not s.unanswerable_share[0] <= unanswerable_share <= s.unanswerable_share[1]:
        low, high = s.unanswerable_share
        errors.append(f"share of unanswerable reply posts is {unanswerable_share:.2f}, expected {low}-{high}")
    for kind in KIND_INTENTS:
        if not any(p.get("kind") == kind for p in posts):
            errors.append(f"no post of kind {kind!r}")
    by_brand_lang = Counter((p.get("brand"), p.get("language")) for p in posts)
    for brand, other in s.other_languages.items():
        for lang in other:
            if by_brand_lang[(brand, lang)] == 0:
                errors.append(f"no {lang} posts to {brand}, though README promises them")
    if not any(p["author"].get("bot") for p in posts if p.get("kind") == "bot_notice"):
        errors.append("no bot notice from an account flagged as a bot")
    if all(p["author"].get("bot") for p in posts if p.get("kind") == "bot_notice"):
        errors.append("every bot notice is flagged; some must be recognisable by their text only")


def check_hashes(s: FrozenSet, errors: list[str]) -> None:
    sums = s.here / "SHA256SUMS"
    if not sums.exists():
        errors.append("SHA256SUMS is missing")
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        path = s.here / name.lstrip("*")
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
        if actual != digest:
            errors.append(f"{name}: changed since the set was frozen (sha256 {actual[:12]}...)")


def report(posts: list[dict]) -> None:
    def show(title: str, counter: Counter) -> None:
        print(f"{title}: " + ", ".join(f"{k}={v}" for k, v in sorted(counter.items(), key=str)))

    reply = [p for p in posts if p["needs_reply"]]
    print(f"posts: {len(posts)}")
    show("language", Counter(p["language"] for p in posts))
    show("brand", Counter(p["brand"] for p in posts))
    show("brand and language", Counter(f"{p['brand']}:{p['language']}" for p in posts))
    show("channel", Counter(p["channel"] for p in posts))
    show("needs_reply", Counter(p["needs_reply"] for p in posts))
    show("needs_reply by language", Counter(f"{p['language']}:{p['needs_reply']}" for p in posts))
    show("intent", Counter(p["intent"] for p in posts))
    show("kind", Counter(p["kind"] for p in posts))
    show(
        "needs-reply posts",
        Counter(f"{p['brand']}:{'answerable' if p['answer'] else 'unanswerable'}" for p in reply),
    )
    unanswerable = sum(p["answer"] is None for p in reply)
    print(f"answerable: {len(reply) - unanswerable}, unanswerable: {unanswerable} of {len(reply)}")
    print(
        f"with thread: {sum('thread' in p for p in posts)}, author flagged bot: "
        f"{sum(p['author']['bot'] for p in posts)}"
    )


def table(s: FrozenSet, posts: list[dict]) -> None:
    """The counts table of README.md, as Markdown, one column per brand and post language."""
    columns = sorted({(p["brand"], p["language"]) for p in posts}, key=lambda c: (c[1], c[0]))
    columns.sort(key=lambda c: s.brand_order.index(c[0]))
    header = " | ".join(f"{b} ({lang})" for b, lang in columns)
    print(f"| kind | {header} | all |")
    print("| --- |" + " ---: |" * (len(columns) + 1))

    def row(title: str, pick) -> None:
        cells = [sum(1 for p in posts if (p["brand"], p["language"]) == c and pick(p)) for c in columns]
        print(f"| {title} | " + " | ".join(str(n) for n in cells) + f" | {sum(cells)} |")

    for kind in KIND_INTENTS:
        row(f"`{kind}`", lambda p, kind=kind: p["kind"] == kind)
    row("**needs reply**", lambda p: p["needs_reply"])
    row("of which answerable", lambda p: p["needs_reply"] and p["answer"] is not None)
    row("of which unanswerable", lambda p: p["needs_reply"] and p["answer"] is None)
    row("**no reply**", lambda p: not p["needs_reply"])
    row("**all**", lambda p: True)


def main(s: FrozenSet) -> int:
    errors: list[str] = []
    brands = check_brands(s, errors)
    faq_ids = check_faqs(s, brands, errors)
    for slug, ids in faq_ids.items():
        print(f"faqs/{slug}.json: {len(ids)} entries")
    posts = check_posts(s, brands, faq_ids, errors)
    if not errors:
        check_shape(s, posts, errors)
        report(posts)
        table(s, posts)
    check_hashes(s, errors)
    for error in errors:
        print("ERROR", error, file=sys.stderr)
    print("ok" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0
