"""fairkit's benchmarks: fairkit against plain fairlearn baselines, measured side by side.

Not part of the installed ``fairkit`` package: run them from the project root.

* ``python -m benchmarks`` (:mod:`benchmarks.__main__`): the comparisons, chosen with ``--parts``:
  ``training`` (:mod:`benchmarks.training`), ``reductions`` (:mod:`benchmarks.reductions`),
  ``frontier`` (:mod:`benchmarks.frontier`), ``speed`` and ``scale`` (:mod:`benchmarks.speed`),
  ``training-tuned``.
* ``python -m benchmarks.calibration``: group calibration of a deliberately miscalibrated group.
* ``python -m benchmarks.dashboard``: the dashboard's responsiveness.

:mod:`benchmarks.common` holds what they share (data, the runs of both families, summaries,
table output). The measures of a front (Pareto front, hypervolume, "accuracy at DP <= b") are
the engine's, from :mod:`fairkit.frontier`. Tables, commands and history: ``benchmarks/README.md``.
"""
