"""Plotly figures: what each trace holds, and save_figure's files and failure handling."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from fairkit.frontier import pareto_front
from fairkit.plots import (
    MAX_PANELS,
    SEARCH_LEGEND,
    UNSTABLE_LEGEND,
    calibration_figure,
    frontier_figure,
    frontier_snapshot_figure,
    group_bars_figure,
    mark_search,
    method_label,
    plot_text,
    save_figure,
)

DP = "demographic_parity_difference"


def _results() -> pd.DataFrame:
    """A sweep-shaped table: two methods over etas, the reference method and the baseline."""
    rng = np.random.default_rng(0)
    rows = []
    for method, etas in [("regularized", [0.0, 0.5, 1.0, 2.0]), ("lagrangian", [2.0, 10.0]),
                         ("threshold", [0.0, 1.0]), ("unconstrained", [0.0])]:
        for eta in etas:
            acc, dp = 0.85 - 0.02 * eta / 2, 0.2 / (1 + eta)
            rows.append({"run_id": f"{method}-{eta}", "method": method, "eta": eta,
                         "val_accuracy": acc + rng.normal(0, 0.002), f"val_{DP}": dp + rng.normal(0, 0.005),
                         "test_accuracy": acc + rng.normal(0, 0.002), f"test_{DP}": dp + rng.normal(0, 0.005)})
    # Looks best of all on test but is dominated on validation: a front chosen on validation
    # leaves it out, one chosen on test would draw it.
    rows.append({"run_id": "regularized-lucky", "method": "regularized", "eta": 3.0,
                 "val_accuracy": 0.70, f"val_{DP}": 0.15, "test_accuracy": 0.95, f"test_{DP}": 0.0})
    return pd.DataFrame(rows)


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def test_frontier_figure_draws_runs_fronts_reference_and_baseline():
    res = _results()
    fig = frontier_figure(res, selected_run="regularized-1.0", tolerance=0.05)
    everything = _trace(fig, "all runs")
    assert len(everything.x) == len(res)
    assert list(everything.customdata[:, 0]) == list(res["run_id"])  # click -> run id
    front = pareto_front(res, by="method")
    reg = _trace(fig, "Fairness-regularized network")
    want = front[front.method == "regularized"]
    # The front is chosen on validation and drawn with the same runs' test values.
    np.testing.assert_allclose(reg.x, want["unfairness_test"])
    np.testing.assert_allclose(reg.y, want["performance_test"])
    assert list(reg.customdata[:, 0]) == list(want["run_id"])
    assert "regularized-lucky" not in set(reg.customdata[:, 0]) and len(reg.x) >= 2
    ref = _trace(fig, "Group thresholds (post-processing reference) (needs the attribute)")
    assert ref.line.dash == "dash"
    star = _trace(fig, "Unconstrained network")
    assert star.marker.symbol == "star" and list(star.customdata[:, 0]) == ["unconstrained-0.0"]
    sel = _trace(fig, "selected")
    assert sel.x[0] == pytest.approx(res.set_index("run_id").loc["regularized-1.0", f"test_{DP}"])
    assert any(s.x0 == 0.05 for s in fig.layout.shapes)  # the tolerance line


def test_frontier_figure_can_show_validation_and_empty_tables():
    res = _results()
    fig = frontier_figure(res, split="val")
    np.testing.assert_allclose(_trace(fig, "all runs").y, res["val_accuracy"])
    assert "validation" in fig.layout.title.text
    assert frontier_figure(res.iloc[:0]).layout.title.text == "No runs yet"


def test_frontier_snapshot_draws_the_exported_table_as_it_is():
    res = _results()
    front = pareto_front(res, by="method")
    front["needs_sensitive_at_predict"] = front["method"] == "threshold"
    chosen = front[front.method == "regularized"].iloc[1]
    fig = frontier_snapshot_figure(front, selected_run=chosen["run_id"], unfairness=DP)
    for method, sub in front.groupby("method", sort=False):
        line = _trace(fig, method_label(method, needs_attribute=method == "threshold"))
        # The table's own test values, in its order: nothing recomputed.
        np.testing.assert_allclose(line.x, sub["unfairness_test"])
        np.testing.assert_allclose(line.y, sub["performance_test"])
        assert line.line.dash == ("dash" if method == "threshold" else "solid")
    ring = _trace(fig, "chosen")
    assert (ring.x[0], ring.y[0]) == (chosen["unfairness_test"], chosen["performance_test"])
    assert "Demographic parity" in fig.layout.xaxis.title.text
    # A run that is not on the exported frontier gets no ring.
    assert "chosen" not in {t.name for t in frontier_snapshot_figure(front, selected_run="nope").data}
    # A record's table marks its chosen row: with several seeds that row is the chosen run's
    # setting, whose run id is another seed's.
    marked = front.assign(selected=front["run_id"] == chosen["run_id"])
    ring = _trace(frontier_snapshot_figure(marked, selected_run="seed-1-run", unfairness=DP), "chosen")
    assert (ring.x[0], ring.y[0]) == (chosen["unfairness_test"], chosen["performance_test"])


def test_calibration_and_group_bar_figures():
    curve = pd.DataFrame({"group": ["a", "a", "b", "b"], "mean_predicted": [0.2, 0.7, 0.3, 0.8],
                          "fraction_positive": [0.25, 0.6, 0.2, 0.9], "count": [10, 12, 8, 9]})
    cal = calibration_figure(curve)
    assert [t.name for t in cal.data] == ["perfect calibration", "a", "b"]
    np.testing.assert_allclose(_trace(cal, "b").y, [0.2, 0.9])
    by_group = pd.DataFrame({"attribute": ["sex", "sex"], "group": ["F", "M"], "selection_rate": [0.2, 0.4],
                             "selection_rate_low": [0.15, 0.35], "selection_rate_high": [0.3, 0.42]})
    bars = group_bars_figure(by_group, metrics=("selection_rate",))
    (bar,) = bars.data
    np.testing.assert_allclose(bar.error_y.array, [0.1, 0.02])
    np.testing.assert_allclose(bar.error_y.arrayminus, [0.05, 0.05])


def test_save_figure_writes_html_and_png(tmp_path):
    out = save_figure(frontier_figure(_results()), tmp_path / "front.png")
    assert out["html"] == tmp_path / "front.html" and out["html"].stat().st_size > 1000
    assert out["png"] == tmp_path / "front.png" and out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["png_error"] is None


def test_save_figure_html_follows_the_umask_or_the_replaced_file(tmp_path):
    """Install audit, session 49: frontier.html was always 0600 while the PNG beside it and every
    other output followed the umask (or kept the replaced file's permissions)."""
    import os

    old = os.umask(0o022)
    try:
        html = save_figure(frontier_figure(_results()), tmp_path / "front", png=False)["html"]
        assert html.stat().st_mode & 0o777 == 0o644
        html.chmod(0o640)
        save_figure(frontier_figure(_results()), tmp_path / "front", png=False)
        assert html.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_save_figure_retries_the_png_once_and_keeps_the_html_when_it_fails(tmp_path, monkeypatch):
    calls = []

    def flaky(self, path, **kw):
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("browser did not start")
        path.write_bytes(b"png")

    monkeypatch.setattr(go.Figure, "write_image", flaky)
    out = save_figure(go.Figure(), tmp_path / "a")
    assert len(calls) == 2 and out["png"] == tmp_path / "a.png" and out["png_error"] is None

    def broken(self, path, **kw):
        calls.append(path)
        raise RuntimeError("renderer crashed")

    calls.clear()
    monkeypatch.setattr(go.Figure, "write_image", broken)
    with pytest.warns(RuntimeWarning, match="^PNG not written: RuntimeError: renderer crashed$"):
        out = save_figure(go.Figure(), tmp_path / "b")
    assert len(calls) == 2 and out["png"] is None and (tmp_path / "b.html").exists()
    assert out["png_error"] == "PNG not written: RuntimeError: renderer crashed"


def test_save_figure_without_a_browser_says_what_to_install(tmp_path, monkeypatch):
    # kaleido 1.x takes $BROWSER_PATH when it has no browser download of its own (none on the
    # machines that run ./fk); a path to nothing is a machine without Chrome or Chromium.
    missing = tmp_path / "no-such" / "chromium"
    monkeypatch.setenv("BROWSER_PATH", str(missing))
    with pytest.warns(RuntimeWarning, match="^PNG not written: no Chrome or Chromium"):
        out = save_figure(frontier_figure(_results()), tmp_path / "front")
    assert out["png"] is None and not (tmp_path / "front.png").exists()
    assert out["html"].stat().st_size > 1000
    assert f"BROWSER_PATH={str(missing)!r} is not a file" in out["png_error"]
    assert "apt-get install chromium" in out["png_error"] and "plotly_get_chrome" in out["png_error"]


HOSTILE = ['<a href="https://evil.example">G1</a>', "<b>bold</b>", "two<br>lines", "R&D", "%{meta}"]


def _strings(obj):
    """Every string in a figure's JSON, the template (no data) left out."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k != "template":
                yield from _strings(v)
    elif isinstance(obj, (list, tuple, np.ndarray)):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def _assert_shown_as_text(fig, names):
    data = fig.to_plotly_json()
    strings = list(_strings(data))
    for name in names:
        raw = [s for s in strings if name in s and name != plot_text(name)]
        assert not raw, (name, raw)  # no markup of the data reaches Plotly unescaped ...
        assert any(plot_text(name) in s for s in strings), name  # ... and the name is there, escaped
    for trace in data["data"]:
        # Data never becomes part of a hover template, where "%{...}" would be read as a field.
        assert "%{meta}" not in trace.get("hovertemplate", "")


def test_markup_in_data_is_shown_not_obeyed():
    groups = pd.DataFrame({"group": HOSTILE, "selection_rate": 0.5, "tpr": 0.6, "fpr": 0.2})
    _assert_shown_as_text(group_bars_figure(groups, title=f"Rates by {HOSTILE[1]}"), HOSTILE)
    curve = pd.DataFrame({"group": np.repeat(HOSTILE, 2), "mean_predicted": 0.4, "fraction_positive": 0.5,
                          "count": 40})
    fig = calibration_figure(curve, title=f"Reliability by {HOSTILE[0]}")
    _assert_shown_as_text(fig, HOSTILE)
    assert fig.layout.title.text == "Reliability by " + plot_text(HOSTILE[0])
    # Method names from a bundle's frontier table, and from a results table (a benchmark's, say).
    frontier = pd.DataFrame({"method": HOSTILE, "eta": 1.0, "run_id": [f"r{i}" for i in range(5)],
                             "unfairness_test": 0.1, "performance_test": 0.8})
    _assert_shown_as_text(frontier_snapshot_figure(frontier, selected_run="r0"), HOSTILE)
    results = _results()
    results.loc[results.method == "lagrangian", "method"] = HOSTILE[0]
    fig = frontier_figure(results, unfairness=DP, title=f"{HOSTILE[2]}: trade-off")
    _assert_shown_as_text(fig, [HOSTILE[0], HOSTILE[2]])
    assert plot_text("<b>G1</b> & G2") == "&lt;b&gt;G1&lt;/b&gt; &amp; G2"


def test_frontier_figure_draws_seed_means_with_their_range_and_constant_models_apart():
    rows = []
    for seed in (0, 1, 2):
        for eta, dp, acc, rate in [(0.0, 0.20, 0.85, 0.3), (1.0, 0.10, 0.83, 0.25), (5.0, 0.0, 0.76, 1.0)]:
            rows.append({"run_id": f"r{eta}-{seed}", "method": "regularized", "eta": eta, "seed": seed,
                         "val_accuracy": acc + 0.01 * seed, f"val_{DP}": dp + 0.01 * seed, "val_selection_rate": rate,
                         "test_accuracy": acc - 0.01 * seed, f"test_{DP}": dp + 0.02 * seed})
    res = pd.DataFrame(rows)
    fig = frontier_figure(res)
    means = _trace(fig, "all settings (mean of 3 seeds)")
    np.testing.assert_allclose(means.x, [0.22, 0.12])  # the test DP of each usable setting, averaged
    np.testing.assert_allclose(means.error_x.array, [0.02, 0.02])  # up to the largest seed's
    np.testing.assert_allclose(means.error_y.arrayminus, [0.01, 0.01])
    assert list(means.customdata[:, 0]) == ["r0.0-0", "r1.0-0"]  # a click selects the lowest seed's run
    assert means.customdata[0, 3] == "0.220 [0.200, 0.240]"  # hover: the value and its range
    assert "mean of 3 seeds" in means.customdata[0, 5]
    flat = _trace(fig, "constant models (off the front)")
    assert list(flat.customdata[:, 0]) == ["r5.0-0"] and flat.marker.symbol == "x"
    line = _trace(fig, "Fairness-regularized network")
    assert "r5.0-0" not in set(line.customdata[:, 0])
    # Drawn run by run when asked, and a single seed is never averaged.
    assert len(_trace(frontier_figure(res, aggregate_seeds=False), "all runs").x) == 6
    assert len(_trace(frontier_figure(res[res.seed == 1]), "all runs").x) == 2


def _lab(colour: str) -> np.ndarray:
    """CIELAB (D65) of a ``#rrggbb`` colour."""
    rgb = np.array([int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]) / 255
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.where(xyz / [0.95047, 1.0, 1.08883] > 0.008856, xyz / [0.95047, 1.0, 1.08883], np.nan))
    f = np.where(np.isnan(f), 7.787 * xyz / [0.95047, 1.0, 1.08883] + 16 / 116, f)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_a_method_has_one_colour_and_one_name_in_every_figure():
    from fairkit.methods import METHODS
    from fairkit.plots import BASELINE_COLOUR, method_colour

    res = _results()
    live = frontier_figure(res)
    front = pareto_front(res, by="method")
    front["needs_sensitive_at_predict"] = front["method"] == "threshold"
    snapshot = frontier_snapshot_figure(front, selected_run="none")
    # Whichever methods a table holds: the lagrangian's colour does not depend on the others.
    alone = frontier_figure(res[res.method.isin(["lagrangian", "unconstrained"])])
    for method in ("regularized", "lagrangian", "threshold"):
        name = method_label(method)
        assert name.startswith(METHODS[method].label)
        colours = {_trace(fig, name).line.color for fig in (live, snapshot) + ((alone,) if method == "lagrangian" else ())}
        assert colours == {method_colour(method)}
    assert len({method_colour(m) for m in METHODS if METHODS[m].role != "baseline"}) == len(METHODS) - 1
    assert _trace(live, "Unconstrained network").marker.color == BASELINE_COLOUR
    # The hover names the method by its label, with eta and both axes (intervals where stored).
    reg = _trace(live, "Fairness-regularized network")
    assert set(reg.customdata[:, 1]) == {"Fairness-regularized network"}
    assert "eta=" in reg.hovertemplate and "Accuracy: %{customdata[4]}" in reg.hovertemplate
    # The exported frontier's hover: the same fields, with the interval each run carried at export.
    front["test_accuracy_low"], front["test_accuracy_high"] = front["test_accuracy"] - 0.01, front["test_accuracy"] + 0.02
    line = _trace(frontier_snapshot_figure(front, selected_run="none"), "Fairness-regularized network")
    assert "eta=" in line.hovertemplate and "Accuracy: %{customdata[3]}" in line.hovertemplate
    first = front[front.method == "regularized"].iloc[0]
    acc, dp = first["test_accuracy"], first["unfairness_test"]
    assert list(line.customdata[0, 2:]) == [f"{dp:.3f}", f"{acc:.3f} [{acc - 0.01:.3f}, {acc + 0.02:.3f}]"]


