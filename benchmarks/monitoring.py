"""What the command line's export and score cost, for comparing two checkouts side by side.

``python -m benchmarks.monitoring --repos OLD NEW [--repeats 5] [--history 5000] [--dataset adult]``
runs, for each checkout in its own process (``PYTHONPATH`` set to it, so each reads its own
fairkit), on a bundled data set (Adult by default):

- a sweep of the unconstrained network (its run store kept per checkout, outside the timings);
- ``export`` of that run (median of ``--repeats``, each to a new file, in one home);
- ``score`` of the split's test rows (9,769 on Adult) with that bundle, in a home whose audit log holds the export
  only and in one holding ``--history`` more score entries (a deployment's months: ``score``
  reads the log's check for the bundle's review status).

The checkouts alternate repeat by repeat, so the machine's load falls on both alike. Each figure
is a median of in-process wall times (``fairkit.__main__.main``); ratios are new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r'''
import json, os, sys, time, shutil
from pathlib import Path
import pandas as pd
from fairkit.__main__ import main
from fairkit.datasets import load_dataset
from fairkit.split import split_dataset

work, what, history, dataset = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.environ["FAIRKIT_HOME"] = str(work / "home")
out = {}
if what == "setup":
    assert main(["-q", "sweep", "--dataset", dataset, "--methods", "unconstrained", "--etas", "0", "--no-png",
                 "--out", str(work / "sweep")]) == 0
    frame, spec = load_dataset(dataset)
    split = split_dataset(frame, spec, seed=0)
    frame.iloc[split.test.index].to_csv(work / "rows.csv", index=False)
    run = pd.read_csv(work / "sweep" / "results.csv")["run_id"].iloc[0]
    (work / "run").write_text(run)
    assert main(["-q", "export", "--store", str(work / "sweep"), "--run", run, "--rationale", "r", "--decider",
                 "d", "--out", str(work / "b.zip")]) == 0
    shutil.copytree(work / "home", work / "home_long")
    from fairkit.audit import AuditLog
    log = AuditLog(work / "home_long" / "audit.sqlite")
    for i in range(history):
        log.append("score", actor="job", subject="x" * 64, manifest_sha256="x" * 64, input_hash="y" * 64,
                   rows=100, drift=None)
elif what == "export":
    run = (work / "run").read_text()
    n = len(list(work.glob("e*.zip")))
    t0 = time.perf_counter()
    assert main(["-q", "export", "--store", str(work / "sweep"), "--run", run, "--rationale", "r", "--decider",
                 "d", "--out", str(work / f"e{n}.zip")]) == 0
    out["seconds"] = time.perf_counter() - t0
else:
    os.environ["FAIRKIT_HOME"] = str(work / what)
    t0 = time.perf_counter()
    assert main(["-q", "score", "--bundle", str(work / "b.zip"), "--csv", str(work / "rows.csv"),
                 "--out", str(work / "s.csv")]) in (0, 4)
    out["seconds"] = time.perf_counter() - t0
print(json.dumps(out))
'''


def _run(repo: str, work: Path, what: str, history: int, dataset: str) -> dict:
    env = dict(os.environ, PYTHONPATH=repo, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(work), what, str(history), dataset], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(repos, *, repeats: int = 5, history: int = 5000, dataset: str = "adult", steps=None) -> dict:
    """``{(repo, step): [seconds, ...]}`` for the steps "export", "home" (score, a log of the
    export) and "home_long" (score, ``history`` more entries), or those of ``steps``, the
    checkouts alternating."""
    steps = tuple(steps or STEPS)
    with tempfile.TemporaryDirectory() as tmp:
        works = {repo: Path(tmp) / f"r{i}" for i, repo in enumerate(repos)}
        for repo, work in works.items():
            work.mkdir()
            _run(repo, work, "setup", history, dataset)
        times = {(repo, what): [] for repo in repos for what in steps}
        for _ in range(repeats):
            for what in steps:
                for repo, work in works.items():
                    times[(repo, what)].append(_run(repo, work, what, history, dataset)["seconds"])
    return times


STEPS = ("export", "home", "home_long")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", nargs=2, required=True, metavar=("OLD", "NEW"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--dataset", default="adult")
    args = parser.parse_args(argv)
    times = compare(args.repos, repeats=args.repeats, history=args.history, dataset=args.dataset)
    old, new = args.repos
    for what, label in (("export", f"export ({args.dataset}, unconstrained)"),
                        ("home", "score of the test rows, log of 1 export"),
                        ("home_long", f"score of the test rows, log of {args.history:,} more entries")):
        a, b = statistics.median(times[(old, what)]), statistics.median(times[(new, what)])
        print(f"{label}: old {a:.2f} s, new {b:.2f} s, ratio {b / a:.2f}x "
              f"(old {min(times[(old, what)]):.2f}-{max(times[(old, what)]):.2f}, "
              f"new {min(times[(new, what)]):.2f}-{max(times[(new, what)]):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
