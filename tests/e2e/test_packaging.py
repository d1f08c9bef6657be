"""The project as a built wheel, installed without the source tree (as the image installs it): the prompts
and the migrations ship inside it and are found from the installed package, and migrating a database
never imports the live models."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from service.config import Settings, packaged_prompts_dir

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.name for p in (ROOT / "prompts").glob("*.j2"))

# Run in the installed copy: the service's code, its prompts and its migrations all from there.
PROBE = """
import asyncio, sys
from pathlib import Path
target = Path(sys.argv[1]).resolve()
import service, prompts
from service import db
from service.config import Settings
from service.prompts import render
assert Path(service.__file__).resolve().is_relative_to(target), service.__file__
settings = Settings(_env_file=None, data_dir=Path(sys.argv[2]))
assert settings.prompts_dir.resolve().is_relative_to(target), settings.prompts_dir
print(render(settings.prompts_dir, "holding_reply.j2", language="en", formality="informal", name="Jo",
             signature="Team"))
async def migrate():
    engine = db.create_engine(settings)
    await db.run_migrations(engine, settings)
    await engine.dispose()
asyncio.run(migrate())
assert "service.models" not in sys.modules, "migrations imported the live models"
print("MIGRATED")
"""


def _copy_sources(destination: Path) -> Path:
    """What the Dockerfile copies, so a build never writes into the working tree."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("service", "prompts"):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _copy_sources(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", out, source], check=True, timeout=300)
    (built,) = out.glob("reply_service-*.whl")
    return built


def test_the_wheel_ships_prompts_migrations_and_the_console(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"prompts/{t}" for t in TEMPLATES} <= names
    assert "prompts/__init__.py" in names
    assert {"service/migrations/env.py", "service/migrations/script.py.mako"} <= names
    console = ROOT / "service/console"
    shipped = [p for folder in ("templates", "static", "strings") for p in (console / folder).iterdir()]
    assert {str(p.relative_to(ROOT)) for p in shipped} <= names
    versions = {p.name for p in (ROOT / "service/migrations/versions").glob("*.py")}
    assert {f"service/migrations/versions/{v}" for v in versions} <= names


def test_an_installed_wheel_finds_its_prompts_and_migrates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, wheel],
        check=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"  # no source tree here, nor above
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLY_")}
    env["PYTHONPATH"] = str(target)  # before the editable install of the source tree
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(target), str(tmp_path / "data")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "MIGRATED" in result.stdout
    assert result.stdout.startswith("Hi Jo, thanks for reaching out!"), result.stdout


def test_prompts_come_from_the_package_or_the_setting(tmp_path: Path) -> None:
    import prompts

    assert packaged_prompts_dir() == Path(prompts.__file__).parent
    assert Settings(_env_file=None).prompts_dir == packaged_prompts_dir()  # type: ignore[call-arg]
    assert "__file__" not in (ROOT / "service/config.py").read_text()
    own = tmp_path / "own-prompts"
    own.mkdir()
    assert Settings(_env_file=None, prompts_dir=own).prompts_dir == own  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="REPLY_PROMPTS_DIR"):
        Settings(_env_file=None, prompts_dir=tmp_path / "missing")  # type: ignore[call-arg]


def test_migrations_import_no_model_code() -> None:
    folder = ROOT / "service/migrations"
    for path in [folder / "env.py", *sorted((folder / "versions").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level: what runs on every upgrade
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n == "service" or n.startswith("service.")], (path.name, names)