def test_twenty_groups_get_twenty_distinct_colours_and_keep_them():
    from fairkit.plots import GROUP_PALETTE, reliability_figure

    groups = [f"group {i:02d}" for i in range(20)]
    curve = pd.DataFrame({"group": np.repeat(groups, 2), "mean_predicted": np.tile([0.3, 0.7], 20),
                          "fraction_positive": np.tile([0.35, 0.65], 20), "count": 40})
    lines = [t for t in calibration_figure(curve).data if t.name != "perfect calibration"]
    colours = [t.line.color for t in lines]
    assert len(set(colours)) == 20
    lab = np.array([_lab(c) for c in GROUP_PALETTE])
    gaps = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(20, 1)]
    assert gaps.min() > 25  # Delta E 1976: clearly different colours, not shades of one
    # A group drawn alone in the reliability figure keeps its colour.
    one = reliability_figure(curve, curve.assign(group="all"), groups=["group 13"])
    assert _trace(one, "group 13").line.color == colours[13]


def test_group_bar_labels_sit_under_their_bars():
    few = pd.DataFrame({"attribute": "race", "group": ["White", "Black & Hispanic origin", "<b>X</b>", "A", "B", "C"],
                        "selection_rate": [0.3, 0.2, 0.1, 0.2, 0.2, 0.2]})
    fig = group_bars_figure(few, metrics=("selection_rate",))
    axis = fig.layout.xaxis
    # Every group has its tick, at its own bars, level and wrapped, its name escaped.
    assert list(axis.tickvals) == list(fig.data[0].x) == [plot_text(g) for g in few["group"]]
    assert axis.tickangle == 0 and axis.tickmode == "array"
    assert axis.ticktext[1] == "Black &amp; Hispanic<br>origin" and axis.ticktext[2] == "&lt;b&gt;X&lt;/b&gt;"
    assert fig.data[0].name == "Selection rate"
    many = pd.DataFrame({"attribute": "g", "group": [f"a long group name {i}" for i in range(12)],
                         "selection_rate": 0.5})
    axis = group_bars_figure(many, metrics=("selection_rate",)).layout.xaxis
    assert axis.tickangle == -90 and len(axis.tickvals) == 12  # upright, centred, none skipped


