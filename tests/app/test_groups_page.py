"""The Groups page through AppTest: metrics by group with intervals, small groups, calibration."""

from __future__ import annotations

import pandas as pd

from ui import groups as ug
from ui import tradeoffs as ut

from .conftest import new_session, texts


def group_table(at, attribute: str) -> pd.DataFrame:
    return next(t.value for t in at.table if t.proto.alt == f"{ug.TABLE_ALT}{attribute}")


def test_needs_a_selected_model(fast_env):
    at = new_session()
    at.switch_page("views/groups.py").run()
    assert any("Select a model on the Trade-offs page" in i for i in texts(at.info))


def test_groups_of_the_selected_model(trained):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert any("eta **1**" in m for m in texts(at.markdown))

    # The intersection is shown first; its small groups are flagged and warned about.
    inter = group_table(at, "sex & age_group").set_index("Group")
    assert set(inter.index) == {"female & 25 and over", "female & under 25",
                                "male & 25 and over", "male & under 25"}
    assert inter.loc["male & under 25", "Note"].startswith("small")
    assert inter.loc["male & 25 and over", "Note"] == ""
    assert inter.loc["male & 25 and over", "TPR"].count("[") == 1  # bootstrap interval
    assert any("fewer than 30 rows" in w and "male & under 25" in w for w in texts(at.warning))

    at.selectbox(key=ug.W_ATTRIBUTE).set_value("sex").run()
    sex = group_table(at, "sex").set_index("Group")
    assert set(sex.index) == {"female", "male"} and (sex["Note"] == "").all()
    assert sex.loc["female", "Rows"] == "62"
    at.radio(key=ug.W_PART).set_value("validation").run()
    assert not group_table(at, "sex").set_index("Group").equals(sex)


def test_group_calibration_before_and_after(trained):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    metrics = {m.label: m.value for m in at.metric}
    before = float(metrics["Largest group ECE on test, before"])
    after = float(metrics["Largest group ECE on test, after"])
    assert 0 <= after <= 1 and 0 <= before <= 1
    # The two small intersections fall back to their age group's map, and the page says so.
    assert any("too little validation data" in i and "under 25" in i for i in texts(at.info))
    cal = next(t.value for t in at.table if t.proto.alt.startswith("Calibration by"))
    assert "falls back to" in " ".join(cal["Calibration map"])

    for method in ("isotonic", "temperature"):
        at.radio(key=ug.W_CAL_METHOD).set_value(method).run()
        assert not at.exception, at.exception
        assert float({m.label: m.value for m in at.metric}["Largest group ECE on test, after"]) >= 0
