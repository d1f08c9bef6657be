"""The Dockerfile and compose file can't be built here (no Docker engine); check what can be checked:
every REPLY_* variable they set is a real setting, images are pinned, every service restarts and has a
health check, secrets come from the env file, the image runs as non-root and installs exactly the lock,
and the lock files agree with pyproject.toml and hold no CUDA packages."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-dev.lock")
SECRETS = ("POSTGRES_PASSWORD", "QDRANT_API_KEY", "REPLY_BOOTSTRAP_ADMIN_KEY", "REPLY_SECRETS_KEY")


def _setting_names() -> set[str]:
    return {f"REPLY_{name.upper()}" for name in Settings.model_fields}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _locked(name: str) -> dict[str, str]:
    """name -> pinned version of every requirement in a lock file; asserts each one is pinned and hashed."""
    pins: dict[str, str] = {}
    text = (ROOT / name).read_text()
    for block in re.split(r"\n(?=\S)", text):
        line = block.split("\\", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        assert "--hash=sha256:" in block, f"{line} has no hash"
        pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def test_compose_sets_only_known_settings() -> None:
    compose = _compose()
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


def test_compose_images_are_pinned() -> None:
    for name, service in _compose()["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image} is not a pinned version"


def test_every_service_restarts_and_has_a_health_check() -> None:
    for name, service in _compose()["services"].items():
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), name
        if service.get("restart") == "on-failure" and "entrypoint" in service:
            continue  # a one-shot job (pulling the model): it runs to its end, there is nothing to probe
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no health check"
    services = _compose()["services"]
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][-3:] == ["-m", "service", "check"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "6333" in " ".join(services["qdrant"]["healthcheck"]["test"])


def test_compose_secrets_come_from_the_env_file() -> None:
    compose = _compose()
    services = compose["services"]

    def from_env(value: str, name: str) -> bool:
        return bool(re.fullmatch(r"\$\{" + name + r"(:\?[^}]*)?\}", value))

    assert from_env(services["postgres"]["environment"]["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD")
    assert from_env(services["qdrant"]["environment"]["QDRANT__SERVICE__API_KEY"], "QDRANT_API_KEY")
    for name in ("api", "worker"):
        env = services[name]["environment"]
        password = re.fullmatch(r"postgresql://reply:(.+)@postgres:5432/reply", env["REPLY_DATABASE_URL"])
        assert password and from_env(password.group(1), "POSTGRES_PASSWORD"), env["REPLY_DATABASE_URL"]
        assert from_env(env["REPLY_QDRANT_API_KEY"], "QDRANT_API_KEY")
        assert from_env(env["REPLY_BOOTSTRAP_ADMIN_KEY"], "REPLY_BOOTSTRAP_ADMIN_KEY")
    # Every variable compose reads is in .env.example, with no value committed; .env itself is ignored.
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert used == set(SECRETS) and used <= set(example), used - set(example)
    assert all(value == "" for value in example.values()), "the example must not carry real secrets"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_compose_loads_no_demo_knowledge() -> None:
    for name in ("api", "worker"):
        env = _compose()["services"][name]["environment"]
        assert str(env.get("REPLY_LOAD_DEMO_KNOWLEDGE", "false")).lower() == "false", name
    assert "COPY knowledge" not in (ROOT / "Dockerfile").read_text()


def test_dockerfile_cpu_torch_lock_non_root_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "pin the base image"
    assert re.search(r"pip install .*whl/cpu.* torch==2\.13\.0", text)
    lock = text.index("--require-hashes --no-deps -r requirements.lock")
    project = text.index("pip install --no-deps --no-build-isolation .")
    assert text.index("torch==2.13.0") < lock < project
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    env_names = set(re.findall(r"\b(REPLY_[A-Z_]+)=", text))
    assert env_names <= _setting_names(), env_names - _setting_names()


def test_make_installs_the_dev_lock() -> None:
    text = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements-dev.lock" in text
    assert text.index("$(TORCH)\n") < text.index("-r requirements-dev.lock")


@pytest.mark.parametrize("name", LOCKS)
def test_locks_hold_no_cuda_and_no_torch(name: str) -> None:
    pins = _locked(name)
    assert "torch" not in pins, "torch is installed on its own, from the CPU build"
    assert not [n for n in pins if n.startswith(("nvidia-", "cuda-")) or n == "triton"]


def test_locks_satisfy_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    for pins, requirements in (
        (runtime, project["dependencies"]),
        (dev, project["dependencies"] + project["optional-dependencies"]["dev"]),
    ):
        for line in requirements:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{name} is not locked: run make lock"
            assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {line}: make lock"
    # One resolution: the dev lock pins every shared package as the image's lock does.
    assert {name: dev[name] for name in runtime} == runtime


def test_every_dependency_has_an_upper_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    tools = {"ruff", "mypy"}  # linters: a new major changes findings, not the service
    for line in itertools.chain(project["dependencies"], *project["optional-dependencies"].values()):
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) in tools:
            continue
        assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), line
