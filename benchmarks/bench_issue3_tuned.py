"""Issue #3 with the benchmark's tuned network: a two-layer MLP (64, 32), 25 epochs, lr 3e-3.

Same comparison as ``bench_training.py --parts training`` (fairkit regularized + lagrangian vs
fairlearn ExponentiatedGradient(LogisticRegression) at 16 bounds, Adult, sensitive ``sex``,
split seed 0, seeds 0-2, validation-chosen and test-reported), with a finer regularized grid
around the DP <= 0.01 region. Run: ``python benchmarks/bench_issue3_tuned.py``.
"""

import pandas as pd
import torch

from fairkit.bench import compare_training, load_split, torch_params

if __name__ == "__main__":
    torch.set_num_threads(1)
    split = load_split("adult", sensitive=["sex"])
    params = torch_params(hidden_layer_sizes=(64, 32), lr=3e-3, max_epochs=25, batch_size=256)
    etas = {"regularized": [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
            "lagrangian": [2.0, 5.0, 10.0, 20.0, 40.0]}
    summary, runs = compare_training(split, seeds=(0, 1, 2), etas=etas, params=params)
    with pd.option_context("display.width", 180, "display.float_format", "{:.4f}".format):
        print(summary.to_string(index=False))