def test_frontier_figure_marks_what_a_model_that_tells_nobody_apart_scores():
    from fairkit.plots import chance_performance

    res = _results()
    lines = [s for s in frontier_figure(res, base_rate=0.061).layout.shapes if s.y0 == s.y1]
    assert len(lines) == 1 and lines[0].y0 == pytest.approx(0.939)
    assert chance_performance("accuracy", 0.061)[1] == "always the majority class: 0.939 (6.1% positive)"
    assert chance_performance("accuracy", 0.7)[0] == pytest.approx(0.7)
    assert chance_performance("balanced_accuracy", 0.061)[0] == 0.5
    assert not [s for s in frontier_figure(res).layout.shapes if s.y0 == s.y1]


def test_a_model_below_one_decision_for_everyone_is_off_the_fronts_and_says_so():
    from fairkit.plots import BELOW_CHANCE_HOVER

    # 18 % positive: "no" for everyone scores 0.82 on validation. The lagrangian run at eta 10
    # (about 0.75) and the lucky regularized run (0.70) do not beat it; the others do.
    res = _results().assign(val_base_rate=0.18)
    below = res["val_accuracy"] <= 0.82
    assert below.any() and (~below).any()
    fig = frontier_figure(res)
    everything = _trace(fig, "all runs")
    notes = dict(zip(everything.customdata[:, 0], everything.customdata[:, 5]))
    assert {r for r, n in notes.items() if n == BELOW_CHANCE_HOVER} == set(res.run_id[below])
    drawn = {r for t in fig.data if t.name not in ("all runs", "selected") for r in t.customdata[:, 0]}
    on_fronts = {r for t in fig.data if t.mode == "lines+markers" for r in t.customdata[:, 0]}
    assert not on_fronts & set(res.run_id[below])
    assert on_fronts and drawn >= on_fronts
    # With several seeds the note follows each setting's mean.
    seeds = pd.concat([res.assign(seed=k, run_id=res.run_id + f"-{k}") for k in (0, 1)], ignore_index=True)
    means = _trace(frontier_figure(seeds), "all settings (mean of 2 seeds)")
    assert sum(BELOW_CHANCE_HOVER in n for n in means.customdata[:, 5]) == int(below.sum())
    assert all("mean of 2 seeds" in n for n in means.customdata[:, 5])


