"""The Groups page's learned-weights figure: shown for a FORML run only, from its stored weights."""

from __future__ import annotations

import base64
import json

import numpy as np

from fairkit.estimators.reweighting import weight_summary
from fairkit.split import split_dataset
from fairkit.store import ResultStore
from ui import groups as ug
from ui import results as ur
from ui import state
from ui import tradeoffs as ut

from .conftest import new_session, run_tiny_sweep, texts

TITLE = "Learned training weights"


def _array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array (``{"dtype", "bdata"}``, base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


def _charts(at) -> list:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart") if TITLE in c.proto.spec]


def test_weights_figure_for_a_forml_run_only(fast_env):
    at = run_tiny_sweep(new_session(), methods=["unconstrained", "forml"], n_etas=2)
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("forml").run()
    from fairkit.methods import METHODS

    # The grid of 2: 0 and the middle of forml's range.
    at.select_slider(key=ut.W_ETA).set_value(METHODS["forml"].grid(2)[-1]).run()
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert TITLE in texts(at.header)
    (chart,) = _charts(at)

    # The bars are the engine's summary of the weights stored with the selected model, over the
    # training rows of the split, by the attribute chosen on the page.
    spec, frame = at.session_state[state.SPEC], at.session_state[state.FRAME]
    split = split_dataset(frame, spec, seed=ur.SPLIT_SEED)
    model = ResultStore(fast_env / "store").load_model(at.session_state[ur.SELECTED_RUN])
    assert len(model.sample_weight_) == len(split.train)
    cols = ug.attribute_columns(split.train.sensitive)[at.selectbox(key=ug.W_ATTRIBUTE).value]
    summary = weight_summary(model.sample_weight_, split.train.y, split.train.sensitive[cols])
    positives = next(t for t in chart["data"] if t["name"].startswith("positives"))
    np.testing.assert_allclose(_array(positives["y"]), summary.loc[summary["label"] == 1, "mean"], rtol=1e-6)

    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("unconstrained").run()
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert TITLE not in texts(at.header) and not _charts(at)
