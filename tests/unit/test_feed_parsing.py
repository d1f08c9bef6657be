"""RSS 2.0 and Atom entries as the feed poller sees them (adapters/feeds.py, with the real feedparser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.adapters.feeds import InvalidFeed, parse

RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Shop forum</title><link>https://forum.example.com/</link>
<item><guid isPermaLink="false">topic-77</guid><title>Late delivery</title>
<description>&lt;p&gt;My parcel is &lt;b&gt;late&lt;/b&gt;.&lt;/p&gt;</description>
<author>kim@example.com (Kim Lee)</author><pubDate>Mon, 02 Mar 2026 10:15:00 GMT</pubDate>
<link>https://forum.example.com/t/77</link></item>
<item><title>No id, no link: cannot be made a post once</title></item>
<item><link>https://forum.example.com/t/78</link><description>Only a link</description></item>
</channel></rss>"""


def test_rss_items_become_entries() -> None:
    first, second = parse(RSS, base_url="https://forum.example.com/rss")
    assert first.external_id == "topic-77"
    assert first.text == "Late delivery\n\nMy parcel is late."
    assert first.author_name == "Kim Lee" and first.author_handle == "Kim Lee"
    assert first.published == datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    assert first.url == "https://forum.example.com/t/77"
    # the link stands in for a missing guid; no author: a neutral handle
    assert (second.external_id, second.text, second.author_handle) == (
        "https://forum.example.com/t/78", "Only a link", "feed"
    )  # fmt: skip


def test_a_long_id_is_hashed_and_a_page_is_no_feed() -> None:
    long_id = "urn:x:" + "a" * 300
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>'
        + long_id
        + "</id><title>Hello?</title></entry></feed>"
    ).encode()
    (entry,) = parse(atom, base_url="https://x.example/feed")
    assert entry.external_id.startswith("sha256:") and len(entry.external_id) == 71
    with pytest.raises(InvalidFeed):
        parse(b"<html><body><p>not a feed</p></body></html>", base_url="https://x.example/")
    with pytest.raises(InvalidFeed):
        parse(b"\x00\xff garbage", base_url="https://x.example/")
