"""Shared fixtures: small synthetic biased data and a tiny split, fast on two cores."""

import os

import numpy as np
import pandas as pd
import pytest

# Two cores are shared by the test process, joblib workers and browsers: one torch thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")


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
FAST_PARAMS = {m: FAST for m in ("unconstrained", "regularized", "lagrangian", "adversarial")}
FAST_PARAMS["threshold"] = {"base_params": FAST}


@pytest.fixture(scope="session")
def fast_params():
    return {k: dict(v) for k, v in FAST_PARAMS.items()}
