"""Fitted objects as data: what a bundle stores instead of pickles, and the one registry of codecs.

A fitted estimator, preprocessor or calibrator is written as

- a JSON tree of plain values, tagged containers and objects of *trusted* classes (their state as
  the class's own ``__getstate__`` gives it, encoded recursively),
- numeric arrays (NumPy arrays, torch weights) in one ``safetensors`` blob,
- LightGBM boosters as LightGBM's own text model, one text member each.

Reading builds nothing but the classes named in :data:`TRUSTED_TYPES` (and the torch layers in
:data:`TRUSTED_MODULES`): a class named in a bundle is looked up in that table, never imported by
the name the bundle gives, and its state is set with the class's own ``__setstate__`` (or its
``__dict__``). Nothing is unpickled, so no code a bundle carries runs when it loads; a name that
is not trusted is refused with the member and the name.

Every kind of value has one :class:`Codec` in :data:`CODECS` (plain containers, NumPy arrays and
scalars, pandas frames, torch modules, LightGBM boosters, trusted objects): the estimator
families need no code of their own beyond being listed as trusted.

Decoding is bounded: every array it builds is charged, before it is allocated, against
:data:`MAX_DECODED_BYTES` and a limit in proportion to the stored bytes, so a few bytes of JSON
that declare a wide text dtype, or one stored array referenced many times, are refused rather
than filling memory. A stored network's weights must be finite floating-point numbers of the
shapes its layers declare.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

#: Classes whose objects a bundle may hold, by the name their library exports them under.
#: Their state is data (numbers, strings, arrays, other trusted objects); none holds a callable.
TRUSTED_TYPES = (
    # fairkit's estimators and calibrators
    "fairkit.estimators.FairRegularizedClassifier",
    "fairkit.estimators.FairReweightingClassifier",
    "fairkit.estimators.LagrangianFairnessTrainer",
    "fairkit.estimators.AdversarialDebiasingClassifier",
    "fairkit.estimators.FairBoostingClassifier",
    "fairkit.estimators.ReductionsWrapper",
    "fairkit.estimators.ThresholdPostProcessor",
    "fairkit.estimators.InferredGroupThresholdClassifier",
    "fairkit.estimators.inferred._GroupBoosting",
    "fairkit.estimators.CalibratedGroupClassifier",
    "fairkit.calibration.GroupFairnessCalibrator",
    "fairkit.calibration.TemperatureScaling",
    "fairkit.calibration._PlattMap",
    "fairkit.calibration._IsotonicMap",
    "fairkit.calibration._TemperatureMap",
    "fairkit.calibration._IdentityMap",
    # the preprocessing of fairkit.split.make_preprocessor and the reductions' base learners
    "sklearn.compose.ColumnTransformer",
    "sklearn.pipeline.Pipeline",
    "sklearn.impute.SimpleImputer",
    "sklearn.preprocessing.StandardScaler",
    "sklearn.preprocessing.OneHotEncoder",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.dummy.DummyClassifier",
)

#: torch layers a stored network may be built from.
TRUSTED_MODULES = (
    "torch.nn.Sequential",
    "torch.nn.ModuleList",
    "torch.nn.Linear",
    "torch.nn.Identity",
    "torch.nn.ReLU",
    "torch.nn.Tanh",
    "torch.nn.GELU",
    "torch.nn.ELU",
    "fairkit.estimators.adversarial._Adversary",
)

#: Mapping types kept as such (an ``OrderedDict`` stays one).
TRUSTED_MAPPINGS = ("builtins.dict", "collections.OrderedDict", "sklearn.utils.Bunch")

#: NumPy scalar types that may appear as values (``OneHotEncoder(dtype=np.float32)``).
TRUSTED_SCALAR_TYPES = ("numpy.float16", "numpy.float32", "numpy.float64", "numpy.int8",
                        "numpy.int16", "numpy.int32", "numpy.int64", "numpy.uint8", "numpy.bool_",
                        "builtins.float", "builtins.int", "builtins.bool", "builtins.str",
                        "builtins.object")

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: what safetensors holds

#: The most that decoding one state may allocate (bytes), whatever its size ...
MAX_DECODED_BYTES = 1 << 30
#: ... and in proportion to the stored bytes (model.json, the arrays, the text models), above a
#: floor: a fitted state decodes to about its stored size; text arrays of uneven lengths to a few
#: times it. Only a crafted state declares a width or a shape its data does not carry.
DECODED_BYTES_PER_STORED_BYTE = 16
DECODED_BYTES_FLOOR = 64 << 20
#: The widest dtype (bytes per element) a state may name: 16,384 characters of text. A fitted
#: model's text dtypes are as wide as its longest category; a wider one only inflates later
#: allocations (a transform's output) that no decoding limit sees.
MAX_ITEMSIZE = 1 << 16


class UntrustedState(ValueError):
    """Stored state names a type outside the trusted lists, or is malformed."""


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class _Table:
    """A list of trusted names, resolved on first use (importing torch or LightGBM lazily)."""

    def __init__(self, names):
        self.names = tuple(names)
        self._by_name = None
        self._by_class = None

    def _load(self):
        if self._by_name is None:
            by_name = {}
            for n in self.names:
                try:
                    by_name[n] = _resolve(n)
                except (ImportError, AttributeError):  # an optional library absent: not usable
                    continue
            self._by_name = by_name
            self._by_class = {cls: n for n, cls in by_name.items()}

    def name_of(self, cls) -> str | None:
        self._load()
        return self._by_class.get(cls)

    def cls_of(self, name) -> Any:
        self._load()
        if not isinstance(name, str) or name not in self._by_name:
            raise UntrustedState(f"{name!r} is not a trusted type")
        return self._by_name[name]

    def add(self, name: str) -> None:
        self.names = self.names + (name,)
        self._by_name = None


_OBJECTS = _Table(TRUSTED_TYPES)
_MODULES = _Table(TRUSTED_MODULES)
_MAPPINGS = _Table(TRUSTED_MAPPINGS)
_SCALAR_TYPES = _Table(TRUSTED_SCALAR_TYPES)


def trust(name: str) -> None:
    """Allow objects of the class exported as ``name`` (``"package.module.Class"``) in bundles.

    For a method registered outside fairkit whose estimator holds only data. Writer and reader
    must both trust it.
    """
    _resolve(name)
    if name not in _OBJECTS.names:
        _OBJECTS.add(name)


# --------------------------------------------------------------------------- encoding state

@dataclass
class EncodedState:
    """An object as data: ``tree`` (JSON-able), ``arrays`` (name -> numeric ndarray), ``texts``
    (member suffix -> text) and ``objects`` (every trusted object met, in order)."""

    tree: Any
    arrays: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)
    objects: list = field(default_factory=list)


class _Encoder:
    def __init__(self):
        self.arrays: dict = {}
        self.texts: dict = {}
        self.objects: list = []
        self.memo: dict = {}  # id -> (ref number, the object, kept alive so ids stay unique)

    def array(self, arr: np.ndarray) -> dict:
        key = str(len(self.arrays))
        node = {"key": key}
        if arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
            node["order"] = "F"  # BLAS results can depend on the layout: keep it
        self.arrays[key] = np.ascontiguousarray(arr)
        return node

    def __call__(self, obj, path: str):
        if obj is None or type(obj) in (bool, int, str):
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if type(obj) is list:
            return [self(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        for codec in CODECS:
            if codec.matches(obj):
                if codec.shared:
                    seen = self.memo.get(id(obj))
                    if seen is not None:
                        return {"$ref": seen[0]}
                    self.memo[id(obj)] = (len(self.memo), obj)
                    payload = codec.encode(obj, self, path)
                    return {codec.tag: payload, "id": self.memo[id(obj)][0]}
                return {codec.tag: codec.encode(obj, self, path)}
        raise TypeError(f"cannot store {path} ({type(obj).__module__}.{type(obj).__qualname__}) as "
                        "data; only plain values, arrays and trusted types (fairkit.safestate."
                        "TRUSTED_TYPES) go into a bundle")


def encode_state(obj, path: str = "model") -> EncodedState:
    """``obj`` as data.

    Parameters
    ----------
    obj : object
        A fitted estimator, preprocessor, calibrator, or a dict/list of them.
    path : str
        How error messages name ``obj``.

    Returns
    -------
    EncodedState

    Raises
    ------
    TypeError
        Some part of ``obj`` is not data and not of a trusted type (named by its path).
    """
    enc = _Encoder()
    tree = enc(obj, path)
    return EncodedState(tree, enc.arrays, enc.texts, enc.objects)


# --------------------------------------------------------------------------- decoding state

class _Decoder:
    def __init__(self, arrays: dict, texts: dict, limit: int):
        self.arrays = arrays
        self.texts = texts
        self.refs: dict = {}
        self.objects: list = []
        self.limit = limit
        self.allocated = 0
        self.used_keys: set = set()
        # Where decoding is, as attribute and item steps from the root. Left as it is when a
        # node fails, so the error names the node (see decode_state).
        self.path: list = []

    def where(self) -> str:
        text = "model" + "".join(self.path)
        return text if len(text) <= 200 else "..." + text[-197:]

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` about to be allocated for ``what``; refuse past the limit."""
        self.allocated += int(nbytes)
        if self.allocated > self.limit:
            raise UntrustedState(f"{what} would take {int(nbytes):,} bytes, and decoding this state may "
                                 f"allocate at most {self.limit:,} in all (in proportion to its stored size)")

    def array(self, node) -> np.ndarray:
        if not isinstance(node, dict) or node.get("key") not in self.arrays:
            raise UntrustedState(f"array reference {node!r:.60} names no stored array")
        key = node["key"]
        # The encoder stores each array once; a key named again would copy it again, so a
        # short model.json could multiply the arrays' size.
        if key in self.used_keys:
            raise UntrustedState(f"stored array {key!r:.20} is referenced twice")
        self.used_keys.add(key)
        stored = self.arrays[key]
        self.charge(stored.nbytes, f"stored array {key!r:.20}")
        arr = np.array(stored, copy=True)  # writable, owned
        return np.asfortranarray(arr) if node.get("order") == "F" else arr

    def __call__(self, node, at: str | None = None):
        if at is None:
            return self._decode(node)
        self.path.append(at)
        out = self._decode(node)
        self.path.pop()  # not on failure: the error's message names the failing node
        return out

    def _decode(self, node):
        if node is None or type(node) in (bool, int, str, float):
            return node
        if type(node) is list:
            return [self(v, f"[{i}]") for i, v in enumerate(node)]
        if type(node) is not dict:
            raise UntrustedState(f"unexpected value {node!r:.60}")
        if "$ref" in node:
            if node["$ref"] not in self.refs:
                raise UntrustedState(f"reference {node['$ref']!r:.20} to nothing stored before it")
            return self.refs[node["$ref"]]
        tags = [k for k in node if k != "id"]
        if len(tags) != 1 or tags[0] not in _BY_TAG:
            raise UntrustedState(f"unknown node {sorted(node)!r:.80}")
        codec = _BY_TAG[tags[0]]
        if codec.shared:
            return codec.decode(node[tags[0]], self, node.get("id"))
        return codec.decode(node[tags[0]], self, None)

    def register(self, ref, obj):
        if ref is not None:
            self.refs[ref] = obj
        return obj


