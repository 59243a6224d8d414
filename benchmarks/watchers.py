"""Does watching a sweep slow it down? The dashboard in a real browser, several people on one server.

For each server setting (Streamlit's full garbage collection after every script run, its default,
against the project's ``.streamlit/config.toml``, which turns it off), ``streamlit run app.py``
starts on a free local port with the fast-training hook and its own ``FAIRKIT_HOME``. One
browser context (the owner) starts a sweep of the bundled Adult sample (the Train page's default
methods, 10 seeds); the runs stored a minute are counted with the owner's page alone, then with
four more contexts following the same sweep (each pressed Run sweep with the same settings, so
it watches), then with the owner alone again. Each Train page reruns its progress every second.

Run: ``python -m benchmarks.watchers [--seconds 60]`` from the project root (needs Chromium at
/usr/bin/chromium and Playwright; about 5 minutes a setting). Multi-user audit, session 47: with
the collection on, four watchers took one sweep from 109 to 4 runs stored a minute (131 to 124 off).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(home: Path, post_script_gc: bool | None):
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
           str(port), "--server.address", "127.0.0.1"]
    if post_script_gc is not None:
        cmd += ["--runner.postScriptGC", str(post_script_gc).lower()]
    env = dict(os.environ, FAIRKIT_HOME=str(home), FAIRKIT_FAST_TRAINING="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the dashboard did not start")


def _train_page(browser, url: str, seeds: int):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url)
    page.get_by_text("Ready", exact=False).first.wait_for(timeout=180_000)
    page.get_by_role("link", name="Train").first.click()
    page.get_by_role("button", name="Run sweep").wait_for(timeout=180_000)
    box = page.locator('input[aria-label="Seeds per setting"]').first
    box.fill(str(seeds))
    box.press("Enter")
    page.wait_for_timeout(2000)
    return ctx, page


def measure(post_script_gc: bool | None, *, seconds: float = 60, seeds: int = 10) -> dict:
    """Runs stored a minute by one sweep: ``alone``, ``watched`` (four more pages), ``alone_again``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        proc, url = _serve(home, post_script_gc)
        runs = lambda: len(list((home / "store" / "runs").glob("*.json")))  # noqa: E731

        def rate() -> float:
            start, t0 = runs(), time.time()
            time.sleep(seconds)
            return 60 * (runs() - start) / (time.time() - t0)

        out = {}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                owner, page = _train_page(browser, url, seeds)
                page.get_by_role("button", name="Run sweep").click()
                page.wait_for_timeout(5000)
                out["alone"] = rate()
                watchers = []
                for _ in range(4):
                    ctx, other = _train_page(browser, url, seeds)
                    other.get_by_role("button", name="Run sweep").click()
                    watchers.append(ctx)
                out["watched"] = rate()
                for ctx in watchers:
                    ctx.close()
                out["alone_again"] = rate()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of each phase")
    args = parser.parse_args(argv)
    for label, setting in (("full collection after every script run (Streamlit's default)", True),
                           ("the project's settings (.streamlit/config.toml)", None)):
        r = measure(setting, seconds=args.seconds)
        print(f"{label}: {r['alone']:.0f} runs/min with the owner's page alone, {r['watched']:.0f} with four "
              f"more pages watching, {r['alone_again']:.0f} alone again", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