def test_a_model_that_decides_every_test_row_alike_says_so_in_its_hover():
    """Audit 2 finding 6: a model on the front (it tells validation rows apart) that gives every test
    row the same decision has test gaps of 0 that say nothing; its hover label says so, on the
    front's line and among all runs, and no other marker does."""
    from fairkit.frontier import decides_alike_on
    from fairkit.plots import ALIKE_HOVER

    res = _results().assign(val_selection_rate=0.4, test_selection_rate=0.4)
    res.loc[res.run_id == "regularized-2.0", ["val_selection_rate", "test_selection_rate"]] = [0.985, 1.0]
    assert decides_alike_on(res, "test").sum() == 1 and not decides_alike_on(res, "val").any()
    note = ALIKE_HOVER.format(split="test")
    fig = frontier_figure(res)
    flagged = {c[0] for t in fig.data if t.customdata is not None for c in t.customdata if note in c[5]}
    assert flagged == {"regularized-2.0"}
    front = _trace(fig, method_label("regularized"))
    assert "regularized-2.0" in set(front.customdata[:, 0])  # drawn on the front, and now labelled
    # Drawn on validation, where it tells rows apart, nothing is said.
    assert not any(note in c[5] or ALIKE_HOVER.format(split="validation") in c[5]
                   for t in frontier_figure(res, split="val").data if t.customdata is not None for c in t.customdata)