def decode_state(tree, arrays: dict, texts: dict, *, stored_bytes: int | None = None) -> tuple[Any, list]:
    """Rebuild what :func:`encode_state` stored.

    Parameters
    ----------
    tree : JSON value
    arrays : dict of str to ndarray
    texts : dict of str to str
    stored_bytes : int, optional
        The size of what ``tree``, ``arrays`` and ``texts`` were read from (bytes). Decoding
        may allocate at most :data:`DECODED_BYTES_FLOOR` plus
        :data:`DECODED_BYTES_PER_STORED_BYTE` times it, and never more than
        :data:`MAX_DECODED_BYTES`. Default: the arrays' and texts' size (the tree uncounted).

    Returns
    -------
    obj : object
    objects : list
        Every trusted object built, in order.

    Raises
    ------
    UntrustedState
        A type outside the trusted lists, a malformed tree, a declared size past the limits,
        or a network whose weights are not finite numbers of its layers' shapes; the message
        names the node (``model['estimator'].module_...``).
    """
    if stored_bytes is None:
        stored_bytes = sum(a.nbytes for a in arrays.values()) + sum(len(t) for t in texts.values())
    limit = min(MAX_DECODED_BYTES, DECODED_BYTES_FLOOR + DECODED_BYTES_PER_STORED_BYTE * int(stored_bytes))
    dec = _Decoder(arrays, texts, limit)
    try:
        obj = dec(tree)
    except RecursionError as exc:
        raise UntrustedState("the stored state is nested too deeply") from exc
    except UntrustedState as exc:
        raise UntrustedState(f"at {dec.where()}: {exc}"[:400]) from exc
    # OverflowError: a number too large for its dtype; RuntimeError: torch refusing a tensor.
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RuntimeError) as exc:
        raise UntrustedState(f"malformed state at {dec.where()} ({type(exc).__name__}: {exc})"[:400]) from exc
    return obj, dec.objects


# --------------------------------------------------------------------------- the codecs

@dataclass(frozen=True)
class Codec:
    """How one kind of value becomes data and back.

    Attributes
    ----------
    tag : str
        The JSON key marking a node of this kind.
    matches : callable
        ``matches(obj) -> bool``.
    encode : callable
        ``encode(obj, encoder, path) -> JSON payload`` (the encoder encodes nested values and
        takes arrays and texts).
    decode : callable
        ``decode(payload, decoder, ref) -> obj``.
    shared : bool
        Objects encoded once and referenced after (identity and cycles kept).
    """

    tag: str
    matches: Callable
    encode: Callable
    decode: Callable
    shared: bool = False


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _enc_pairs(mapping, enc, path):
    return [[enc(k, f"{path} key"), enc(v, f"{path}[{k!r}]")] for k, v in mapping.items()]


