"""The frozen out-of-sample set in bench/data/oos stays valid and unchanged (its own checker passes)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CHECK = Path(__file__).resolve().parents[2] / "bench" / "data" / "oos" / "check.py"


def test_oos_set_is_valid_and_frozen(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("oos_check", CHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main()
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "posts: 122" in out.out