def test_search_points_are_ringed_stable_and_unstable_apart():
    res = _results().assign(source="sweep", unstable=None)
    res.loc[[1, 2], "source"] = "search"
    res.loc[[5, 6], ["source", "unstable"]] = ["search", "True"]  # a stored table may hold it as text
    res.loc[2, "unstable"] = False
    fig = mark_search(frontier_figure(res), res, DP, "accuracy", "val")
    n_before = len(frontier_figure(res).data)
    assert len(fig.data) == n_before + 2
    stable, unstable = _trace(fig, SEARCH_LEGEND), _trace(fig, UNSTABLE_LEGEND)
    assert list(stable.x) == list(res.loc[[1, 2], f"val_{DP}"]) and list(stable.y) == list(res.loc[[1, 2], "val_accuracy"])
    assert list(unstable.x) == list(res.loc[[5, 6], f"val_{DP}"])
    assert stable.marker.symbol == "diamond-open" and unstable.marker.symbol == "diamond-x-open"
    assert stable.hoverinfo == "skip" and stable.customdata is None  # a click selects the run under the ring
    # No search rows (or no source at all): nothing added.
    for table in (res.assign(source="sweep"), res.drop(columns=["source"])):
        assert len(mark_search(frontier_figure(table), table, DP, "accuracy").data) == n_before