def _dec_mapping(payload, dec, ref):
    cls = _MAPPINGS.cls_of(payload["type"])
    out = cls()
    dec.register(ref, out)
    for k, v in payload["items"]:
        key = dec(k, " key")
        out[key] = dec(v, f"[{key!r:.40}]")
    return out


def _enc_mapping(obj, enc, path):
    name = _MAPPINGS.name_of(type(obj))
    return {"type": name, "items": _enc_pairs(obj, enc, path)}


def _is_mapping(obj) -> bool:
    return isinstance(obj, dict) and _MAPPINGS.name_of(type(obj)) is not None


def _enc_ndarray(arr, enc, path):
    if arr.dtype.kind in _NUMERIC_KINDS and arr.dtype.byteorder in "=|<":
        return enc.array(arr)
    if arr.dtype.kind == "O":
        return {"object": [enc(v, f"{path}[{i}]") for i, v in enumerate(arr.ravel().tolist())],
                "shape": list(arr.shape)}
    if arr.dtype.kind == "U":
        return {"unicode": arr.ravel().tolist(), "shape": list(arr.shape), "dtype": arr.dtype.str}
    raise TypeError(f"cannot store {path} (array of dtype {arr.dtype}) as data")


def _plain_dtype(text, kinds: str) -> np.dtype:
    """The dtype named ``text``, refused unless of one of ``kinds``, without fields, and at most
    :data:`MAX_ITEMSIZE` bytes an element."""
    if not isinstance(text, str):
        raise UntrustedState(f"not a dtype: {text!r:.20}")
    dtype = np.dtype(text)
    if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
        raise UntrustedState(f"not a plain dtype of kind {kinds!r}: {text!r:.20}")
    if dtype.itemsize > MAX_ITEMSIZE:
        raise UntrustedState(f"the dtype {text!r:.20} is {dtype.itemsize:,} bytes an element, over the "
                             f"{MAX_ITEMSIZE:,}-byte limit")
    return dtype


def _shape(payload, n: int) -> tuple:
    """A declared shape, refused unless it holds exactly the ``n`` values stored with it."""
    shape = payload.get("shape")
    if (not isinstance(shape, list) or len(shape) > 32
            or not all(type(d) is int and d >= 0 for d in shape)):
        raise UntrustedState(f"not an array shape: {shape!r:.60}")
    if math.prod(shape) != n:  # Python integers: no overflow
        raise UntrustedState(f"the shape {shape!r:.60} does not hold the {n:,} values stored")
    return tuple(shape)


def _dec_ndarray(payload, dec, ref):
    if "key" in payload:
        return dec.array(payload)
    if "object" in payload:
        items = payload["object"]
        if not isinstance(items, list):
            raise UntrustedState("malformed object array")
        shape = _shape(payload, len(items))
        dec.charge(8 * len(items), "an object array")
        values = [dec(v, f"[{i}]") for i, v in enumerate(items)]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape(shape)
    if "unicode" in payload:
        dtype = _plain_dtype(payload.get("dtype"), "U")
        values = payload["unicode"]
        if not isinstance(values, list) or not all(type(v) is str for v in values):
            raise UntrustedState("a text array's values are not a list of strings")
        shape = _shape(payload, len(values))
        # The width is declared, not read from the values: a 1-character value in a
        # 10^9-character dtype takes 4 GB. Charge it before NumPy allocates.
        dec.charge(dtype.itemsize * len(values), f"a text array of {len(values):,} x {dtype.str}")
        return np.array(values, dtype=dtype).reshape(shape)
    raise UntrustedState("malformed array node")


def _enc_scalar(obj, enc, path):
    dtype = obj.dtype
    if dtype.kind not in _NUMERIC_KINDS + "U":
        raise TypeError(f"cannot store {path} (NumPy scalar {dtype}) as data")
    value = obj.item()
    return {"dtype": dtype.str, "value": enc(value, path)}


def _dec_scalar(payload, dec, ref):
    dtype = _plain_dtype(payload["dtype"], _NUMERIC_KINDS + "U")
    return dtype.type(dec(payload["value"]))


def _enc_dtype(obj, enc, path):
    if obj.kind not in _NUMERIC_KINDS + "OU":
        raise TypeError(f"cannot store {path} (dtype {obj}) as data")
    return obj.str


def _dec_dtype(payload, dec, ref):
    return _plain_dtype(payload, _NUMERIC_KINDS + "OU")


def _enc_frame(frame: pd.DataFrame, enc, path):
    if isinstance(frame.index, pd.MultiIndex) or isinstance(frame.columns, pd.MultiIndex):
        raise TypeError(f"cannot store {path} (a frame with a MultiIndex) as data")
    return {"columns": enc(list(frame.columns), f"{path}.columns"),
            "index": enc(frame.index.to_numpy(), f"{path}.index"), "index_name": enc(frame.index.name, path),
            "data": [enc(frame.iloc[:, i].to_numpy(), f"{path}[{c!r}]") for i, c in enumerate(frame.columns)]}


def _column(values, n: int, what: str) -> np.ndarray:
    """``values`` if it is a 1-d array of ``n`` values, as the encoder writes a column or an index.

    Anything else would let pandas broadcast a scalar or a shared mapping over a long index: a
    few bytes of JSON making a frame of rows times columns.
    """
    if type(values) is not np.ndarray or values.ndim != 1 or (n >= 0 and len(values) != n):
        raise UntrustedState(f"{what} is not a 1-d array" + (f" of {n:,} values" if n >= 0 else ""))
    return values


def _dec_frame(payload, dec, ref):
    columns = dec(payload["columns"], ".columns")
    values = _column(dec(payload["index"], ".index"), -1, "the frame's index")
    data = [_column(dec(v, f"[{i}]"), len(values), f"column {i}") for i, v in enumerate(payload["data"])]
    index = pd.Index(values, name=dec(payload["index_name"]))
    frame = pd.DataFrame({i: d for i, d in enumerate(data)}, index=index)
    frame.columns = columns
    return frame


def _enc_series(s: pd.Series, enc, path):
    if isinstance(s.index, pd.MultiIndex):
        raise TypeError(f"cannot store {path} (a Series with a MultiIndex) as data")
    return {"values": enc(s.to_numpy(), path), "index": enc(s.index.to_numpy(), f"{path}.index"),
            "name": enc(s.name, path)}


def _dec_series(payload, dec, ref):
    index = _column(dec(payload["index"], ".index"), -1, "the series' index")
    values = _column(dec(payload["values"], ".values"), len(index), "the series' values")
    return pd.Series(values, index=pd.Index(index), name=dec(payload["name"]))


