"""The frozen out-of-sample sets in bench/data stay valid and unchanged (each one's own checker passes:
its files match the SHA-256 sums recorded when it was frozen)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
POSTS = {
    "oos": 122,
    "oos2": 135,
    "oos3": 163,
    "oos4": 165,
    "oos5": 178,
    "oos6": 185,
    "oos7": 196,
    "oos8": 195,
    "oos9": 198,
}


@pytest.mark.parametrize("name", sorted(POSTS))
def test_oos_set_is_valid_and_frozen(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(f"{name}_check", DATA / name / "check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main()
    out = capsys.readouterr()
    assert status == 0, out.err
    assert f"posts: {POSTS[name]}" in out.out
