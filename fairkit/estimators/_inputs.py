"""Input handling shared by every estimator, free of any method's dependencies.

The torch training loop and the wrappers expand sparse tables here; it lived in the fairlearn
wrapper's module, so the one training loop depended on that wrapper.
"""

from __future__ import annotations

from scipy import sparse

#: Largest table (rows x columns) a sparse ``X`` is expanded to where a method needs it dense:
#: 2e8 cells are 1.6 GB of float64 (0.8 GB as the networks' float32 copy).
MAX_DENSE_CELLS = 200_000_000


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
