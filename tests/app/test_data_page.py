"""The Data page through Streamlit's AppTest (no browser): defaults, switching, validation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from fairkit.data import DataError
from ui import state
from ui.controls import BUNDLED, UPLOAD
from fairkit.groups import group_summaries, positive_rate
from ui.data import format_summary, read_upload
from ui.display import md

TIMEOUT = 60  # seconds per run; the first run imports pandas, sklearn and the engine
TABLE_ALT = "Group sizes and positive rates by "

CONSTANT_TARGET_CSV = "age,sex,outcome\n" + "".join(
    f"{20 + i % 40},{'FM'[i % 2]},approved\n" for i in range(80))
RAGGED_CSV = "a,b\n1,2\n3,4,5,6\n"


@pytest.fixture
def at(monkeypatch, tmp_path) -> AppTest:
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path))
    app = AppTest.from_file("../../app.py", default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def group_tables(at: AppTest) -> dict[str, pd.DataFrame]:
    """Group tables on the page keyed by level ("sex", "sex & race")."""
    return {t.proto.alt.removeprefix(TABLE_ALT): t.value for t in at.table
            if t.proto.alt.startswith(TABLE_ALT)}


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def spec_widget(at: AppTest, kind: str, field: str):
    if field == "positive":  # one positive-label widget per target column
        field = f"positive.{spec_widget(at, 'selectbox', 'target').value}"
    key = state.spec_widget_key(at.session_state[state.DATA_SOURCE], field)
    return getattr(at, kind)(key=key)


def test_default_is_adult_with_group_sizes(at):
    assert at.selectbox(key=state.W_BUNDLED).value == "adult"
    tables = group_tables(at)
    assert set(tables) == {"sex", "race", "sex & race"}
    sex = tables["sex"].set_index("Group")
    assert sex.loc["Male", "Rows"] == "32,650"
    assert sex.loc["Female", "Rows"] == "16,192"
    assert "Positive rate" in sex.columns
    assert "Female & Black" in set(tables["sex & race"]["Group"])
    # Adult with its default spec has warnings (missing values) but no error.
    assert not at.main.error
    assert any("occupation" in w for w in texts(at.warning))
    assert at.session_state[state.DATA_READY] is True
    assert at.session_state[state.SPEC].target == "income"
    assert len(at.session_state[state.DATA_HASH]) == 64
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "adult" in sidebar and "48,842" in sidebar and "sex, race" in sidebar


def test_switching_to_german_shows_its_groups(at):
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    assert not at.exception
    tables = group_tables(at)
    assert set(tables) == {"sex", "age_group", "sex & age_group"}
    sex = tables["sex"].set_index("Group")
    assert sex.loc["female", "Rows"] == "310" and sex.loc["male", "Rows"] == "690"
    assert "under 25" in set(tables["age_group"]["Group"])
    assert at.session_state[state.SPEC].name == "german"
    assert at.session_state[state.DATA_READY] is True
    # Back to Adult: its own defaults come back, not German's columns.
    at.selectbox(key=state.W_BUNDLED).set_value("adult").run()
    assert set(group_tables(at)) == {"sex", "race", "sex & race"}


def test_compas_flags_small_groups(at):
    at.selectbox(key=state.W_BUNDLED).set_value("compas").run()
    race = group_tables(at)["race"].set_index("Group")
    assert race.loc["Native American", "Note"] == "small (under 30 rows)"
    assert race.loc["African-American", "Note"] == ""
    inter = group_tables(at)["race & sex"].set_index("Group")
    assert inter.loc["Asian & Female", "Rows"] == "2"
    assert any(w.startswith("**race**") and "Native American (11)" in w
               for w in texts(at.warning))
    assert at.session_state[state.DATA_READY] is True  # small groups warn, they do not block


def test_changing_target_and_sensitive_updates_validation(at):
    key_before = at.session_state[state.DATA_KEY]
    spec_widget(at, "multiselect", "sensitive").set_value([]).run()
    assert any("No sensitive attribute is chosen" in e for e in texts(at.main.error))
    assert at.session_state[state.DATA_READY] is False
    assert at.session_state[state.DATA_KEY] != key_before
    assert not group_tables(at)
    assert any("problem(s) to fix" in e for e in texts(at.sidebar.error))

    spec_widget(at, "multiselect", "sensitive").set_value(["race"]).run()
    assert not at.main.error
    assert set(group_tables(at)) == {"race"}
    assert at.session_state[state.DATA_READY] is True

    # The sensitive column cannot also be the target: choosing it as target drops it.
    spec_widget(at, "multiselect", "sensitive").set_value(["sex", "race"]).run()
    spec_widget(at, "selectbox", "target").set_value("sex").run()
    assert not at.exception
    assert spec_widget(at, "multiselect", "sensitive").value == ["race"]
    # A new target's favourable outcome is not guessed: nothing is chosen until the user does.
    assert spec_widget(at, "selectbox", "positive").value is None
    assert any("favourable is not chosen" in e for e in texts(at.main.error))
    spec_widget(at, "selectbox", "positive").set_value("Female").run()
    assert at.session_state[state.SPEC].target == "sex"
    assert at.session_state[state.SPEC].positive_label == "Female"
    assert at.session_state[state.DATA_READY] is True
    # Back to the bundled target: its spec's favourable outcome comes back.
    spec_widget(at, "selectbox", "target").set_value("income").run()
    assert spec_widget(at, "selectbox", "positive").value == ">50K"


def _page_switch_script():
    import streamlit as st

    from ui import state

    if st.session_state.get("on_page", True):
        state.prepare_widget("w.test.pick", "a", ["a", "b", "c"])
        st.selectbox("Pick", ["a", "b", "c"], key="w.test.pick")
    state.remember_widgets()


def test_widget_values_survive_leaving_the_page():
    """Streamlit drops a widget's state when a run does not draw it (a page switch);
    prepare_widget/remember_widgets bring the value back."""
    at = AppTest.from_function(_page_switch_script, default_timeout=TIMEOUT).run()
    at.selectbox(key="w.test.pick").set_value("c").run()
    at.session_state["on_page"] = False
    at.run()
    assert not at.selectbox
    at.session_state["on_page"] = True
    at.run()
    assert at.selectbox(key="w.test.pick").value == "c"
    assert not at.exception


def upload(at: AppTest, name: str, content: str | bytes) -> None:
    at.radio(key=state.W_SOURCE).set_value(UPLOAD).run()
    data = content.encode() if isinstance(content, str) else content
    at.file_uploader(key=state.W_UPLOAD).set_value((name, data, "text/csv")).run()
    assert not at.exception, at.exception


def test_upload_source_starts_empty(at):
    at.radio(key=state.W_SOURCE).set_value(UPLOAD).run()
    assert any("Upload a table" in i for i in texts(at.info))
    assert at.session_state[state.DATA_READY] is False
    assert state.FRAME not in at.session_state
    at.radio(key=state.W_SOURCE).set_value(BUNDLED).run()
    assert at.session_state[state.DATA_READY] is True


def test_upload_with_constant_target_names_the_column(at):
    upload(at, "loans.csv", CONSTANT_TARGET_CSV)
    # Guesses: the last column is the target; no sensitive attribute until the user picks one.
    assert spec_widget(at, "selectbox", "target").value == "outcome"
    assert spec_widget(at, "multiselect", "sensitive").value == []
    errors = texts(at.main.error)
    assert any("**outcome**" in e and "single value" in e and "What to do" in e for e in errors)
    assert any("No sensitive attribute" in e for e in errors)

    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    errors = texts(at.main.error)
    assert len(errors) == 1 and "outcome" in errors[0]
    assert set(group_tables(at)["sex"]["Group"]) == {"F", "M"}
    assert at.session_state[state.DATA_READY] is False
    assert at.session_state[state.DATA_NAME] == "loans"


def test_malformed_upload_shows_an_error_not_an_exception(at):
    upload(at, "broken.csv", RAGGED_CSV)
    errors = texts(at.main.error)
    assert len(errors) == 1
    assert "could not be read" in errors[0] and "broken.csv" in errors[0]
    assert at.session_state[state.DATA_READY] is False
    # The app keeps running: a good file afterwards is read normally.
    upload(at, "good.csv", "x,g,y\n" + "".join(f"{i},{'ab'[i % 2]},{i % 3 == 0}\n" for i in range(60)))
    assert not any("could not be read" in e for e in texts(at.main.error))
    assert at.session_state[state.DATA_NAME] == "good"


def test_binary_upload_is_refused_with_a_message(at):
    upload(at, "data.csv", b"\x00\x01\x02PK\x00binary")
    assert any("binary file" in e for e in texts(at.main.error))


def r_write_csv(n: int = 90) -> bytes:
    """A table as R's write.csv writes it: a blank-named first column of quoted row names
    1..n, quoted header and strings, bare numbers."""
    lines = ['"","age","sex","income","decision"']
    lines += [f'"{i + 1}",{20 + i % 45},"{"FM"[i % 2]}",{1000.5 + 13 * i},'
              f'"{"granted" if i % 3 else "refused"}"' for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def test_r_csv_upload_reaches_a_usable_spec_without_editing(at):
    upload(at, "loans.csv", r_write_csv())
    assert at.session_state[state.FRAME].columns.tolist() == ["age", "sex", "income", "decision"]
    assert any("row names" in i for i in texts(at.info))  # the dropped column is explained
    assert spec_widget(at, "selectbox", "target").value == "decision"
    assert "" not in spec_widget(at, "multiselect", "exclude").options
    # Only the user's two decisions remain: the groups and the favourable outcome.
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    spec_widget(at, "selectbox", "positive").set_value("granted").run()
    assert not at.exception
    assert not at.main.error and not any("no name" in w for w in texts(at.warning))
    assert at.session_state[state.DATA_READY] is True
    assert at.session_state[state.SPEC].positive_label == "granted"


def test_values_spelling_the_positive_outcome_another_way_can_count_as_positive(at):
    """UCI Adult's train and test files joined: '>50K.' is '>50K'. The page names the variant,
    offers it as also positive, and the spec (what the sweep trains on) then counts both."""
    lines = ["age,sex,income"] + [f"{20 + i % 40},{'FM'[i % 2]},{['>50K', '>50K.', '<=50K', '<=50K.'][i % 4]}"
                                  for i in range(120)]
    upload(at, "adult_joined.csv", "\n".join(lines) + "\n")
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    also_key = state.spec_widget_key(at.session_state[state.DATA_SOURCE], "also_positive.income")
    assert also_key not in [w.key for w in at.multiselect]  # offered once a positive label is chosen
    spec_widget(at, "selectbox", "positive").set_value(">50K").run()
    assert any(md("'>50K.' (30 rows) differs from the positive label '>50K'") in w for w in texts(at.warning))
    also = spec_widget(at, "multiselect", "also_positive.income")
    assert also.value == [] and ">50K." in also.options and ">50K" not in also.options
    also.set_value([">50K."]).run()
    assert not at.exception, at.exception
    spec = at.session_state[state.SPEC]
    assert spec.positive_label == [">50K", ">50K."]
    assert not any("differs from the positive label" in w for w in texts(at.warning))
    assert any(md("'>50K' or '>50K.' are positive (60 rows)") in w for w in texts(at.warning))
    # The positive rate's line, each value quoted ('>50K.' ends in a full stop).
    assert any(md("income = '>50K' or '>50K.'. Groups") in c for c in texts(at.caption))
    # Another main label drops the stale choice rather than counting one value twice.
    spec_widget(at, "selectbox", "positive").set_value(">50K.").run()
    assert at.session_state[state.SPEC].positive_label == ">50K."


def test_favourable_label_of_an_upload_is_unset_until_chosen(at):
    text = "revenu;sexe;décision\n" + "".join(
        f"{30 + i * 0.37:.2f};{'HF'[i % 2]};{'accepté' if i % 3 else 'refusé'}\n".replace(".", ",")
        for i in range(90))
    upload(at, "prêts.csv", text.encode("latin-1"))
    positive = spec_widget(at, "selectbox", "positive")
    assert positive.value is None and positive.options == ["accepté", "refusé"]
    # The sidebar says so too, rather than "décision = None".
    sidebar = " ".join(texts(at.sidebar.markdown))
    assert "Target: décision (positive label not chosen yet)" in sidebar and "None" not in sidebar
    spec_widget(at, "multiselect", "sensitive").set_value(["sexe"]).run()
    errors = texts(at.main.error)
    assert len(errors) == 1 and "favourable is not chosen" in errors[0] and "décision" in errors[0]
    assert at.session_state[state.DATA_READY] is False
    # Decimal commas are numbers: no advice to exclude income as an identifier.
    assert at.session_state[state.FRAME]["revenu"].dtype == float
    assert not any("identifier" in w for w in texts(at.warning))
    spec_widget(at, "selectbox", "positive").set_value("accepté").run()
    assert not at.main.error
    assert at.session_state[state.DATA_READY] is True
    assert at.session_state[state.SPEC].positive_label == "accepté"


def test_values_the_sweep_cannot_use_are_named_on_the_data_page(at):
    rows = "".join(f"{'inf' if i == 4 else 20 + i % 40},{'FM'[i % 2]},{int(i % 3 == 0)}\n"
                   for i in range(90))
    upload(at, "inf.csv", "age,sex,y\n" + rows)
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    spec_widget(at, "selectbox", "positive").set_value(1).run()
    assert any("**age**" in e and "infinite" in e for e in texts(at.main.error))
    assert at.session_state[state.DATA_READY] is False
    upload(at, "tiny.csv", "age,sex,y\n30,F,1\n40,M,0\n50,F,0\n60,M,1\n70,F,0\n")
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    spec_widget(at, "selectbox", "positive").set_value(1).run()
    assert any("Only 2 row(s)" in e for e in texts(at.main.error))
    assert at.session_state[state.DATA_READY] is False


# --------------------------------------------------------------------------- ui.data directly

def test_read_upload_reads_and_refuses():
    frame = read_upload(CONSTANT_TARGET_CSV.encode(), "loans.csv")
    assert list(frame.columns) == ["age", "sex", "outcome"] and len(frame) == 80
    with pytest.raises(DataError, match="broken.csv"):
        read_upload(RAGGED_CSV.encode(), "broken.csv")
    # A cached failure is raised again, not swallowed.
    with pytest.raises(DataError):
        read_upload(RAGGED_CSV.encode(), "broken.csv")


def test_group_summaries_flag_small_groups_and_base_rates():
    from fairkit.data import DatasetSpec

    frame = pd.DataFrame({
        "g": ["a"] * 40 + ["b"] * 5 + ["a"],
        "h": ["x", "y"] * 22 + ["x", "y"],
        "y": [1, 0, 0, 0] * 10 + [1] * 5 + [None],  # the last row has no outcome: left out
    })
    spec = DatasetSpec(target="y", positive_label=1, sensitive=["g", "h"])
    tables = group_summaries(frame, spec)
    assert list(tables) == ["g", "h", "g & h"]
    s = tables["g"].set_index("group")
    assert s.loc["a", "rows"] == 40 and s.loc["b", "rows"] == 5
    assert s.loc["a", "share"] == pytest.approx(40 / 45)
    assert s.loc["a", "positive_rate"] == pytest.approx(0.25)
    assert s.loc["b", "positive_rate"] == pytest.approx(1.0)
    assert bool(s.loc["b", "small"]) and not bool(s.loc["a", "small"])
    inter = tables["g & h"]
    assert set(inter["group"]) == {"a & x", "a & y", "b & x", "b & y"}
    assert list(inter["rows"]) == sorted(inter["rows"], reverse=True)
    assert positive_rate(frame, spec) == pytest.approx(15 / 45)
    shown = format_summary(inter)
    assert (shown["Note"] != "").all()  # every intersection is under 30 rows
    # Before the target is usable, sizes are still summarised (every row), without rates.
    no_target = group_summaries(frame, spec.replace(target="outcome"))
    assert no_target["g"]["rows"].sum() == 46 and no_target["g"]["positive_rate"].isna().all()
    assert positive_rate(frame, spec.replace(target="outcome")) is None


def test_md_escapes_user_text():
    assert md("[x](http://e)") == "\\[x\\](http\\:\u2060//e)"
    assert md("$5 :red[x]") == "\\$5 \\:red\\[x\\]"
    assert md("Female & Black") == "Female & Black"


def test_groups_small_in_the_test_split_are_named_before_training(at):
    from fairkit.split import forecast_groups

    at.selectbox(key=state.W_BUNDLED).set_value("compas").run()
    (warning,) = [w for w in texts(at.warning) if "small after the split" in w]
    # The engine's forecast: expected test rows, the gaps' rule and the training pool.
    frame, spec = at.session_state[state.FRAME], at.session_state[state.SPEC]
    forecast = forecast_groups(group_summaries(frame, spec))
    race = forecast["race"].set_index("group")
    assert race.loc["Asian", "test"] == 6 and not race.loc["Asian", "in_test_gaps"]
    assert "- **race**: Asian (about 6), Native American (about 2)" in warning
    assert "Hispanic & Female (about 16)" in warning and "Other & Female (about 11)" in warning
    assert "African-American" not in warning  # large groups are not named
    assert "leave them out of the fairness gaps" in warning and "disparity audit" in warning
    assert "share one label, 'Other (small groups)'" in warning and "Asian & Male (about 17)" in warning
    assert "merge small groups" in warning and "another sensitive attribute" in warning
    tables = group_tables(at)
    shown = tables["race"].set_index("Group")
    assert shown.loc["Asian", "Test rows (about)"] == "6" and shown.loc["Asian", "Note"] == "under 30 test rows"
    assert shown.loc["Caucasian", "Test rows (about)"] == f"{race.loc['Caucasian', 'test']:,}"
    inter = tables["race & sex"].set_index("Group")
    assert inter.loc["Asian & Male", "Note"] == "small (under 30 rows); pooled for training"
    assert inter.loc["Hispanic & Female", "Note"] == "under 30 test rows"
    # Choosing another attribute is the way out: sex alone leaves every group large enough.
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    assert not any("small after the split" in w for w in texts(at.warning))
    assert any("Every group will have at least 30 rows in validation and in test" in c for c in texts(at.caption))


def test_merging_is_not_advised_when_it_would_leave_one_group():
    from fairkit.data import DatasetSpec
    from fairkit.split import forecast_groups
    from ui.data import small_after_split

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"sex": np.where(np.arange(n) < 40, "F", "M"),
                          "region": np.array(["north", "south", "east", "west", "far"])[np.arange(n) % 5],
                          "y": rng.integers(0, 2, n)})
    frame.loc[frame.index[:12], "region"] = "isle"  # a sixth, small region
    two = small_after_split(forecast_groups(group_summaries(frame, DatasetSpec(
        target="y", positive_label=1, sensitive=["sex"]))))
    assert "F (about" in two and "merge" not in two and "'Other'" not in two
    assert "would leave a single group" in two and "another sensitive attribute" in two
    many = small_after_split(forecast_groups(group_summaries(frame, DatasetSpec(
        target="y", positive_label=1, sensitive=["region"]))))
    assert "merge small groups into a larger one" in many


def test_a_large_table_can_be_trained_on_a_stratified_sample(at, monkeypatch):
    from fairkit.split import frame_hash
    from ui import data as ud

    full_hash = at.session_state[state.DATA_HASH]
    assert not any("This table has" in i for i in texts(at.info))  # Adult is not large...
    monkeypatch.setattr(ud, "LARGE_TABLE_ROWS", 40_000)  # ...until the bar is lowered
    at.run()
    assert any("This table has 48,842 rows" in i and "stratified sample" in i for i in texts(at.info))
    source = at.session_state[state.DATA_SOURCE]
    at.toggle(key=state.spec_widget_key(source, "sample")).set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.session_state[state.FRAME]) == 24_000  # half the table, under the default size
    at.number_input(key=state.spec_widget_key(source, "sample_rows")).set_value(10_000).run()
    frame = at.session_state[state.FRAME]
    assert len(frame) == 10_000 and at.session_state[state.DATA_HASH] == frame_hash(frame)
    assert at.session_state[state.DATA_READY] is True
    # Every group keeps its share and positive rate; the costs are said.
    costs = next(m for m in texts(at.markdown) if "10,000 of 48,842 rows" in m)
    assert "fitting a model takes roughly 20% as long" in costs and "95% intervals widen about 2.2x" in costs
    assert "decision record" in costs
    # Groups the whole table keeps in the gaps but the sample does not are named (Female & Other:
    # 155 rows, about 31 test rows whole, 6 in the sample).
    assert "fall under it in the sample, and out of the gaps" in costs and "Female & Other (about 6)" in costs
    assert "Male & White" not in costs.split("out of the gaps")[1]
    per_group = next(t.value for t in at.table if t.proto.alt == "Rows per group in the sample").set_index("Group")
    assert per_group.loc["Male & White", "Rows in the table"] == "28,735"
    assert abs(int(per_group.loc["Male & White", "Rows in the sample"].replace(",", "")) - 5883) <= 1
    sex = group_tables(at)["sex"].set_index("Group")  # the groups shown are the sample's
    assert sex.loc["Male", "Rows"] == f"{(frame['sex'] == 'Male').sum():,}"
    assert (frame["income"] == ">50K").mean() == pytest.approx(11_687 / 48_842, abs=1e-4)
    record = ud.sample_record(frame_hash(frame))  # what the Export page puts in the record
    assert record["rows"] == 10_000 and record["source_hash"] == full_hash
    # Off again: every row, and no sample for the record.
    at.toggle(key=state.spec_widget_key(source, "sample")).set_value(False).run()
    assert len(at.session_state[state.FRAME]) == 48_842 and at.session_state[state.DATA_HASH] == full_hash
    assert ud.sample_record(full_hash) is None


def test_compas_positive_class_is_worded_as_the_adverse_prediction(at):
    from ui import data as ud

    assert spec_widget(at, "selectbox", "positive").label == "Positive label (the favourable outcome)"
    assert not any("adverse" in i for i in texts(at.info))
    at.selectbox(key=state.W_BUNDLED).set_value("compas").run()
    positive = spec_widget(at, "selectbox", "positive")
    assert positive.label == "Positive label (the predicted outcome; here adverse: reoffended within two years)"
    assert "not a favourable one" in positive.help
    (note,) = [i for i in texts(at.info) if "adverse" in i]
    assert note.startswith("two_year_recid = 1 means the person reoffended within two years.")
    assert "The selection rate is the share predicted to reoffend (the adverse outcome" in note
    assert "FPR is the share of those who did not, yet were predicted to reoffend: the harmful error" in note
    # Another positive label is not the dataset's risk score: no such wording.
    positive.set_value(0).run()
    assert not any("adverse" in i for i in texts(at.info))
    assert ud.adverse_outcome("upload:abc", at.session_state[state.SPEC]) is None


def test_a_long_sweep_on_a_whole_table_points_to_the_sample(at, monkeypatch):
    from ui import data as ud

    at.switch_page("views/train.py").run()
    assert not any("A long sweep" in i for i in texts(at.info))  # a short estimate says nothing
    monkeypatch.setattr(ud, "LONG_SWEEP_SECONDS", 0)
    at.run()
    (hint,) = [i for i in texts(at.info) if "A long sweep" in i]
    assert "a stratified sample of 24,000 of the 48,842 rows" in hint and "95% intervals widen about 1.4x" in hint
    # Beside the page's own estimate for the whole table, the same sweep's estimate on the sample.
    whole = re.search(r"Estimated time: \*\*([^*]+)\*\*", " ".join(texts(at.markdown))).group(1)
    on_sample = re.search(r"estimated at (.+) instead of (.+)\. Every group", hint)
    assert on_sample.group(2) == whole and on_sample.group(1) != whole
    ss = at.session_state
    cur = state.CurrentData(frame=ss[state.FRAME], spec=ss[state.SPEC], data_hash=ss[state.DATA_HASH],
                            data_key=ss[state.DATA_KEY], name="adult", source=ss[state.DATA_SOURCE],
                            problems=[], ready=True)
    sample_split = ud.default_sample_split(cur)[1]
    assert len(sample_split.train) + len(sample_split.validation) + len(sample_split.test) == 24_000
    # Once the data is a sample, the hint is gone.
    at.switch_page("views/data.py").run()
    at.toggle(key=state.spec_widget_key(at.session_state[state.DATA_SOURCE], "sample")).set_value(True).run()
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    assert not any("A long sweep" in i for i in texts(at.info))
    # The split the hint estimated on is the one the Train page now uses.
    assert f"{len(sample_split.train):,} training" in " ".join(texts(at.markdown))


def test_a_sensitive_column_chosen_as_target_is_taken_out_and_said(at):
    """State audit, session 44: choosing `sex` as the target dropped it from the sensitive
    attributes, for good and without a word (changing the target back did not restore it)."""
    assert spec_widget(at, "multiselect", "sensitive").value == ["sex", "race"]
    spec_widget(at, "selectbox", "target").set_value("sex").run()
    assert spec_widget(at, "multiselect", "sensitive").value == ["race"]
    assert any("sex is the target now, so it was taken out" in c for c in texts(at.caption))
    spec_widget(at, "selectbox", "target").set_value("income").run()
    assert not any("is the target now" in c for c in texts(at.caption))
