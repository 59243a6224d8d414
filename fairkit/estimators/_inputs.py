"""Input handling shared by every estimator, free of any method's dependencies.

The torch training loop and the wrappers expand sparse tables here; it lived in the fairlearn
wrapper's module, so the one training loop depended on that wrapper.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse

# The largest table (rows x columns) a sparse ``X`` is expanded to where a method needs it dense
# is the split's own limit: one figure for both.
from fairkit.data import MAX_DENSE_CELLS


def check_fit_weights(sample_weight, X, y_enc) -> np.ndarray:
    """Every estimator's ``sample_weight`` at fit: the reports' own check
    (:func:`fairkit.stats.check_sample_weight`: one finite weight of at least 0 per row of
    ``X``, some positive; a number is every row's weight), ones when None, and both classes of
    ``y_enc`` (0/1) carrying weight, the one rule only a fit needs. The families checked weights
    three ways, with three messages, and the calibrated classifier took weights on one class
    only (weights audit, session 51); the reports and the estimators then said the same fault
    two ways (one-implementation audit, session 53)."""
    from sklearn.utils.validation import _num_samples

    from fairkit.stats import check_sample_weight

    n = _num_samples(X)
    sw = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n, "X")
    if len(np.unique(np.asarray(y_enc)[sw > 0])) < 2:
        raise ValueError("only one class has a positive sample_weight; a classifier needs two classes")
    return sw


def densify(X, max_cells: int | None = None):
    """``X`` as a dense array when it is a scipy.sparse matrix, refusing tables too large.

    The one place a sparse table is expanded: by the torch estimators' training (their
    mini-batches and weight gradients are dense products) and by the wrappers where fairlearn
    or a base estimator needs dense input. Anything else is returned unchanged.

    Parameters
    ----------
    X : sparse matrix or array, or array-like
    max_cells : int, optional
        The limit; :data:`MAX_DENSE_CELLS` when not given.

    Returns
    -------
    ndarray or X unchanged

    Raises
    ------
    ValueError
        When the dense table would hold more than ``max_cells`` cells; the message names the
        shape and what to do.
    """
    if not sparse.issparse(X):
        return X
    n, d = X.shape
    max_cells = MAX_DENSE_CELLS if max_cells is None else max_cells
    if n * d > max_cells:
        raise ValueError(
            f"this method needs the sparse X ({n:,} rows x {d:,} columns, "
            f"{X.nnz:,} non-zeros) as a dense table of {n * d:,} cells, over the limit of "
            f"{max_cells:,}. Reduce the columns (OneHotEncoder(max_categories=..., "
            "min_frequency=...) or feature selection), train on fewer rows, or use a method "
            "that reads sparse input as it is (boosting, or ThresholdPostProcessor / "
            "CalibratedGroupClassifier around a base estimator that accepts sparse X)."
        )
    return X.toarray()


# --------------------------------------------------------------------------- row-wise draws

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _entry_hashes(values: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    with np.errstate(over="ignore"):
        salt = cols.astype(np.uint64) + np.uint64(seed & 0xFFFFFFFF) * _GOLDEN
    return _mix(bits ^ _mix(salt))


def row_uniforms(X, seed: int = 0) -> np.ndarray:
    """A number in [0, 1) per row, a deterministic function of the row's values and ``seed``.

    Every randomized rule is resolved with these instead of a generator's stream (the threshold
    post-processors' randomized thresholds, ``ReductionsWrapper``'s randomized mixture), so a
    row's decision does not depend on its position in the batch or on the other rows. Each non-zero
    entry is hashed with its column (splitmix64) and the hashes summed, so a sparse row and its
    dense copy draw the same number; a table that is not numeric is hashed by pandas.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
    seed : int, default=0

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    seed = int(seed)
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
        X.sum_duplicates()
        keep = X.data != 0
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[keep]
        h = _entry_hashes(X.data[keep], X.indices[keep], seed)
        total = np.zeros(X.shape[0], dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.add.at(total, rows, h)
    else:
        try:
            A = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):  # strings or categories: pandas' own row hash
            frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
            total = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
        else:
            A = A.reshape(A.shape[0], -1)
            total = np.zeros(A.shape[0], dtype=np.uint64)
            for j in range(A.shape[1]):  # one column at a time: no (n, p) uint64 copy
                col = A[:, j]
                h = _entry_hashes(col, np.full(len(col), j), seed)
                with np.errstate(over="ignore"):
                    total += np.where(col != 0, h, np.uint64(0))
    u = _mix(total ^ _mix(np.uint64(seed & 0xFFFFFFFF) + np.zeros(1, dtype=np.uint64)))
    return (u >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def warn_no_groups(est, sensitive_given: bool, strength: str = "eta > 0", stacklevel: int = 3,
                   found: str | None = None) -> None:
    """Warn that ``est`` was asked for fairness (``strength``) but has fewer than two groups.

    Forgetting ``sensitive_features=`` (in a Pipeline without routing, the easiest slip) or
    passing one group fits a plain model: every fair estimator says so with this one warning,
    once per fit, rather than return an unconstrained model without a word.

    Parameters
    ----------
    est : estimator
        The estimator being fitted (named in the message).
    sensitive_given : bool
        Whether ``sensitive_features`` (or ``sensitive_feature_names``) gave any groups.
    strength : str, default="eta > 0"
        What asked for fairness, as the message names it.
    stacklevel : int, default=3
        As in :func:`warnings.warn`, counted from the caller.
    found : str, optional
        What was found instead, when neither "no sensitive_features" nor "a single group" says it
        (groups too small to keep apart, pooled into one).
    """
    found = found or ("sensitive_features hold a single group" if sensitive_given
                      else "no sensitive_features were passed to fit")
    warnings.warn(
        f"{type(est).__name__} has {strength} but {found}, so there are no groups to compare and the "
        "model is trained unconstrained. Pass sensitive_features= with at least two groups to fit (in a "
        "Pipeline: set_fit_request(sensitive_features=True) with metadata routing enabled, or "
        "sensitive_feature_names= naming the column(s) of X), or ask for no fairness (eta=0) for a plain model.",
        UserWarning, stacklevel=stacklevel + 1)


def check_fit_groups(est, sensitive, asked: bool, *, labels=None, strength: str = "eta > 0",
                     stacklevel: int = 3) -> int:
    """The one check of the groups a fair estimator is fitted on; returns how many there are.

    Warns when rows have no sensitive value (:func:`warn_missing_groups`) and, when fairness
    was ``asked`` for, when there are fewer than two groups to compare (:func:`warn_no_groups`).
    Groups are the distinct values of :func:`fairkit.groups.group_labels` (the intersection of
    the columns, missing values one group of their own), counted by pandas once.

    Parameters
    ----------
    est : estimator
        The estimator being fitted (named in the messages).
    sensitive : DataFrame, Series, array-like or None
        The sensitive features as given to ``fit``.
    asked : bool
        Whether a fairness strength above 0 was asked for.
    labels : array-like, optional
        ``group_labels(sensitive)`` when the caller has them already.
    strength : str, default="eta > 0"
        What asked for fairness, as the message names it.
    stacklevel : int, default=3
        As in :func:`warnings.warn`, counted from the caller.

    Returns
    -------
    int
        The number of distinct groups (0 without sensitive features).
    """
    warn_missing_groups(est, sensitive, stacklevel=stacklevel + 1)
    if sensitive is None:
        n_groups = 0
    else:
        if labels is None:
            from fairkit.groups import group_labels

            labels = group_labels(sensitive)
        n_groups = len(pd.unique(np.asarray(labels, dtype=object)))
    if asked and n_groups < 2:
        warn_no_groups(est, sensitive is not None, strength=strength, stacklevel=stacklevel + 1)
    return n_groups


def weight_keyword(est, name: str = "sample_weight") -> str:
    """The keyword under which ``est.fit`` takes row weights.

    A :class:`~sklearn.pipeline.Pipeline` without metadata routing refuses a bare
    ``sample_weight`` ("Pipeline.fit does not accept the sample_weight parameter") and takes it
    as ``<last step>__sample_weight``: the wrappers that fit a base model hand weights over that
    way, as a user would, so a Pipeline base takes them with routing off as well as on. Any
    other ``name`` is the caller's explicit choice (fairlearn's ``sample_weight_name``) and is
    kept.

    Parameters
    ----------
    est : estimator
    name : str, default="sample_weight"
        The keyword asked for; only the default is resolved for a Pipeline.

    Returns
    -------
    str
    """
    if name == "sample_weight":
        from sklearn import get_config
        from sklearn.pipeline import Pipeline

        if isinstance(est, Pipeline) and not get_config().get("enable_metadata_routing"):
            return f"{est.steps[-1][0]}__sample_weight"
    return name


def fit_weighted(est, X, y, sample_weight=None, *, weight_name: str = "sample_weight", **fit_params):
    """``est.fit(X, y, **fit_params)`` with the row weights given as ``est`` takes them.

    Parameters
    ----------
    est : estimator
        Unfitted (it is fitted in place).
    X, y
        Training data.
    sample_weight : array-like of shape (n_samples,), optional
    weight_name : str, default="sample_weight"
        The keyword asked for, resolved by :func:`weight_keyword` (a Pipeline's last step).
    **fit_params
        Other keywords for ``fit``.

    Returns
    -------
    estimator
        ``est``, fitted.
    """
    if sample_weight is not None:
        fit_params[weight_keyword(est, weight_name)] = sample_weight
    return est.fit(X, y, **fit_params)


def warn_missing_groups(est, sensitive, stacklevel: int = 3) -> None:
    """Warn when rows of ``sensitive`` have no value: they form a group of their own.

    fairkit keeps such rows (``"(missing)"``, :func:`fairkit.groups.group_labels`) where
    fairlearn refuses them; the group then takes part in the fairness term or thresholds like
    any other, which a user who meant a blank as "unknown" should be told.

    Parameters
    ----------
    est : estimator
        The estimator being fitted (named in the message).
    sensitive : DataFrame, Series, array-like or None
    stacklevel : int, default=3
        As in :func:`warnings.warn`, counted from the caller.
    """
    if sensitive is None:
        return
    frame = sensitive if isinstance(sensitive, pd.DataFrame) else pd.DataFrame(np.asarray(sensitive, dtype=object))
    missing = int(frame.isna().any(axis=1).sum())
    if missing:
        warnings.warn(
            f"{type(est).__name__}: {missing:,} row(s) have no value in sensitive_features; they form a group of "
            "their own, '(missing)', which the fairness term and the group thresholds treat like any other. "
            "Fill them in, or leave those rows out, if that is not meant.", UserWarning, stacklevel=stacklevel + 1)
