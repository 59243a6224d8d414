"""Shared entry for the benchmark scripts: every script is ``fairkit.bench.main`` with fixed parts.

Run from the project root, e.g. ``.venv/bin/python benchmarks/bench_training.py``; extra command-line
arguments (``--quick``, ``--seeds N``, ``--datasets ...``) are passed through.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run(parts: str, datasets: str | None = None) -> int:
    from fairkit.bench import main

    argv = ["--parts", parts, *(["--datasets", datasets] if datasets else []), *sys.argv[1:]]
    return main(argv)