def test_methods_differ_by_marker_shape_not_colour_alone_and_keep_it_across_figures():
    """Accessibility audit, finding 5: two methods whose colours a colour-blind reader cannot
    tell apart (regularized and boosting under protanopia) differ by shape, the same on the
    Trade-offs chart and the record's snapshot."""
    from fairkit.plots import METHOD_SYMBOLS, frontier_snapshot_figure, method_symbol

    res = _results()
    fig = frontier_figure(res)
    drawn = {t.name: t.marker.symbol for t in fig.data if t.mode == "lines+markers"}
    assert drawn["Fairness-regularized network"] == method_symbol("regularized")
    shapes = [s for name, s in drawn.items()]
    assert len(set(shapes)) == len(shapes)  # every method on the chart its own shape
    assert method_symbol("regularized") != method_symbol("boosting")
    assert not {"star", "x", "diamond-open"} & set(METHOD_SYMBOLS)  # shapes other marks use
    front = pareto_front(res, by="method").assign(on_front=True)
    snap = frontier_snapshot_figure(front)
    snapped = {t.name: t.marker.symbol for t in snap.data if t.mode == "lines+markers"}
    assert snapped["Fairness-regularized network"] == drawn["Fairness-regularized network"]


@pytest.mark.parametrize("k", [70, 100])
def test_reliability_panels_of_many_groups_are_the_largest_and_say_so(k):
    """70 or more groups made Plotly refuse the grid's spacing, and the Groups page stopped on an
    unexpected error (shapes audit); the largest groups are drawn, and the subtitle says so."""
    from fairkit.diagnostics import reliability_curve
    from fairkit.plots import reliability_figure

    rng = np.random.default_rng(0)
    sizes = np.arange(1, k + 1) * 3  # G{k-1} the largest
    g = pd.Series(np.repeat([f"G{i:03d}" for i in range(k)], sizes))
    y, p = rng.integers(0, 2, len(g)), rng.random(len(g))
    curve = reliability_curve(y, p, g)
    fig = reliability_figure(curve, reliability_curve(y, p), groups=sorted(g.unique()))
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == MAX_PANELS
    assert set(titles) == {f"G{i:03d}" for i in range(k - MAX_PANELS, k)}
    assert f"The {MAX_PANELS} largest of {k} groups (by rows)" in fig.layout.title.text


