"""Running the service as real processes (`python -m service`, `python -m service worker`) for e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    def __init__(self, env: dict[str, str], *, worker: bool = False, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "REPLY_HOST": "127.0.0.1",
            "REPLY_PORT": str(self.port),
            "REPLY_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            # tests poll fast with one key; the limit's own tests run in-process (test_rate_limits.py)
            "REPLY_RATE_LIMIT_PER_MINUTE": "100000",
            **env,
        }
        self.worker = worker
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> ServiceProcess:
        args = [sys.executable, "-m", "service"] + (["worker"] if self.worker else [])
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        if wait and not self.worker:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("service did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as when a machine or container dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
