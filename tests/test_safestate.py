"""fairkit.safestate's decoder: what a crafted state may make it allocate, and what a stored
network's weights must be."""

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairkit.safestate import MAX_ITEMSIZE, UntrustedState, decode_state, encode_state


def _decode_peak(tree, arrays=None, stored_bytes=1_000):
    """Decode ``tree``; return (the error or None, the peak bytes traced while decoding)."""
    decode_state(_in_dict(1), {}, {})  # the trusted tables import their libraries on first use
    tracemalloc.start()
    try:
        decode_state(tree, arrays or {}, {}, stored_bytes=stored_bytes)
        error = None
    except UntrustedState as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def _in_dict(node) -> dict:
    return {"$map": {"type": "builtins.dict", "items": [["bomb", node]]}, "id": 0}


def test_a_declared_text_width_is_refused_before_numpy_allocates_it():
    # 200 one-character values declared 60,000 characters wide: 48 MB from a few hundred bytes.
    wide = {"$ndarray": {"unicode": ["a"] * 200, "shape": [200], "dtype": "<U60000"}}
    error, peak = _decode_peak(_in_dict(wide))
    assert error is not None and "model['bomb']" in str(error) and "<U60000" in str(error)
    assert f"{MAX_ITEMSIZE:,}-byte limit" in str(error)
    assert peak < 5 << 20, peak
    # A width under the per-element limit, over many values: the total is what is bounded.
    many = {"$ndarray": {"unicode": ["a"] * 2_000, "shape": [2_000], "dtype": "<U16000"}}  # 128 MB
    error, peak = _decode_peak(_in_dict(many))
    assert error is not None and "model['bomb']" in str(error) and "may allocate at most" in str(error)
    assert peak < 5 << 20, peak
    # The same node as written for a fitted model (its own width) decodes.
    fine = encode_state({"bomb": np.array(["a", "bc"] * 100)}).tree
    obj, _ = decode_state(fine, {}, {}, stored_bytes=1_000)
    assert obj["bomb"].dtype == np.dtype("<U2") and obj["bomb"].shape == (200,)


@pytest.mark.parametrize("node, says", [
    ({"$ndarray": {"unicode": ["a", "b"], "shape": [1_000_000, 1_000_000], "dtype": "<U1"}}, "does not hold the 2 values"),
    ({"$ndarray": {"unicode": [["a"] * 3] * 2, "shape": [2, 3], "dtype": "<U1"}}, "not a list of strings"),
    ({"$ndarray": {"object": [1, 2], "shape": [3], }}, "does not hold the 2 values"),
    ({"$dtype": "<U100000000"}, "over the 65,536-byte limit"),
    ({"$scalar": {"dtype": "<i1", "value": 1000}}, "OverflowError"),
])
def test_a_declared_shape_or_dtype_that_does_not_fit_its_values_is_refused_by_name(node, says):
    with pytest.raises(UntrustedState, match="model\\['bomb'\\]") as info:
        decode_state(_in_dict(node), {}, {})
    assert says in str(info.value)


def test_one_stored_array_is_not_copied_twice():
    # The encoder stores each array once; naming its key again would copy it again: a short
    # model.json could multiply the arrays' size.
    state = encode_state({"a": np.zeros(1000)})
    node = state.tree["$map"]["items"][0][1]
    state.tree["$map"]["items"] += [[f"again{i}", node] for i in range(3)]
    with pytest.raises(UntrustedState, match=r"model\['again0'\]: stored array '0' is referenced twice"):
        decode_state(state.tree, state.arrays, {})


