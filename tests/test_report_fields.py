"""A run's stored intervals (issue 19): fairkit.sweep.report_fields and ReportingStore."""

import numpy as np
import pytest

from fairkit.metrics import fairness_report, metric_value
from fairkit.store import ResultStore
from fairkit.sweep import REPORT_INTERVAL_METRICS, ReportingStore, predict_scores, report_fields, run_sweep


def test_report_fields_are_the_reports_intervals_around_the_rows_values(tiny_split, fast_params, tmp_path):
    res = run_sweep(tiny_split, ["regularized"], [0.0, 1.0], [0], params=fast_params)
    row = res.results.iloc[1]
    fields = report_fields(res.model(row["run_id"]), tiny_split, n_boot=50)
    for prefix, part in (("val", tiny_split.validation), ("test", tiny_split.test)):
        rep = fairness_report(part.y, predict_scores(res.model(row["run_id"]), tiny_split, part), part.sensitive,
                              n_boot=50)
        gaps = rep.gaps.loc[rep.primary_attribute]
        for metric in REPORT_INTERVAL_METRICS:
            source = rep.overall if metric in rep.overall else gaps
            _, low, high = metric_value(source, metric)
            assert fields[f"{prefix}_{metric}_low"] == pytest.approx(low, nan_ok=True)
            assert fields[f"{prefix}_{metric}_high"] == pytest.approx(high, nan_ok=True)
            # The row's own value (the sweep's kernel pass) lies in its interval.
            value = row[f"{prefix}_{metric}"]
            if np.isfinite(low):
                assert low - 1e-9 <= value <= high + 1e-9, (prefix, metric)
        assert fields[f"{prefix}_report_notes"] == "\n".join(rep.notes)
    assert fields["report_n_boot"] == 50 and fields["report_attribute"] == "sex"


def test_reporting_store_adds_the_fields_as_a_sweep_stores_each_run(tiny_split, fast_params, tmp_path):
    plain = ResultStore(tmp_path)
    store = ReportingStore(plain, tiny_split, n_boot=20)
    res = run_sweep(tiny_split, ["regularized"], [0.0, 1.0], [0], params=fast_params, store=store)
    for run_id in res.results["run_id"]:
        record = plain.get(run_id)  # read back through a plain store: the fields are in the record
        assert record["report_n_boot"] == 20 and record["test_accuracy_low"] <= record["test_accuracy"]
    # A rerun trains and computes nothing: the runs (with their fields) come from the store.
    again = run_sweep(tiny_split, ["regularized"], [0.0, 1.0], [0], params=fast_params, store=store)
    assert again.results["cached"].all()
