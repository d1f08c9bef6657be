"""The Dockerfile and compose file can't be built here (no Docker engine); check what can be checked:
every REPLY_* variable they set is a real setting, and the image runs as non-root with a health check."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _setting_names() -> set[str]:
    return {f"REPLY_{name.upper()}" for name in Settings.model_fields}


def test_compose_sets_only_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"postgres", "qdrant", "ollama", "api", "worker"} <= set(compose["services"])
    names: set[str] = set()
    for service in ("api", "worker"):
        env = compose["services"][service]["environment"]
        names |= {key for key in env if key.startswith("REPLY_")}
    assert names, "compose should configure the service"
    assert names <= _setting_names(), names - _setting_names()
    api_env = compose["services"]["api"]["environment"]
    assert api_env["REPLY_DATABASE_URL"].startswith("postgresql://")
    assert api_env["REPLY_QDRANT_URL"].startswith("http://qdrant")
    assert compose["services"]["worker"]["command"][-1] == "worker"


def test_dockerfile_cpu_torch_non_root_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*whl/cpu.* torch==2\.13\.0", text)
    assert text.index("torch==2.13.0") < text.index("pip install .")
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    env_names = set(re.findall(r"\b(REPLY_[A-Z_]+)=", text))
    assert env_names <= _setting_names(), env_names - _setting_names()
