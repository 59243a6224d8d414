"""How often ``score``'s drift check alarms on batches from the record's own population, and on
shifted ones, for comparing two checkouts side by side.

``python -m benchmarks.drift --repos OLD NEW [--draws 100]`` runs, for each checkout in its own
process (``PYTHONPATH`` set to it): a sweep of the regularized network on the bundled German data
(eta 0.05), its export, then drift reports (:func:`fairkit.monitor.drift_report`, 200 resamples,
alpha 0.01) on ``--draws`` batches of 60 and of 140 rows drawn with replacement from the split's
test rows (the population the record measured: every alarm is false), and on as many batches of
140 drawn from the test rows with half of the women's favourable labels turned unfavourable (a
real shift). The draws are seeded alike for both checkouts.
"""

from __future__ import annotations

import argparse
import sys

from .common import run_in_checkout

_CHILD = r'''
import json, os, sys, tempfile, warnings
from pathlib import Path
import numpy as np
import pandas as pd
from fairkit.__main__ import main
from fairkit.datasets import load_dataset
from fairkit.export import load_bundle
from fairkit.monitor import drift_report
from fairkit.split import split_dataset

warnings.simplefilter("ignore")
draws = int(sys.argv[1])
work = Path(tempfile.mkdtemp())
os.environ["FAIRKIT_HOME"] = str(work / "home")
assert main(["-q", "sweep", "--dataset", "german", "--methods", "regularized", "--etas", "0.05", "--no-png",
             "--out", str(work / "s")]) == 0
run = pd.read_csv(work / "s" / "results.csv")["run_id"].iloc[0]
assert main(["-q", "export", "--store", str(work / "s"), "--run", run, "--rationale", "r", "--decider", "d",
             "--out", str(work / "b.zip")]) == 0
bundle = load_bundle(work / "b.zip")
frame, spec = load_dataset("german")
test = frame.iloc[split_dataset(frame, spec, seed=0).test.index].reset_index(drop=True)
shifted = test.copy()
women_good = shifted.index[(shifted["sex"] == "female") & (shifted["credit"] == "good")]
shifted.loc[women_good[::2], "credit"] = "bad"
out = {}
for name, source, n in (("same population, 60 rows", test, 60), ("same population, 140 rows", test, 140),
                        ("shifted, 140 rows", shifted, 140)):
    rng = np.random.default_rng(7)
    alarms, checked = 0, []
    for _ in range(draws):
        batch = source.sample(n, replace=True, random_state=int(rng.integers(2**31))).reset_index(drop=True)
        report = drift_report(bundle, batch, bundle.predict_proba(batch), n_boot=200)
        if report is None:
            continue
        alarms += bool(report["drifted"])
        checked.append(report["checked"])
    out[name] = {"alarms": alarms, "draws": draws, "median_gaps_checked": float(np.median(checked))}
print(json.dumps(out))
'''


def compare(repos, *, draws: int = 100) -> dict:
    """Per checkout, per kind of batch: ``alarms``, ``draws`` and the median gaps checked."""
    found = {}
    for repo in repos:
        found[repo] = run_in_checkout(repo, _CHILD, draws)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", nargs=2, required=True, metavar=("OLD", "NEW"))
    parser.add_argument("--draws", type=int, default=100)
    args = parser.parse_args(argv)
    found = compare(args.repos, draws=args.draws)
    old, new = args.repos
    for name in found[old]:
        a, b = found[old][name], found[new][name]
        print(f"{name}: old {a['alarms']}/{a['draws']} alarmed ({a['median_gaps_checked']:g} gaps checked), "
              f"new {b['alarms']}/{b['draws']} ({b['median_gaps_checked']:g} gaps checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