def test_a_frame_column_must_be_an_array_as_long_as_its_index():
    # A scalar column over a long index would be broadcast by pandas: rows x columns from a few bytes.
    state = encode_state({"f": pd.DataFrame({"x": [1.0, 2.0, 3.0]})})
    frame = state.tree["$map"]["items"][0][1]["$frame"]
    ok, _ = decode_state(state.tree, state.arrays, {})
    pd.testing.assert_frame_equal(ok["f"], pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    frame["data"] = [7] * 50
    frame["columns"] = list(range(50))
    with pytest.raises(UntrustedState, match=r"model\['f'\]: column 0 is not a 1-d array of 3 values"):
        decode_state(state.tree, state.arrays, {})


def _network():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def _weight_key(state, layer: str, name: str = "weight") -> str:
    seq = state.tree["$map"]["items"][0][1]["$module"]
    return seq["children"][layer]["$module"]["params"][name]["array"]["key"]


@pytest.mark.parametrize("change, says", [
    (lambda w: np.full_like(w, np.nan), "'weight' hold NaN or infinite values"),
    (lambda w: np.where(w > 0, np.inf, w).astype(w.dtype), "'weight' hold NaN or infinite values"),
    (lambda w: np.zeros((w.shape[0] + 3, w.shape[1] + 1), w.dtype), "weight has shape (4, 4), not the (1, 3)"),
    (lambda w: w.astype(np.int64), "'weight' are int64, not floating point"),
])
def test_a_networks_weights_must_be_finite_floats_of_the_declared_shape(change, says):
    state = encode_state({"net": _network()})
    key = _weight_key(state, "2")
    decode_state(state.tree, dict(state.arrays), {})  # as written, it decodes
    arrays = {**state.arrays, key: change(state.arrays[key])}
    with pytest.raises(UntrustedState, match=r"model\['net'\]\.2") as info:
        decode_state(state.tree, arrays, {})
    assert says in str(info.value)


def _booster_state():
    from fairkit.estimators.boosting import FairBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    g = rng.choice(2, 300)
    y = (X[:, 0] + 0.3 * g > 0.7).astype(int)
    model = FairBoostingClassifier(n_estimators=3, num_leaves=4).fit(X, y, sensitive_features=g)
    state = encode_state({"model": model})
    (key,) = state.texts
    return model, state, key, X


def test_a_stored_lightgbm_model_decodes_to_the_same_predictions():
    model, state, key, X = _booster_state()
    decoded, _ = decode_state(state.tree, dict(state.arrays), dict(state.texts))
    assert np.array_equal(decoded["model"].predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("old, new, says", [
    ("num_leaves=4", "num_leaves=2000000000", "num_leaves holds a value outside 1..131072"),
    ("left_child=1 -1 -2", "left_child=1 -1 9", "left_child holds a value outside -4..2"),
    ("left_child=1 -1 -2", "left_child=1 -1 -3", "leaf 2 has two parents"),
    ("left_child=1 -1 -2", "left_child=0 -1 -2", "node 0 is not a child of one node made before it"),
    ("split_feature=0 0 0", "split_feature=0 0 70000", "split_feature holds a value outside 0..3"),
    ("leaf_value=", "leaf_value=nan ", "leaf_value holds NaN or infinite values"),
    ("max_feature_idx=3", "max_feature_idx=2000000000", "max_feature_idx holds a value outside"),
    ("decision_type=2 2 2", "decision_type=3 2 2", "node 0's category set"),
    ("is_linear=0", "is_linear=1", "is a linear tree"),
    # LightGBM ends a header line at '\r': these reached it unchecked (SIGSEGV, SIGABRT, a heap
    # overwritten at prediction) before control characters were refused.
    ("version=v4", "version=v4\rtree_sizes=5 5 5 5 5", "control character '\\r'"),
    ("version=v4", "version=v4\rnum_tree_per_iteration=64", "control character '\\r'"),
    ("version=v4", "version=lambdarank", "version 'lambdarank' is not one LightGBM writes"),
    # Python reads '\u0661' (ARABIC-INDIC DIGIT ONE) as 1, LightGBM as nothing: the root's left
    # child became the root itself, and the bundle loaded and then predicted forever.
    ("left_child=1 -1 -2", "left_child=\u0661 -1 -2", "non-ASCII character '\u0661'"),
    ("split_feature=0 0 0", "split_feature=0 0 \uff10", "non-ASCII character"),  # FULLWIDTH ZERO
])
def test_a_lightgbm_model_out_of_bounds_is_refused_before_lightgbm_reads_it(old, new, says):
    """LightGBM's parser trusts its input: the first of these aborted the whole process
    (std::terminate), and an index out of its tree or feature list is read out of bounds at
    prediction. Each is refused by name before LightGBM sees the text."""
    _, state, key, _ = _booster_state()
    text = state.texts[key]
    assert old in text
    with pytest.raises(UntrustedState, match="is not a LightGBM model fairkit wrote") as info:
        decode_state(state.tree, dict(state.arrays), {key: text.replace(old, new, 1)})
    assert says in str(info.value)


def test_a_crafted_lightgbm_tree_no_longer_kills_the_process(tmp_path):
    """The crafted tree that aborted the interpreter (SIGABRT) before the check: decoded in a
    child process, which must end normally with the refusal."""
    import subprocess
    import sys

    script = tmp_path / "decode.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from tests.test_safestate import _booster_state\n"
        "from fairkit.safestate import UntrustedState, decode_state\n"
        "_, state, key, _ = _booster_state()\n"
        "text = state.texts[key].replace('num_leaves=4', 'num_leaves=2000000000', 1)\n"
        "try:\n"
        "    decode_state(state.tree, dict(state.arrays), {key: text})\n"
        "except UntrustedState as exc:\n"
        "    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert "refused:" in done.stdout


def _one_hot(**params):
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame({"n": [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, np.nan] * 3,
                      "s": ["a", "b", "b", "c", "c", "c", "d", "d"] * 3,
                      "b": pd.Series([True, False] * 12, dtype=object)})  # booleans in text columns (German)
    enc = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False, **params).fit(X)
    return enc, X


def _state_of(state) -> dict:
    """The stored attributes of an encoded object, by name (edits go into the tree)."""
    return {k: pair for pair in state.tree["$object"]["state"] for k in pair[:1]}


@pytest.mark.parametrize("params", [
    {"min_frequency": 4}, {"max_categories": 2, "drop": "first"}, {"drop": "if_binary"},
    {"drop": [2.0, "c", True], "min_frequency": 2}, {},
])
def test_a_fitted_one_hot_encoder_decodes_and_transforms_as_it_was(params):
    enc, X = _one_hot(**params)
    state = encode_state(enc)
    back, _ = decode_state(state.tree, state.arrays, {})
    np.testing.assert_array_equal(back.transform(X), enc.transform(X))


def _set_object_array(values):
    return lambda pair, arrays: pair.__setitem__(1, {"$ndarray": {"object": values, "shape": [len(values)]}})


def _change_array(attr_index, change):
    """Change the stored array of an attribute (``attr_index`` picks one of a list's)."""
    def apply(pair, arrays):
        node = pair[1] if attr_index is None else pair[1][attr_index]
        key = node["$ndarray"]["key"]
        arrays[key] = change(arrays[key])
    return apply


@pytest.mark.parametrize("params, attr, change, says", [
    # round 3, finding 1: [-2, ...] made transform write before its output (exit 134)
    ({"min_frequency": 4}, "_n_features_outs", lambda pair, arrays: pair[1].__setitem__(0, -2),
     r"OneHotEncoder._n_features_outs \[-2, 4, 2\] is not the \[3, 4, 2\] its categories give"),
    ({"min_frequency": 4}, "_n_features_outs", lambda pair, arrays: pair[1].__setitem__(1, 9), "_n_features_outs"),
    ({"drop": "first"}, "_drop_idx_after_grouping", _set_object_array([-1, 0, 0]),
     "OneHotEncoder._drop_idx_after_grouping disagrees with its drop setting"),
    ({"drop": "first"}, "drop_idx_", _set_object_array([3, 0, 0]), "OneHotEncoder.drop_idx_ disagrees"),
    ({"min_frequency": 4}, "_infrequent_enabled", lambda pair, arrays: pair.__setitem__(1, False),
     "OneHotEncoder._infrequent_enabled disagrees with its min_frequency"),
    ({"min_frequency": 4}, "_default_to_infrequent_mappings", _change_array(1, lambda m: m + 5),
     r"OneHotEncoder._default_to_infrequent_mappings\[1\] disagrees with its infrequent categories"),
    ({"min_frequency": 4}, "_infrequent_indices", _change_array(0, lambda m: m[::-1].copy()),
     r"OneHotEncoder._infrequent_indices\[0\] is not increasing indices"),
    ({"min_frequency": 4}, "_infrequent_indices", _change_array(1, lambda m: m + 7),
     r"OneHotEncoder._infrequent_indices\[1\] is not increasing indices"),
    ({}, "categories_", _change_array(0, lambda c: c[::-1].copy()),
     r"OneHotEncoder.categories_\[0\] is not in increasing order"),
    ({}, "n_features_in_", lambda pair, arrays: pair.__setitem__(1, 2), "n_features_in_ 2 is not the number"),
    ({}, "categories_", lambda pair, arrays: pair[1].__setitem__(0, {"$ndarray": {"object": [3.0, 1.0, 2.0],
                                                                                   "shape": [3]}}),
     r"OneHotEncoder.categories_\[0\] is not in increasing order"),  # numbers in an object array: searched too
    ({}, "categories_", lambda pair, arrays: pair[1].__setitem__(1, {"$ndarray": {"object": ["a", "a"], "shape": [2]}}),
     r"OneHotEncoder.categories_\[1\] holds a category twice"),
    ({}, "categories_", lambda pair, arrays: pair[1].__setitem__(1, {"$ndarray": {"object": ["a", 1], "shape": [2]}}),
     r"OneHotEncoder.categories_\[1\] holds values that are neither all text nor all numbers"),
])
def test_a_one_hot_encoders_derived_state_must_be_what_its_categories_give(params, attr, change, says):
    """Transform turns codes and the offsets of ``_n_features_outs`` into a sparse matrix whose
    compiled ``toarray`` writes where they point: every derived attribute is recomputed from
    the categories and settings, and a stored one that disagrees refuses the state by name."""
    enc, _ = _one_hot(**params)
    state = encode_state(enc)
    arrays = dict(state.arrays)
    change(_state_of(state)[attr], arrays)
    with pytest.raises(UntrustedState, match=says):
        decode_state(state.tree, arrays, {})


def test_a_models_encoding_does_not_depend_on_the_order_its_attributes_were_set():
    """Dask audit L5, session 50: a model trained on a Dask or joblib worker came back pickled, its
    attributes in another order, and was stored as other bytes (another model_sha256) than the
    same model trained in this process."""
    import pickle

    from fairkit.estimators import FairRegularizedClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    model = FairRegularizedClassifier(max_epochs=1, random_state=0).fit(X, y, sensitive_features=y)
    shuffled = pickle.loads(pickle.dumps(model))
    shuffled.__dict__ = dict(reversed(list(shuffled.__dict__.items())))
    assert list(vars(shuffled)) != list(vars(model))
    assert encode_state(shuffled).tree == encode_state(model).tree
