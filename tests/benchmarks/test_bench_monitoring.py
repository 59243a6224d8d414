"""The monitoring and drift benchmarks: both checkouts' figures, on German in a few calls."""

from pathlib import Path

import benchmarks.drift as drift
import benchmarks.monitoring as monitoring

REPO = str(Path(__file__).resolve().parents[2])


def test_monitoring_times_the_steps_asked_for_each_checkout():
    # One step keeps the suite short: each is a process of its own (the other two run the same way).
    found = monitoring.compare([REPO], repeats=1, history=20, dataset="german", steps=("home_long", "sweep"))
    assert set(found) == {(REPO, "home_long"), (REPO, "sweep")}
    for step in ("home_long", "sweep"):
        (measured,) = found[(REPO, step)]  # one repeat
        assert measured["seconds"] > 0 and measured["peak_mib"] > 50  # a process that imported fairkit


def test_drift_counts_alarms_per_kind_of_batch():
    found = drift.compare([REPO], draws=3)[REPO]
    assert set(found) == {"same population, 60 rows", "same population, 140 rows", "shifted, 140 rows"}
    for kind in found.values():
        assert kind["draws"] == 3 and 0 <= kind["alarms"] <= 3 and kind["median_gaps_checked"] > 0
