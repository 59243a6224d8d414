"""A large table trained whole or on a stratified sample, side by side (issue 20, "Large tables").

A table of Adult stacked ``copies`` times (10 copies: 488,420 rows, about 55 MB as CSV, the size
of the upload the issue timed) is split whole, and a stratified sample of ``rows`` rows
(:func:`fairkit.split.stratified_sample`, what the Data page and ``sweep --sample`` draw) is drawn
and split. Each row gives the wall time of the step and the estimate of the dashboard's default
sweep on that split (:func:`fairkit.sweep.estimate_seconds`, what the Train page shows, with no
stored runs: the registry's cost model); ``--fit`` also fits the unconstrained network once on
each split's training part (``--max-epochs``), so the estimate's proportionality is checked
against a measured fit. Ratios are whole / sample, measured in the same run.

Run: ``.venv/bin/python -m benchmarks.sample [--copies 10] [--rows 50000] [--fit --max-epochs 3]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from fairkit.datasets import load_dataset
from fairkit.methods import DEFAULT_METHODS, get_method
from fairkit.split import split_dataset, stratified_sample
from fairkit.sweep import estimate_seconds

from .common import ratio, to_markdown

#: The Train page's default grid size and placement budget (views/train.py).
N_ETAS = 6


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _fit_seconds(split, max_epochs: int) -> float:
    model = get_method("unconstrained").build(0.0, seed=0, max_epochs=max_epochs)
    _, seconds = _timed(lambda: model.fit(split.train.X, split.train.y,
                                          sensitive_features=split.model_groups(split.train)))
    return seconds


def compare(copies: int = 10, rows: int = 50_000, fit: bool = False, max_epochs: int = 3) -> pd.DataFrame:
    """Whole table against its stratified sample: split time, estimated sweep, optional fit."""
    frame, spec = load_dataset("adult")
    big = pd.concat([frame] * copies, ignore_index=True)
    csv_mb = len(big.to_csv(index=False).encode()) / 1e6 if copies <= 20 else float("nan")
    out = []
    sample, sample_s = _timed(lambda: stratified_sample(big, spec, rows, seed=0))
    for name, table, extra in (("whole table", big, 0.0), ("stratified sample", sample.frame, sample_s)):
        split, split_s = _timed(lambda table=table: split_dataset(table, spec, seed=0))
        est = estimate_seconds(split, list(DEFAULT_METHODS), n_etas=N_ETAS, adaptive=False)
        row = {"table": name, "rows": len(table), "csv_mb": csv_mb if name == "whole table" else float("nan"),
               "sample_s": extra, "split_s": split_s, "train_rows": len(split.train),
               "estimate_grid_s": est["seconds"]}
        if fit:
            row["fit_unconstrained_s"] = _fit_seconds(split, max_epochs)
        out.append(row)
    table = pd.DataFrame(out)
    whole, part = table.iloc[0], table.iloc[1]
    ratios = {"table": "ratio whole / sample", "rows": whole["rows"] / part["rows"],
              "split_s": ratio(whole["split_s"], part["split_s"] + part["sample_s"]),
              "estimate_grid_s": ratio(whole["estimate_grid_s"], part["estimate_grid_s"])}
    if fit:
        ratios["fit_unconstrained_s"] = ratio(whole["fit_unconstrained_s"], part["fit_unconstrained_s"])
    return pd.concat([table, pd.DataFrame([ratios])], ignore_index=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--max-epochs", type=int, default=3)
    args = parser.parse_args(argv)
    print(to_markdown(compare(args.copies, args.rows, args.fit, args.max_epochs)))


if __name__ == "__main__":
    main()