def _is_module(obj) -> bool:
    import sys

    if "torch" not in sys.modules:  # nothing can be a torch module before torch is imported
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def _enc_module(m, enc, path):
    name = _MODULES.name_of(type(m))
    if name is None:
        raise TypeError(f"cannot store {path} (torch module {_qualname(type(m))}) as data")
    hooks = [k for k, v in vars(m).items() if k.endswith("hooks") and v]
    if hooks:  # hooks are code
        raise TypeError(f"cannot store {path}: the module has hooks ({', '.join(hooks)})")
    params = {k: None if p is None else {"array": enc.array(p.detach().cpu().numpy()),
                                          "requires_grad": bool(p.requires_grad)}
              for k, p in m._parameters.items()}
    buffers = {k: None if b is None else enc.array(b.detach().cpu().numpy()) for k, b in m._buffers.items()}
    attrs = {k: enc(v, f"{path}.{k}") for k, v in vars(m).items() if not k.startswith("_") and k != "training"}
    return {"type": name, "training": bool(m.training), "attrs": attrs, "params": params, "buffers": buffers,
            "non_persistent": sorted(m._non_persistent_buffers_set),
            "children": {k: enc(c, f"{path}.{k}") for k, c in m._modules.items()}}


def _dec_module(payload, dec, ref):
    import torch

    cls = _MODULES.cls_of(payload["type"])
    m = cls.__new__(cls)
    torch.nn.Module.__init__(m)
    dec.register(ref, m)
    for k, v in payload["attrs"].items():
        if not isinstance(k, str) or k.startswith("_"):
            raise UntrustedState(f"bad module attribute {k!r:.40}")
        setattr(m, k, dec(v, f".{k}"))
    for k, p in payload["params"].items():
        if p is None:
            m._parameters[str(k)] = None
            continue
        arr = _weights(dec.array(p["array"]), k, floating=True)
        m._parameters[str(k)] = torch.nn.Parameter(torch.from_numpy(arr), requires_grad=bool(p["requires_grad"]))
    for k, b in payload["buffers"].items():
        m._buffers[str(k)] = None if b is None else torch.from_numpy(_weights(dec.array(b), k))
    m._non_persistent_buffers_set = {str(k) for k in payload["non_persistent"]}
    for k, c in payload["children"].items():
        child = dec(c, f".{k}")
        if child is not None and not isinstance(child, torch.nn.Module):
            raise UntrustedState(f"module child {k!r:.40} is not a module")
        m._modules[str(k)] = child
    m.train(bool(payload["training"]))
    if isinstance(m, torch.nn.Linear):
        _check_linear(m)
    return m


def _weights(arr: np.ndarray, name, *, floating: bool = False) -> np.ndarray:
    """A network's stored tensor ``name``, refused unless its floating-point values are all
    finite; with ``floating``, unless it is floating point at all (a parameter is learnt)."""
    if floating and arr.dtype.kind != "f":
        raise UntrustedState(f"the weights {str(name)!r:.40} are {arr.dtype}, not floating point")
    # A network's weights are never NaN or infinite once trained; its scores would be.
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise UntrustedState(f"the weights {str(name)!r:.40} hold NaN or infinite values")
    return arr


def _check_linear(m) -> None:
    """A linear layer's weight and bias of the shapes its sizes declare."""
    want = {"weight": (m.out_features, m.in_features), "bias": (m.out_features,)}
    for name, shape in want.items():
        p = m._parameters.get(name)
        if (p is not None or name == "weight") and (p is None or tuple(p.shape) != shape):
            got = None if p is None else tuple(p.shape)
            raise UntrustedState(f"the linear layer's {name} has shape {got}, not the {shape} its sizes "
                                 f"({m.in_features} in, {m.out_features} out) declare")


def _is_tensor(obj) -> bool:
    import sys

    return "torch" in sys.modules and isinstance(obj, sys.modules["torch"].Tensor)


def _enc_tensor(t, enc, path):
    import torch

    if isinstance(t, torch.nn.Parameter):
        raise TypeError(f"cannot store {path} (a bare torch Parameter) as data")
    return enc.array(t.detach().cpu().numpy())


def _dec_tensor(payload, dec, ref):
    import torch

    return torch.from_numpy(_weights(dec.array(payload), "tensor"))


def _is_booster(obj) -> bool:
    import sys

    return "lightgbm" in sys.modules and isinstance(obj, sys.modules["lightgbm"].Booster)


def _enc_booster(b, enc, path):
    key = f"lightgbm-{len(enc.texts)}.txt"
    enc.texts[key] = b.model_to_string(num_iteration=-1)
    return {"text": key}


def _dec_booster(payload, dec, ref):
    import lightgbm as lgb

    text = dec.texts.get(payload.get("text"))
    if not isinstance(text, str):
        raise UntrustedState(f"the LightGBM model {payload.get('text')!r:.60} is not in the bundle")
    if not text.startswith("tree\n"):
        raise UntrustedState(f"{payload['text']} is not a LightGBM text model")
    try:
        checked = lightgbm_model_text(text)
    except ValueError as exc:
        raise UntrustedState(f"{payload['text']} is not a LightGBM model fairkit wrote: {exc}"[:300]) from exc
    try:
        return dec.register(ref, lgb.Booster(model_str=checked))
    except lgb.basic.LightGBMError as exc:
        raise UntrustedState(f"{payload['text']} is not a readable LightGBM model: {exc}"[:300]) from exc


# What a LightGBM model text may hold before LightGBM's own parser reads it. That parser trusts
# its input: a tree of a crafted size aborts the whole process (it parses trees in parallel
# threads, where its errors end in std::terminate), and a child or feature index out of range
# is read out of bounds at prediction. A bundle is untrusted until verified, and the dashboard
# serves everyone from one process, so every count and index is checked here first.
_LGB_HEADER = {"version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
               "objective", "feature_names", "feature_infos", "tree_sizes", "monotone_constraints"}
_LGB_MAX_LEAVES = 131_072       # LightGBM's own upper bound on num_leaves
_LGB_MAX_CLASSES = 10_000
_LGB_MAX_FEATURES = 1_000_000
_LGB_TREE_KEYS = ("num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type",
                  "left_child", "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value",
                  "internal_weight", "internal_count", "is_linear", "shrinkage")
_LGB_CATEGORY_KEYS = ("cat_boundaries", "cat_threshold")
# Anything but the newline and printable ASCII (fairkit names LightGBM's features Column_<i>).
_STRAY = re.compile(r"[^\n\x20-\x7e]")
_INTS = re.compile(r"(-?[0-9]{1,10}(?: -?[0-9]{1,10})*)?")  # whole numbers, one blank apart


