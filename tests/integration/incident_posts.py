"""The hand-written incident posts (bench/data/incident_posts.json, shared with the incident benchmark):
one outage in 30 English and 10 German wordings by different authors, and unrelated posts."""

from __future__ import annotations

import json
from pathlib import Path

_FILE = Path(__file__).resolve().parents[2] / "bench" / "data" / "incident_posts.json"
_DATA = json.loads(_FILE.read_text(encoding="utf-8"))
OUTAGE_EN: list[str] = _DATA["outage_en"]
OUTAGE_DE: list[str] = _DATA["outage_de"]
UNRELATED: list[str] = _DATA["unrelated"]
