"""`python -m service check`, the worker container's health check: 0 when the database and the Qdrant
server answer, 1 with the reason when either does not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REPLY_")}
    return subprocess.run(
        [sys.executable, "-m", "service", "check"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ready_when_the_database_answers(tmp_path: Path) -> None:
    result = _check(REPLY_DATA_DIR=str(tmp_path), REPLY_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}")
    assert (result.returncode, result.stdout.strip()) == (0, "ready"), result.stderr


def test_not_ready_when_the_database_or_qdrant_does_not(tmp_path: Path) -> None:
    down = f"postgresql://reply@127.0.0.1:{_free_port()}/reply"
    result = _check(REPLY_DATA_DIR=str(tmp_path), REPLY_DATABASE_URL=down)
    assert result.returncode == 1 and "not ready" in result.stderr, result.stderr
    result = _check(
        REPLY_DATA_DIR=str(tmp_path),
        REPLY_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}",
        REPLY_QDRANT_URL=f"http://127.0.0.1:{_free_port()}",
    )
    assert result.returncode == 1 and "not ready" in result.stderr, result.stderr