def _lgb_ints(text: str, what: str, lo: int, hi: int) -> np.ndarray:
    if not _INTS.fullmatch(text.strip()):
        raise ValueError(f"{what} holds a value that is not a whole number")
    out = np.array(text.split(), dtype=np.int64)
    if out.size and (out.min() < lo or out.max() > hi):
        raise ValueError(f"{what} holds a value outside {lo}..{hi}")
    return out


def _lgb_sized(values, what: str, *sizes: int):
    if len(values) not in sizes:
        raise ValueError(f"{what} has {len(values)} values, not {' or '.join(map(str, sizes))}")
    return values


def lightgbm_model_text(text: str) -> str:
    """``text`` checked as a LightGBM model of the kind fairkit trains, as LightGBM may read it.

    Every count must agree with the values written and every index must point inside its tree
    or the feature list, so LightGBM's parser and predictor (which trust their input) meet
    nothing they would read out of bounds; a tree's structure must be a tree (each node and leaf
    reached once, children after their parent). The result holds the header and the trees only,
    without ``tree_sizes`` (so LightGBM parses trees one after another, raising on an error
    instead of aborting) and without the training parameters after the trees.

    Raises
    ------
    ValueError
        Naming the first thing that is not as LightGBM writes it.
    """
    head, sep, _ = text.partition("\nend of trees")
    if not sep:
        raise ValueError("it has no 'end of trees'")
    # LightGBM ends a line at '\r' too: one hidden in a value would reach it as a header line
    # nobody checked (a tree_sizes that sends its parallel parse to chosen offsets). And Python
    # reads digits of every script ('\u0661' is 1) where LightGBM's parser reads 0-9 only: a
    # child index written so is a valid tree to the check and a loop to LightGBM (prediction
    # never ends). LightGBM writes printable ASCII and newlines only.
    stray = _STRAY.search(head)
    if stray:
        kind = "control" if stray.group() < " " or stray.group() == "\x7f" else "non-ASCII"
        raise ValueError(f"it holds the {kind} character {stray.group()!r} at offset {stray.start()}")
    blocks = head.split("\n\n")
    header_lines = blocks[0].split("\n")
    if header_lines[0] != "tree":
        raise ValueError("it does not start with 'tree'")
    header = _lgb_lines(header_lines[1:], _LGB_HEADER, "its header")
    for key in ("version", "num_class", "num_tree_per_iteration", "max_feature_idx", "feature_names"):
        if key not in header:
            raise ValueError(f"its header has no {key}")
    if not re.fullmatch(r"v[0-9]{1,3}", header["version"]):
        raise ValueError(f"version {header['version'][:20]!r} is not one LightGBM writes")
    (n_class,) = _lgb_ints(header["num_class"], "num_class", 1, _LGB_MAX_CLASSES)
    (per_iteration,) = _lgb_ints(header["num_tree_per_iteration"], "num_tree_per_iteration", 1, n_class)
    (max_feature,) = _lgb_ints(header["max_feature_idx"], "max_feature_idx", 0, _LGB_MAX_FEATURES - 1)
    if per_iteration not in (1, n_class):
        raise ValueError(f"num_tree_per_iteration {per_iteration} is neither 1 nor num_class {n_class}")
    _lgb_ints(header.get("label_index", "0"), "label_index", 0, 0)
    _lgb_sized(header["feature_names"].split(), "feature_names", max_feature + 1)
    if "feature_infos" in header:
        _lgb_sized(header["feature_infos"].split(), "feature_infos", max_feature + 1)
    if "monotone_constraints" in header:
        _lgb_sized(_lgb_ints(header["monotone_constraints"], "monotone_constraints", -1, 1),
                   "monotone_constraints", max_feature + 1)
    objective = header.get("objective")
    if objective is not None and not re.fullmatch(r"(binary sigmoid:[0-9.eE+]+|multiclass num_class:(\d+))",
                                                  objective):
        raise ValueError(f"objective {objective[:40]!r} is not binary or multiclass")
    if objective is not None and objective.startswith("multiclass") and int(objective.split(":")[1]) != n_class:
        raise ValueError("the objective's num_class differs from the header's")
    trees = [b.strip("\n") for b in blocks[1:] if b.strip("\n")]
    if not trees or len(trees) % per_iteration:
        raise ValueError(f"it has {len(trees)} trees, not a positive multiple of {per_iteration}")
    if "tree_sizes" in header:
        _lgb_sized(header["tree_sizes"].split(), "tree_sizes", len(trees))
    _lgb_check_trees(trees, max_feature)
    kept = [line for line in header_lines if not line.startswith("tree_sizes=")]
    return "\n".join(kept) + "\n\n" + "".join(f"{t}\n\n\n" for t in trees) + "end of trees\n"


def _lgb_lines(lines: list, known, where: str) -> dict:
    """``key=value`` lines as a dict; each key one LightGBM writes there, once."""
    out = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if not eq or key not in known or key in out:
            raise ValueError(f"{where} line {line[:40]!r} is not one LightGBM writes once")
        out[key] = value
    return out


def _lgb_tree_fields(trees: list) -> list:
    """Each tree's ``key=value`` lines as a dict: headed by its number, no key unknown,
    repeated or missing."""
    known = (*_LGB_TREE_KEYS, *_LGB_CATEGORY_KEYS)
    out = []
    for number, block in enumerate(trees):
        lines = block.split("\n")
        if lines[0] != f"Tree={number}":
            raise ValueError(f"tree {number} is headed {lines[0][:20]!r}")
        fields = _lgb_lines(lines[1:], known, f"tree {number}'s")
        missing = [k for k in _LGB_TREE_KEYS if k not in fields]
        if missing:
            raise ValueError(f"tree {number}'s {missing[0]} is missing")
        out.append(fields)
    return out


