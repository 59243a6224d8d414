"""What reading models as data costs: the run store and LightGBM's text check, side by side.

``python -m benchmarks.storage [--dataset adult] [--repeats 15]`` trains one model of each kind
(network, boosted trees, thresholds on trees, thresholds on inferred groups) at eta 0.5, and
times, in one process, for each:

- storing it in the run store (``ResultStore.put``: encoded as data, written and fsynced) and
  reading it back (``load_model``: hashed, decoded, LightGBM texts checked), against a pickle of
  the same model written and read with joblib (what the store did before it held data);
- for every LightGBM text it holds: fairkit's check (:func:`fairkit.safestate.lightgbm_model_text`)
  plus LightGBM's parse, against LightGBM's parse alone.

Each figure is the median of ``--repeats`` calls; ratios come from the same run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import warnings

import pandas as pd

from .common import add_out_argument, limit_threads, out_dir, report

METHODS = ("regularized", "boosting", "threshold", "inferred_threshold")


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def compare_storage(dataset: str = "adult", repeats: int = 15) -> pd.DataFrame:
    """One row per kind of model: store put / load against joblib dump / load, and the LightGBM
    check plus parse against LightGBM alone (milliseconds, medians, and their ratios)."""
    import joblib
    import lightgbm as lgb

    from fairkit.datasets import load_dataset
    from fairkit.safestate import encode_state, lightgbm_model_text
    from fairkit.split import split_dataset
    from fairkit.store import ResultStore
    from fairkit.sweep import run_sweep

    frame, spec = load_dataset(dataset)
    split = split_dataset(frame, spec, seed=0)
    source = ResultStore(tempfile.mkdtemp())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = run_sweep(split, list(METHODS), {m: [0.5] for m in METHODS}, [0], store=source).results
    rows = []
    for run in runs.itertuples():
        model, record = source.load_model(run.run_id), source.get(run.run_id)
        store = ResultStore(tempfile.mkdtemp())
        counter = iter(range(10**6))
        put = _median_ms(lambda: store.put(f"k{next(counter)}", record, model), repeats)
        load = _median_ms(lambda: ResultStore(store.root).load_model("k0"), repeats)
        pickled = io.BytesIO()
        dump = _median_ms(lambda: joblib.dump(model, io.BytesIO()), repeats)
        joblib.dump(model, pickled)
        unpickle = _median_ms(lambda: joblib.load(io.BytesIO(pickled.getvalue())), repeats)
        texts = list(encode_state(model).texts.values())
        checked = _median_ms(lambda: [lgb.Booster(model_str=lightgbm_model_text(t)) for t in texts], repeats)
        alone = _median_ms(lambda: [lgb.Booster(model_str=t) for t in texts], repeats)
        rows.append({
            "method": run.method, "model_kb": round(len(pickled.getvalue()) / 1e3, 1),
            "put_ms": put, "joblib_dump_ms": dump, "load_ms": load, "joblib_load_ms": unpickle,
            "load_over_joblib": load / unpickle,
            "lightgbm_texts": len(texts), "lightgbm_kb": round(sum(map(len, texts)) / 1e3, 1),
            "check_and_parse_ms": checked if texts else float("nan"),
            "parse_alone_ms": alone if texts else float("nan"),
            "check_over_parse": checked / alone if texts else float("nan"),
        })
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="adult", help="bundled dataset (default adult)")
    p.add_argument("--repeats", type=int, default=15, help="calls per median (default 15)")
    add_out_argument(p)
    args = p.parse_args(argv)
    limit_threads(1)
    report(f"Reading models as data ({args.dataset}; medians of {args.repeats} calls, ms)",
           compare_storage(args.dataset, args.repeats), out_dir(args.out), "storage", float_format="{:.3g}")


if __name__ == "__main__":
    main()
