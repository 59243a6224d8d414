"""fairkit.safestate's decoder: what a crafted state may make it allocate, and what a stored
network's weights must be."""

import tracemalloc

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