class _LgbColumn:
    """One field of every tree, end to end: ``values``, ``counts`` (per tree) and ``tree_of``
    (the tree an element belongs to), so each check runs once over all trees and still names
    the tree and node it fails at."""

    def __init__(self, texts: list, key: str, *, ints: bool, finite: bool = False):
        self.key = key
        if ints:
            for number, text in enumerate(texts):
                if not _INTS.fullmatch(text.strip()):
                    raise ValueError(f"tree {number}'s {key} holds a value that is not a whole number")
        parts = [text.split() for text in texts]
        self.counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        self.starts = np.cumsum(self.counts) - self.counts
        flat = [v for part in parts for v in part]
        try:
            self.values = np.array(flat, dtype=np.int64 if ints else np.float64)
        except ValueError:
            bad = next(i for i, v in enumerate(flat) if not _is_float(v))
            raise ValueError(f"{self.where(bad)}{key} holds a value that is not a number") from None
        if not ints:
            bad = np.flatnonzero(np.isnan(self.values) | (np.isinf(self.values) if finite else False))
            if bad.size:
                raise ValueError(f"{self.where(bad[0])}{key} holds NaN{' or infinite' if finite else ''} values")

    def tree_of(self, index: int) -> int:
        return int(np.searchsorted(self.starts + self.counts, index, side="right"))

    def where(self, index: int) -> str:
        return f"tree {self.tree_of(index)}'s "

    def within(self, lo, hi) -> None:
        """Every value of tree t in ``lo[t]..hi[t]`` (arrays over the trees, or numbers)."""
        lo, hi = (np.broadcast_to(np.asarray(b, dtype=np.int64), self.counts.shape) for b in (lo, hi))
        bad = np.flatnonzero((self.values < np.repeat(lo, self.counts)) | (self.values > np.repeat(hi, self.counts)))
        if bad.size:
            t = self.tree_of(bad[0])
            raise ValueError(f"tree {t}'s {self.key} holds a value outside {lo[t]}..{hi[t]}")

    def sized(self, *sizes):
        """Tree t holds one of ``sizes[k][t]`` values (arrays over the trees, or numbers)."""
        sizes = [np.broadcast_to(np.asarray(n, dtype=np.int64), self.counts.shape) for n in sizes]
        bad = np.flatnonzero(~np.logical_or.reduce([self.counts == n for n in sizes]))
        if bad.size:
            t = int(bad[0])
            raise ValueError(f"tree {t}'s {self.key} has {self.counts[t]} values, "
                             f"not {' or '.join(str(n[t]) for n in sizes)}")
        return self.values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lgb_check_trees(trees: list, max_feature: int) -> None:
    """The trees of a LightGBM text checked as :func:`lightgbm_model_text` says, each check
    vectorised over all trees (a boosted model has hundreds)."""
    fields = _lgb_tree_fields(trees)

    def column(key, *, ints, finite=False):
        return _LgbColumn([f[key] for f in fields], key, ints=ints, finite=finite)

    def one(key, lo, hi):
        col = column(key, ints=True)
        col.within(lo, hi)
        return col.sized(1)

    n = one("num_leaves", 1, _LGB_MAX_LEAVES)
    n_cat = one("num_cat", 0, n - 1)
    linear = np.flatnonzero(one("is_linear", 0, 1))
    if linear.size:
        raise ValueError(f"tree {linear[0]}'s is a linear tree, which fairkit never trains")
    column("shrinkage", ints=False, finite=True).sized(1)
    nodes = n - 1
    feature = column("split_feature", ints=True)
    feature.within(0, max_feature)
    feature.sized(nodes)
    column("split_gain", ints=False).sized(nodes)
    thresholds = column("threshold", ints=False).sized(nodes)
    # decision_type bits: 1 categorical, 2 default left, 4 and 8 the missing type (0, 1 or 2).
    kinds = column("decision_type", ints=True)
    kinds.within(0, 11)
    kinds = kinds.sized(nodes)
    sides = []
    for key in ("left_child", "right_child"):
        col = column(key, ints=True)
        col.within(-n, np.maximum(nodes - 1, 0))
        sides.append(col.sized(nodes))
    column("leaf_value", ints=False, finite=True).sized(n)
    for key in ("leaf_weight", "leaf_count"):
        column(key, ints=False).sized(0, n)
    for key in ("internal_value", "internal_weight", "internal_count"):
        column(key, ints=False).sized(0, nodes)
    for number, f in enumerate(fields):  # categorical splits: rare, checked tree by tree
        what = f"tree {number}'s "
        if n_cat[number]:
            if not all(k in f for k in _LGB_CATEGORY_KEYS):
                raise ValueError(f"{what}categorical splits have no cat_boundaries or cat_threshold")
            bounds = _lgb_sized(_lgb_ints(f["cat_boundaries"], what + "cat_boundaries", 0, 10**9),
                                what + "cat_boundaries", n_cat[number] + 1)
            if bounds[0] != 0 or (np.diff(bounds) < 0).any():
                raise ValueError(f"{what}cat_boundaries do not rise from 0")
            _lgb_sized(_lgb_ints(f["cat_threshold"], what + "cat_threshold", 0, 2**32 - 1),
                       what + "cat_threshold", int(bounds[-1]))
        elif any(k in f for k in _LGB_CATEGORY_KEYS):
            raise ValueError(f"{what}has categories but num_cat=0")

    # Nodes of all trees end to end: node i is node local[i] of tree tree[i].
    node_start = np.cumsum(nodes) - nodes
    tree = np.repeat(np.arange(len(trees)), nodes)
    local = np.arange(len(tree)) - node_start[tree]

    def node_error(i, says):
        return ValueError(f"tree {tree[i]}'s node {local[i]}{says}")

    bad = np.flatnonzero((kinds >> 2) > 2)
    if bad.size:
        raise node_error(bad[0], " has an unknown missing-value type")
    categorical = np.flatnonzero(kinds & 1)
    sets = thresholds[categorical]
    bad = np.flatnonzero((sets != np.floor(sets)) | (sets < 0) | (sets >= n_cat[tree[categorical]]))
    if bad.size:
        i = categorical[bad[0]]
        raise node_error(i, f"'s category set {thresholds[i]:g} is not one of its {n_cat[tree[i]]}")
    # A tree: node 0 is the root; every other node has one parent made before it, and every
    # leaf one parent. (LightGBM numbers a node after its parent when it splits a leaf.)
    children = np.concatenate(sides)
    parent = np.concatenate([np.arange(len(tree))] * 2)  # the parent's index end to end
    inner = children >= 0
    late = np.flatnonzero(inner & (children <= local[parent]))
    if late.size:
        i = parent[late[0]]
        raise ValueError(f"tree {tree[i]}'s node {children[late[0]]} is not a child of one node made before it")
    node_parents = np.bincount(node_start[tree[parent[inner]]] + children[inner], minlength=len(tree))
    twice = np.flatnonzero(node_parents > 1)
    if twice.size:
        raise node_error(twice[0], " is not a child of one node made before it")
    leaf_start = np.cumsum(n) - n
    leaf_parents = np.bincount(leaf_start[tree[parent[~inner]]] + ~children[~inner], minlength=int(n.sum()))
    twice = np.flatnonzero(leaf_parents > 1)
    if twice.size:
        t = int(np.searchsorted(leaf_start + n, twice[0], side="right"))
        raise ValueError(f"tree {t}'s leaf {twice[0] - leaf_start[t]} has two parents")
    # Every leaf of a tree with a split has a parent, and every node but the root.
    orphan_leaf = (leaf_parents == 0) & np.repeat(nodes > 0, n)
    orphan_node = (node_parents == 0) & (local > 0)
    if orphan_leaf.any() or orphan_node.any():
        t = min(int(np.searchsorted(leaf_start + n, np.flatnonzero(orphan_leaf)[0], side="right"))
                if orphan_leaf.any() else len(trees),
                int(tree[np.flatnonzero(orphan_node)[0]]) if orphan_node.any() else len(trees))
        raise ValueError(f"tree {t}'s nodes or leaves are not reached from its root")


# --------------------------------------------------------------------------- fitted state that compiled code trusts

