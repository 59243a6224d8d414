"""What the command line's export and score cost, for comparing two checkouts side by side.

``python -m benchmarks.monitoring --repos OLD NEW [--repeats 5] [--history 5000] [--dataset adult]``
runs, for each checkout in its own process (``PYTHONPATH`` set to it, so each reads its own
fairkit), on a bundled data set (Adult by default):

- a sweep of the unconstrained network (its run store kept per checkout, outside the timings);
- ``export`` of that run (median of ``--repeats``, each to a new file, in one home);
- ``score`` of the split's test rows (9,769 on Adult) with that bundle, in a home whose audit log holds the export
  only and in one holding ``--history`` more score entries (a deployment's months: ``score``
  reads the log's check for the bundle's review status);
- with ``--large-rows N``, ``score`` of N rows drawn (with replacement) from the test rows: a
  batch at the scale of the row limit, where the drift check's bootstrap is most of the memory.
- with ``--steps sweep``, a 16-eta regularized sweep (no adaptive placement) into a new folder
  each time: training, the scoring of its networks and the sweep's files.

The checkouts alternate repeat by repeat, so the machine's load falls on both alike. Each figure
is a median of in-process wall times (``fairkit.__main__.main``) and of the process's peak
resident memory; ratios are new / old.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from .common import run_in_checkout

_CHILD = r'''
import json, os, sys, time, shutil
from pathlib import Path
import pandas as pd
from fairkit.__main__ import main
from fairkit.datasets import load_dataset
from fairkit.split import split_dataset

work, what, history, dataset, large = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
os.environ["FAIRKIT_HOME"] = str(work / "home")
out = {}
if what == "setup":
    assert main(["-q", "sweep", "--dataset", dataset, "--methods", "unconstrained", "--etas", "0", "--no-png",
                 "--out", str(work / "sweep")]) == 0
    frame, spec = load_dataset(dataset)
    split = split_dataset(frame, spec, seed=0)
    frame.iloc[split.test.index].to_csv(work / "rows.csv", index=False)
    if large:
        frame.iloc[split.test.index].sample(n=large, replace=True, random_state=0).to_csv(work / "large.csv",
                                                                                          index=False)
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
elif what == "sweep":
    n = len(list(work.glob("sw*")))
    t0 = time.perf_counter()
    assert main(["-q", "sweep", "--dataset", dataset, "--methods", "regularized", "--n-etas", "16", "--no-adaptive",
                 "--no-png", "--out", str(work / f"sw{n}")]) == 0
    out["seconds"] = time.perf_counter() - t0
elif what == "export":
    run = (work / "run").read_text()
    n = len(list(work.glob("e*.zip")))
    t0 = time.perf_counter()
    assert main(["-q", "export", "--store", str(work / "sweep"), "--run", run, "--rationale", "r", "--decider",
                 "d", "--out", str(work / f"e{n}.zip")]) == 0
    out["seconds"] = time.perf_counter() - t0
else:
    rows = "large.csv" if what == "large" else "rows.csv"
    os.environ["FAIRKIT_HOME"] = str(work / ("home" if what == "large" else what))
    t0 = time.perf_counter()
    assert main(["-q", "score", "--bundle", str(work / "b.zip"), "--csv", str(work / rows),
                 "--out", str(work / "s.csv")]) in (0, 4)
    out["seconds"] = time.perf_counter() - t0
# VmHWM, not ru_maxrss, which carries a forking parent's size across exec (benchmarks.common.own_peak_mib;
# inline: an older checkout's benchmarks package may lack it).
out["peak_mib"] = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024  # kB
print(json.dumps(out))
'''


def _run(repo: str, work: Path, what: str, history: int, dataset: str, large: int) -> dict:
    return run_in_checkout(repo, _CHILD, work, what, history, dataset, large, cwd=work)


def compare(repos, *, repeats: int = 5, history: int = 5000, dataset: str = "adult", steps=None,
            large_rows: int = 0) -> dict:
    """``{(repo, step): [{"seconds": s, "peak_mib": m}, ...]}`` for the steps "export", "home"
    (score, a log of the export) and "home_long" (score, ``history`` more entries), and "large"
    (score of ``large_rows`` rows) when ``large_rows`` is given, or those of ``steps`` (also
    "sweep": a 16-eta regularized sweep), the checkouts alternating (each measurement is a
    process of its own)."""
    steps = tuple(steps or (STEPS + (("large",) if large_rows else ())))
    if "large" in steps and not large_rows:
        raise ValueError("the step 'large' needs large_rows")
    with tempfile.TemporaryDirectory() as tmp:
        works = {repo: Path(tmp) / f"r{i}" for i, repo in enumerate(repos)}
        for repo, work in works.items():
            work.mkdir()
            _run(repo, work, "setup", history, dataset, large_rows)
        found = {(repo, what): [] for repo in repos for what in steps}
        for _ in range(repeats):
            for what in steps:
                for repo, work in works.items():
                    found[(repo, what)].append(_run(repo, work, what, history, dataset, large_rows))
    return found


STEPS = ("export", "home", "home_long")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", nargs=2, required=True, metavar=("OLD", "NEW"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--large-rows", type=int, default=0,
                        help="also score this many rows drawn from the test rows (0: not measured)")
    parser.add_argument("--steps", default=None,
                        help=f"comma-separated steps to time (default {','.join(STEPS)}; also: sweep, large)")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",")] if args.steps else None
    unknown = sorted(set(steps or ()) - set(STEPS) - {"sweep", "large"})
    if unknown:  # a typo was timed as a score step and left out of the output
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS + ('sweep', 'large'))}")
    found = compare(args.repos, repeats=args.repeats, history=args.history, dataset=args.dataset,
                    large_rows=args.large_rows, steps=steps)
    old, new = args.repos
    labels = [("export", f"export ({args.dataset}, unconstrained)"),
              ("home", "score of the test rows, log of 1 export"),
              ("home_long", f"score of the test rows, log of {args.history:,} more entries")]
    if args.large_rows:
        labels.append(("large", f"score of {args.large_rows:,} rows"))
    labels.append(("sweep", f"sweep ({args.dataset}, regularized, 16 etas)"))
    for what, label in [(w, lab) for w, lab in labels if (old, w) in found]:
        for key, unit in (("seconds", "s"), ("peak_mib", "MiB")):
            a, b = ([m[key] for m in found[(repo, what)]] for repo in (old, new))
            print(f"{label}, {'time' if key == 'seconds' else 'peak memory'}: old {statistics.median(a):.2f} {unit}, "
                  f"new {statistics.median(b):.2f} {unit}, ratio {statistics.median(b) / statistics.median(a):.2f}x "
                  f"(old {min(a):.2f}-{max(a):.2f}, new {min(b):.2f}-{max(b):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
