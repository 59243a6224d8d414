"""Shared fixtures: small synthetic biased data and a tiny split, fast on two cores."""

import os

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

# Two cores are shared by the test process, joblib workers and browsers: one torch thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(items):
    # The floors run first, then the other slow tests (a stable sort: the others keep their
    # order). ./fk test hands the files to its workers in this order (--no-loadscope-reorder:
    # by default pytest-xdist orders files by how many tests they hold, which put the floors
    # run's two tests, a quarter of the suite's time in one test, last: it started 11 minutes
    # into a 21-minute run and the other worker sat idle while it finished, session 50).
    items.sort(key=lambda item: (item.nodeid.split("::")[0] != "tests/test_floors.py",
                                 item.get_closest_marker("slow") is None))


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # OMP_NUM_THREADS above only helps if torch was not imported yet. Tiny matmuls on a shared
    # two-core machine are many times slower with two intra-op threads waiting on each other;
    # the estimators never touch this setting, so it is restored after each module.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _fairkit_home(tmp_path_factory):
    # Sweeps and scores append to the audit log in FAIRKIT_HOME (default ./.fairkit): keep what
    # tests write out of the working tree. Tests that need their own home set it per test.
    patch = pytest.MonkeyPatch()
    patch.setenv("FAIRKIT_HOME", str(tmp_path_factory.mktemp("fairkit_home")))
    yield
    patch.undo()


def make_biased_frame(n=600, seed=0):
    """A table where the outcome depends on x and, through a proxy, on the group."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    race = rng.choice(["A", "B"], n, p=[0.7, 0.3])
    x1 = rng.normal(size=n) + (sex == "M") * 0.8
    x2 = rng.normal(size=n)
    cat = rng.choice(["u", "v", "w"], n)
    logit = 1.2 * x1 + 0.5 * x2 - 0.3 + (race == "A") * 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"sex": sex, "race": race, "x1": x1, "x2": x2, "cat": cat, "y": y})


@pytest.fixture(scope="session")
def biased_frame():
    return make_biased_frame()


@pytest.fixture(scope="session")
def tiny_split(biased_frame):
    from fairkit.data import DatasetSpec
    from fairkit.split import split_dataset

    spec = DatasetSpec(target="y", positive_label=1, sensitive=["sex"], name="synthetic")
    return split_dataset(biased_frame, spec, seed=0)


FAST = {"max_epochs": 3, "hidden_layer_sizes": (), "batch_size": 128}
FAST_PARAMS = {m: FAST for m in ("unconstrained", "regularized", "lagrangian", "adversarial", "forml")}
# The post-processors threshold boosted trees: a few trees.
FAST_PARAMS["threshold"] = FAST_PARAMS["inferred_threshold"] = {"base_params": {"n_estimators": 10}}


@pytest.fixture(scope="session")
def fast_params():
    return {k: dict(v) for k, v in FAST_PARAMS.items()}


def _miscalibrated(n, seed, temperature=3.0):
    """True logits z; group "a" reports T * z (over-confident), group "b" reports z."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    z = rng.normal(0.0, 1.5, n)
    y = rng.binomial(1, expit(z))
    z_obs = np.where(g == "a", temperature * z, z)
    return expit(z_obs), y, g, z_obs


@pytest.fixture(scope="session")
def miscalibrated():
    """Factory ``(n, seed, temperature=3.0) -> (p, y, g, z_obs)``: group "a" over-confident."""
    return _miscalibrated


@pytest.fixture(scope="module")
def miscal():
    """``(fit, evaluation)`` draws of :func:`_miscalibrated` (4000 and 20000 rows)."""
    return _miscalibrated(4000, 0), _miscalibrated(20000, 1)