def _same(a, b) -> bool:
    """Stored and recomputed values equal, for ``None``, lists and (object) arrays alike."""
    if a is None or b is None:
        return a is None and b is None
    try:
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    except (ValueError, TypeError):
        return False
    return a.shape == b.shape and all(x is y or x == y for x, y in zip(a.ravel(), b.ravel()))


def _sorted_categories(cats, i: int) -> None:
    """Feature ``i``'s categories as fit leaves them: a non-empty 1-D array of unique values,
    numbers in increasing order with at most one NaN, last. Transform finds a number's code by
    binary search, also in an object array of numbers: in an unsorted array that code can be one
    past the last category. Text is looked up by value, in any order."""
    if type(cats) is not np.ndarray or cats.ndim != 1 or cats.size == 0:
        raise UntrustedState(f"OneHotEncoder.categories_[{i}] is not a non-empty 1-D array")
    values = cats
    if cats.dtype.kind not in _NUMERIC_KINDS:
        items = cats.tolist()
        # fit puts a missing value (None or NaN) last
        if items[-1] is None or (type(items[-1]) is float and math.isnan(items[-1])):
            items = items[:-1]
        if all(type(v) is str for v in items):
            if len(set(items)) != len(items):
                raise UntrustedState(f"OneHotEncoder.categories_[{i}] holds a category twice")
            return
        if not all(type(v) in (bool, int, float) for v in items):  # fit refuses a column of both
            raise UntrustedState(f"OneHotEncoder.categories_[{i}] holds values that are neither all text nor "
                                 "all numbers")
        values = np.array(items, dtype=np.float64)
    values = values.astype(np.float64)
    nan = np.isnan(values)
    if nan[:-1].any() or not (np.diff(values[~nan]) > 0).all():
        raise UntrustedState(f"OneHotEncoder.categories_[{i}] is not in increasing order without repeats")


def _infrequent_mapping(n: int, infrequent: np.ndarray) -> np.ndarray:
    """Code of each of ``n`` categories after the ``infrequent`` ones are grouped (into the last
    code), as fit computes it."""
    mapping = np.empty(n, dtype=np.int64)
    mapping[infrequent] = n - infrequent.size
    mapping[np.setdiff1d(np.arange(n), infrequent)] = np.arange(n - infrequent.size)
    return mapping


def _check_one_hot(enc) -> None:
    """A decoded OneHotEncoder whose derived attributes are what fit would compute from its
    categories, infrequent groups and drop setting.

    ``transform`` builds a sparse matrix from codes and column offsets taken from
    ``_n_features_outs``, ``_drop_idx_after_grouping`` and the infrequent mappings, and SciPy's
    compiled ``toarray`` writes where the codes point without checking them: a stored value
    that disagrees with the categories writes outside the output (round 3, finding 1).
    """
    needed = ("_compute_n_features_outs", "_set_drop_idx", "_check_infrequent_enabled")
    if not all(callable(getattr(enc, name, None)) for name in needed):  # a scikit-learn that renamed them
        raise UntrustedState("this scikit-learn's OneHotEncoder cannot be checked (its private "
                             f"{', '.join(needed)} changed): install scikit-learn 1.7 to 1.9")
    if not set(vars(enc)) - set(enc._get_param_names()) - {"_sklearn_version"}:
        return  # not fitted (a template, as ColumnTransformer.transformers holds): transform refuses it
    cats = getattr(enc, "categories_", None)
    if not isinstance(cats, list) or not cats:
        raise UntrustedState("OneHotEncoder.categories_ is not a list of arrays")
    n_in = getattr(enc, "n_features_in_", None)
    if type(n_in) is not int or n_in != len(cats):
        raise UntrustedState(f"OneHotEncoder.n_features_in_ {n_in!r:.20} is not the number of categories_ "
                             f"lists ({len(cats)})")
    for i, c in enumerate(cats):
        _sorted_categories(c, i)
    stored = {k: getattr(enc, k, None) for k in ("_infrequent_enabled", "drop_idx_", "_drop_idx_after_grouping",
                                                   "_n_features_outs")}
    try:
        enc._check_infrequent_enabled()
        if enc._infrequent_enabled is not stored["_infrequent_enabled"]:
            raise UntrustedState("OneHotEncoder._infrequent_enabled disagrees with its min_frequency and "
                                 "max_categories")
        if enc._infrequent_enabled:
            groups = getattr(enc, "_infrequent_indices", None)
            maps = getattr(enc, "_default_to_infrequent_mappings", None)
            if not isinstance(groups, list) or not isinstance(maps, list) or not len(groups) == len(maps) == len(cats):
                raise UntrustedState("OneHotEncoder._infrequent_indices or _default_to_infrequent_mappings is "
                                     "not one entry per feature")
            for i, (c, group, mapping) in enumerate(zip(cats, groups, maps)):
                if group is None:
                    if mapping is not None:
                        raise UntrustedState(f"OneHotEncoder._default_to_infrequent_mappings[{i}] groups no "
                                             "infrequent categories")
                    continue
                n = c.size
                if (type(group) is not np.ndarray or group.ndim != 1 or group.dtype.kind not in "iu"
                        or group.size == 0 or group[0] < 0 or group[-1] >= n or (np.diff(group) <= 0).any()):
                    raise UntrustedState(f"OneHotEncoder._infrequent_indices[{i}] is not increasing indices of "
                                         "its categories")
                if not _same(mapping, _infrequent_mapping(n, group)):
                    raise UntrustedState(f"OneHotEncoder._default_to_infrequent_mappings[{i}] disagrees with "
                                         "its infrequent categories")
        enc._set_drop_idx()
    except (ValueError, TypeError, IndexError, AttributeError) as exc:
        if isinstance(exc, UntrustedState):
            raise
        raise UntrustedState(f"OneHotEncoder's drop or infrequent settings do not fit its categories "
                             f"({type(exc).__name__}: {exc})"[:300]) from exc
    for name in ("drop_idx_", "_drop_idx_after_grouping"):
        if not _same(stored[name], getattr(enc, name)):
            raise UntrustedState(f"OneHotEncoder.{name} disagrees with its drop setting and categories")
    computed = enc._compute_n_features_outs()
    if not _same(stored["_n_features_outs"], computed):
        raise UntrustedState(f"OneHotEncoder._n_features_outs {stored['_n_features_outs']!r:.60} is not the "
                             f"{computed} its categories give")
    enc._n_features_outs = computed  # plain ints, whatever types stored values that compared equal had


#: Checks of decoded objects whose fitted state reaches compiled code, by trusted name.
_STATE_CHECKS = {
    "sklearn.preprocessing.OneHotEncoder": _check_one_hot,
}


def _is_trusted_object(obj) -> bool:
    return _OBJECTS.name_of(type(obj)) is not None