def test_a_rate_too_few_to_estimate_is_a_hatched_bar_that_says_so():
    """New-user audit, session 48: a TPR on 3 positives stood as a solid bar with no error bar,
    read as certain beside the others' intervals."""
    from fairkit.metrics import fairness_report

    rng = np.random.default_rng(0)
    n = 400
    group = np.where(np.arange(n) < 60, "small", "large")
    y = (rng.random(n) < 0.4).astype(int)
    y[:60] = 0
    y[:3] = 1  # 3 positives in "small": its TPR is too few to estimate, its selection rate is not
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0, 1)
    table = fairness_report(y, p, pd.DataFrame({"g": group}), n_boot=50).by_group
    assert table.set_index("group").loc["small", "too_few"] == "tpr"
    fig = group_bars_figure(table)
    order = list(table["group"])
    small, large = order.index("small"), order.index("large")
    solid, hatched = _trace(fig, "True positive rate"), _trace(fig, "True positive rate (too few to estimate)")
    # The thin TPR is the hatched trace's, in the TPR's own slot; the solid one (and its legend
    # swatch: accessibility audit, session 49) has no pattern.
    assert np.isnan(solid.y[small]) and np.isfinite(solid.y[large]) and not solid.marker.pattern.shape
    assert hatched.y[small] == table.set_index("group").loc["small", "tpr"] and np.isnan(hatched.y[large])
    assert hatched.marker.pattern.shape == "/" and hatched.offsetgroup == solid.offsetgroup and not hatched.showlegend
    assert "1.000 (too few to estimate), TPR on fewer than 5 positives: no interval" in hatched.hovertext[small]
    assert "[" in solid.hovertext[large]  # the other bar keeps its interval in words too
    assert [t.name for t in fig.data if "Selection" in t.name] == ["Selection rate"]
    legend = _trace(fig, "Hatched: too few to estimate")
    assert legend.offsetgroup == "0" and np.isnan(legend.y[0])  # a legend entry, in a slot that exists
    assert "Hatched: too few to estimate" in fig.layout.title.text
    plain = group_bars_figure(table[table["group"] == "large"])
    assert "Hatched" not in plain.layout.title.text and len(plain.data) == 3


def test_a_rate_a_group_cannot_have_says_n_a_in_its_slot():
    """Accessibility audit, session 49: a TPR of a group without positives drew nothing, which
    read as a rate of 0."""
    table = pd.DataFrame({"attribute": "g", "group": ["a", "b"], "selection_rate": [0.3, 0.2],
                          "tpr": [0.8, np.nan], "fpr": [0.1, 0.2], "too_few": ["", "tpr"]})
    fig = group_bars_figure(table)
    na = _trace(fig, "True positive rate (n/a)")
    assert list(na.text) == ["", "n/a"] and na.y[1] == 0 and np.isnan(na.y[0])
    assert na.offsetgroup == _trace(fig, "True positive rate").offsetgroup and not na.showlegend
    assert "b<br>True positive rate: n/a" in na.hovertext[1]
    # An undefined rate is n/a, not hatched as too few to estimate.
    assert not [t for t in fig.data if t.name == "True positive rate (too few to estimate)"]


def test_the_hover_writes_an_eta_as_every_page_and_the_record_do():
    """One-implementation audit, session 53: the hover's own ".4g" showed a search trial's eta
    3.14159 as 3.142 where the record and the pages write 3.14159 (fmt_eta)."""
    from fairkit.record import fmt_eta

    res = _results()
    res.loc[res["run_id"] == "regularized-2.0", "eta"] = 3.14159
    everything = _trace(frontier_figure(res), "all runs")
    assert "eta=%{customdata[2]}<br>" in everything.hovertemplate
    assert list(everything.customdata[:, 2]) == [fmt_eta(e) for e in res["eta"]]
    assert "3.14159" in set(everything.customdata[:, 2])
