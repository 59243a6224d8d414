"""The last outputs of fitted models, remembered by table content.

The models of one ``fit_etas`` call share their base, and a sweep scores all of them on the same
validation and test rows, which would otherwise predict with the same trees once per eta
(measured on Adult: an 8-eta sweep spent more time scoring than fitting). A model that already
knows its output on its training rows (boosted trees keep their training scores) hands it over
with :func:`remember_output`, so thresholds fitted on the training scores cost no second pass
over the training table.
"""

from __future__ import annotations

import hashlib
import weakref

import numpy as np
from scipy import sparse

__all__ = ["memoized_output", "remember_output", "forget_outputs"]

# est -> {key: (fingerprint, output)}: one table per kind of output (a threshold rule reads its
# base's scores, the base its raw margins). Weak keys: a model's entries go with the model.
_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _fingerprint(X) -> bytes | None:
    """A digest of a table's contents (None for a table it cannot read as bytes: no memo)."""
    # SHA-256: collision-proof for any table a user brings, and the quickest such digest here
    # (CPU instructions: 13 ms for Adult's 23 MB training table, BLAKE2b 25 ms).
    h = hashlib.sha256()
    h.update(repr((type(X).__name__, X.shape, str(getattr(X, "dtype", "")))).encode())
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
        parts = [X.data, X.indices, X.indptr]
    elif isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        parts = [X]
    else:
        return None
    for part in parts:
        h.update(np.ascontiguousarray(part).view(np.uint8))
    return h.digest()


def _store(est, key, fp, value) -> np.ndarray:
    value = np.asarray(value)
    value.setflags(write=False)
    try:
        _MEMO.setdefault(est, {})[key] = (fp, value)
    except TypeError:  # not weakly referenceable: nothing remembered
        pass
    return value


def memoized_output(est, key, X, compute) -> np.ndarray:
    """``compute()``, the output ``key`` of the fitted model ``est`` on ``X``, remembered for the
    last table ``est`` scored with that key (matched by content, so a table changed in place is
    scored again). The result is read-only."""
    fp = _fingerprint(X)
    if fp is None:
        return compute()
    try:
        hit = _MEMO.get(est, {}).get(key)
    except TypeError:  # not weakly referenceable
        return compute()
    if hit is not None and hit[0] == fp:
        return hit[1]
    return _store(est, key, fp, compute())


def remember_output(est, key, X, value) -> None:
    """Record ``value`` as the output ``key`` of ``est`` on ``X`` (a model that computed it while
    fitting, e.g. boosted trees' training scores)."""
    fp = _fingerprint(X)
    if fp is not None:
        _store(est, key, fp, value)


def forget_outputs(est) -> None:
    """Drop everything remembered for ``est`` (it is being refitted)."""
    try:
        _MEMO.pop(est, None)
    except TypeError:
        pass