def _enc_object(obj, enc, path):
    enc.objects.append(obj)
    state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise TypeError(f"cannot store {path} ({_qualname(type(obj))}): its state is not a dict")
    # In name order: a pickled copy (a Dask or joblib worker's model) lists its attributes in
    # another order, and the same model stored other bytes and another model_sha256 (Dask audit,
    # session 50).
    return {"type": _OBJECTS.name_of(type(obj)),
            "state": [[k, enc(v, f"{path}.{k}")] for k, v in sorted(state.items(), key=lambda kv: str(kv[0]))]}


def _dec_object(payload, dec, ref):
    cls = _OBJECTS.cls_of(payload["type"])
    obj = cls.__new__(cls)
    dec.register(ref, obj)
    state = {}
    for k, v in payload["state"]:
        if not isinstance(k, str) or k.startswith("__"):
            raise UntrustedState(f"bad attribute name {k!r:.40} in {payload['type']}")
        state[k] = dec(v, f".{k}")
    if hasattr(obj, "__setstate__"):
        obj.__setstate__(state)
    else:
        obj.__dict__.update(state)
    check = _STATE_CHECKS.get(payload["type"])
    if check is not None:
        check(obj)
    dec.objects.append(obj)
    return obj


def _dec_float(payload, dec, ref):
    if payload not in ("nan", "inf", "-inf"):
        raise UntrustedState(f"not a float: {payload!r:.20}")
    return float(payload)


def _enc_type(obj, enc, path):
    name = _SCALAR_TYPES.name_of(obj)
    if name is None:
        raise TypeError(f"cannot store {path} (the class {_qualname(obj)}) as data")
    return name


#: The one registry: the first codec whose ``matches`` accepts a value encodes it.
CODECS: tuple = (
    Codec("$tuple", lambda o: type(o) is tuple, lambda o, e, p: [e(v, f"{p}[{i}]") for i, v in enumerate(o)],
          lambda v, d, r: tuple(d(x, f"[{i}]") for i, x in enumerate(v))),
    Codec("$set", lambda o: type(o) in (set, frozenset), lambda o, e, p: [e(v, p) for v in sorted(o, key=repr)],
          lambda v, d, r: {d(x) for x in v}),
    Codec("$map", _is_mapping, _enc_mapping, _dec_mapping, shared=True),
    Codec("$float", lambda o: False, None, _dec_float),  # non-finite floats (written by _Encoder)
    Codec("$slice", lambda o: type(o) is slice, lambda o, e, p: [e(o.start, p), e(o.stop, p), e(o.step, p)],
          lambda v, d, r: slice(*(d(x) for x in v))),
    Codec("$ndarray", lambda o: type(o) is np.ndarray, _enc_ndarray, _dec_ndarray),
    Codec("$scalar", lambda o: isinstance(o, np.generic), _enc_scalar, _dec_scalar),
    Codec("$dtype", lambda o: isinstance(o, np.dtype), _enc_dtype, _dec_dtype),
    Codec("$type", lambda o: isinstance(o, type), _enc_type, lambda v, d, r: _SCALAR_TYPES.cls_of(v)),
    Codec("$frame", lambda o: type(o) is pd.DataFrame, _enc_frame, _dec_frame),
    Codec("$series", lambda o: type(o) is pd.Series, _enc_series, _dec_series),
    Codec("$module", _is_module, _enc_module, _dec_module, shared=True),
    Codec("$tensor", _is_tensor, _enc_tensor, _dec_tensor),
    Codec("$lightgbm", _is_booster, _enc_booster, _dec_booster, shared=True),
    Codec("$object", _is_trusted_object, _enc_object, _dec_object, shared=True),
)
_BY_TAG = {c.tag: c for c in CODECS}


# --------------------------------------------------------------------------- arrays blob

def arrays_to_bytes(arrays: dict, metadata: dict | None = None) -> bytes:
    """The arrays as one safetensors blob (a JSON header and raw little-endian data);
    ``metadata`` (str -> str) goes into the header's ``__metadata__``."""
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)


def arrays_from_bytes(data: bytes) -> dict:
    """Read a safetensors blob (raw numbers only: nothing in it can run)."""
    from safetensors.numpy import load

    try:
        return load(data)
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise UntrustedState(f"not a safetensors file ({type(exc).__name__}: {exc})"[:300]) from exc


# --------------------------------------------------------------------------- a state in one blob

#: The ``__metadata__`` key of a state blob (:func:`state_to_bytes`): the JSON tree and texts.
STATE_METADATA_KEY = "fairkit_state"
#: Format of a state blob's metadata.
STATE_FORMAT = "fairkit-state/1"
#: The placeholder tensor of a state without arrays (:func:`state_to_bytes`); encoded arrays are
#: named by number, so it names none of them.
_NO_ARRAYS = "none"


def state_to_bytes(obj, path: str = "model") -> bytes:
    """``obj`` (:func:`encode_state`) as one safetensors blob: the arrays as tensors, the JSON
    tree and the text members (LightGBM models) in the header's metadata.

    What the result store keeps of a run's model: a file fairkit reads back with
    :func:`state_from_bytes`, which, like a bundle, builds only trusted types and runs nothing.

    Raises
    ------
    TypeError
        Some part of ``obj`` is not data and not of a trusted type (named by its path).
    """
    state = encode_state(obj, path)
    meta = json.dumps({"format": STATE_FORMAT, "tree": state.tree, "texts": state.texts}, allow_nan=False)
    # safetensors 0.4.0 (the declared floor) writes a header it cannot read back for metadata
    # without tensors: a state with no arrays carries one empty placeholder.
    return arrays_to_bytes(state.arrays or {_NO_ARRAYS: np.zeros(0, np.uint8)}, {STATE_METADATA_KEY: meta})


def state_from_bytes(data: bytes):
    """The object :func:`state_to_bytes` stored (:func:`decode_state`, bounded by ``len(data)``).

    Raises
    ------
    UntrustedState
        Not such a blob, or a state :func:`decode_state` refuses; the message says which.
    """
    arrays = arrays_from_bytes(data)  # checks the header's framing and every tensor's extent
    arrays.pop(_NO_ARRAYS, None)
    # safetensors' numpy reader drops the metadata: read it from the header it has just checked.
    size = int.from_bytes(data[:8], "little")
    try:
        meta = json.loads(data[8:8 + size])["__metadata__"][STATE_METADATA_KEY]
        stored = json.loads(meta)
        if not isinstance(stored, dict) or stored.get("format") != STATE_FORMAT:
            raise ValueError(f"format {stored.get('format') if isinstance(stored, dict) else None!r}")
        texts = stored["texts"]
        if not isinstance(texts, dict) or not all(isinstance(t, str) for t in texts.values()):
            raise ValueError("its texts are not strings")
        tree = stored["tree"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UntrustedState(f"not a fairkit state ({type(exc).__name__}: {exc})"[:300]) from exc
    return decode_state(tree, arrays, texts, stored_bytes=len(data))[0]
