"""Console pages for a brand's agents and admins: analytics for a period (figures and two charts drawn
server-side as SVG: no chart library, no script) and knowledge gaps. The same service functions as
GET /v1/brands/{slug}/analytics and /knowledge-gaps (analytics.service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from litestar import Request
from litestar.params import Parameter
from litestar.response import Template

from service.analytics import service as analytics
from service.analytics.schemas import AnalyticsOut
from service.auth.keys import Principal
from service.brands import service as brands
from service.console.pages import page, pick_brand, render
from service.runtime import Runtime
from service.triage.models import DEFAULT_SLA_MINUTES, PRIORITIES

READERS = ("agent", "admin")
CHART_WIDTH = 480  # the drawing area of a bar, in SVG user units (the SVG scales with the page)
ROW = 24


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    y: int
    width: float  # 0..CHART_WIDTH

    @property
    def text(self) -> str:
        return f"{self.value:g}"


@dataclass(frozen=True)
class Mark:
    label: str
    minutes: int
    x: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    marks: list[Mark]  # vertical lines: the SLA of each priority that fits the scale
    height: int
    width: int = CHART_WIDTH


def bars(values: dict[str, float], scale: float) -> list[Bar]:
    top = scale or 1.0
    return [
        Bar(label, value, i * ROW, round(CHART_WIDTH * min(value, top) / top, 1))
        for i, (label, value) in enumerate(values.items())
    ]


def intent_chart(figures: AnalyticsOut) -> Chart:
    counts = {k: float(v) for k, v in figures.intents.items()}
    return Chart(bars(counts, max(counts.values(), default=1.0)), [], max(1, len(counts)) * ROW)


def reply_chart(figures: AnalyticsOut, sla: dict[str, int]) -> Chart:
    """First reply p50 and p90 against the SLA: the scale reaches the normal priority's SLA (or p90 when
    that is later), so a line left of a bar's end is a target the median or the tail misses."""
    times = {
        name: value
        for name, value in (
            ("p50", figures.first_reply_minutes.p50),
            ("p90", figures.first_reply_minutes.p90),
        )
        if value is not None
    }
    scale = max([*times.values(), float(sla.get("normal", 60))])
    marks = [
        Mark(p, sla[p], round(CHART_WIDTH * sla[p] / scale, 1))
        for p in PRIORITIES
        if p in sla and sla[p] <= scale
    ]
    return Chart(bars(times, scale), marks, 2 * ROW)


@page("/analytics", roles=READERS, nav="nav_analytics")
async def analytics_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    from_: date | None = Parameter(query="from", default=None),
    to: date | None = Parameter(default=None),
) -> Template:
    figures = None
    sla: dict[str, int] = {}
    async with runtime.transaction() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
        if slug:
            row = await analytics.brand_for(session, principal, slug)
            start, end = analytics.period(row, from_, to)
            figures = await analytics.analytics(session, row, start, end)
            sla = {**DEFAULT_SLA_MINUTES, **(row.sla_minutes or {})}
    return await render(
        request,
        runtime,
        "analytics.html",
        brand=slug,
        figures=figures,
        sla=sla,
        intents=intent_chart(figures) if figures else None,
        replies=reply_chart(figures, sla) if figures else None,
    )


@page("/gaps", roles=READERS, nav="nav_gaps")
async def gaps_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    days: int = Parameter(default=30, ge=1, le=366),
) -> Template:
    async with runtime.transaction() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
        row = await analytics.brand_for(session, principal, slug) if slug else None
    gaps = await analytics.knowledge_gaps(runtime, row, days, 50) if row else None
    return await render(request, runtime, "gaps.html", brand=slug, gaps=gaps, days=days)
