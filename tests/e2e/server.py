"""Starting and stopping ``streamlit run app.py`` for browser tests (no pytest fixtures here)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("FAIRKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
SERVER_START_TIMEOUT = 60.0   # seconds until /_stcore/health answers "ok"


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def run_streamlit(home: Path, env: dict | None = None):
    """Run ``streamlit run app.py`` on a free port until the block ends; yield its base URL.

    ``home`` becomes ``FAIRKIT_HOME`` and holds the server log, which is quoted when the
    server dies or is not healthy within ``SERVER_START_TIMEOUT``. ``env`` adds environment
    variables (for example the ``FAIRKIT_FAST_TRAINING=1`` test hook).
    """
    log_path = home / "streamlit.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, **(env or {}), FAIRKIT_HOME=str(home), PYTHONUNBUFFERED="1")
    cmd = [
        _python(), "-m", "streamlit", "run", "app.py",
        "--server.port", str(port), "--server.headless", "true",
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while not _healthy(url):
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited with code {proc.returncode} before it was "
                                f"healthy:\n{log_path.read_text(errors='replace')}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit was not healthy at {url} after "
                                f"{SERVER_START_TIMEOUT:.0f} s:\n{log_path.read_text(errors='replace')}",
                                pytrace=False)
                time.sleep(0.25)
            yield url
        finally:
            _stop(proc)


