"""The declared lower bounds run: requirements-floors.txt pins every ``>=`` of requirements.txt,
an environment with exactly those versions is built (``.venv-floors`` in the checkout, rebuilt
when the file changes) and the engine's and the dashboard's tests run in it.

Why: requirements.txt allowed numpy 1.26 while the split needed numpy 2 (issue 21), and the first
run of this test found six more floors nothing had run: scikit-learn 1.5 lacks ``validate_data``
(1.6's ColumnTransformer keeps a list type no bundle may store), joblib 1.3 the unordered
generator of the parallel sweep, Optuna 4.0 the file lock's grace period, fpdf2 2.7.0 the table
padding of the record, Streamlit 1.40 ``st.user`` and the tables' ``alt`` text (1.65), and three
more str + str array joins numpy 1.26 refuses.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ROOT / "requirements-floors.txt"
VENV = ROOT / ".venv-floors"

#: The tests run on the floors: the engine's and the dashboard's, without the scikit-learn
#: conformance checks (their test helpers change between scikit-learn releases: ``xfail_strict``
#: is newer than the floor; they run in the main suite) and the browser and packaging tests
#: (the same code paths, tested in the main suite).
FLOOR_TESTS = [
    "tests/estimators/test_boosting.py", "tests/estimators/test_regularized.py",
    "tests/estimators/test_lagrangian.py", "tests/estimators/test_batched.py",
    "tests/estimators/test_calibrated.py", "tests/estimators/test_reductions.py",
    "tests/estimators/test_sparse.py", "tests/test_split.py", "tests/test_groups.py", "tests/test_stats.py",
    "tests/test_metrics.py", "tests/test_sweep.py", "tests/test_export.py", "tests/test_calibration.py",
    "tests/test_search.py", "tests/test_frontier.py", "tests/test_data.py", "tests/test_store.py",
    "tests/test_methods.py", "tests/app",
]

pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def test_every_declared_lower_bound_is_pinned_in_the_floors_file():
    pins = {}
    for req in _lines(FLOORS):
        (spec,) = [s for s in req.specifier if s.operator == "=="] or [None]
        if spec is not None:
            pins[req.name.lower()] = (spec.version, req.extras)
    declared = _lines(ROOT / "requirements.txt")
    assert declared, "requirements.txt lists nothing"
    for req in declared:
        floor = [s.version for s in req.specifier if s.operator in (">=", "==")]
        assert floor, f"{req} declares no lower bound"
        assert req.name.lower() in pins, f"{req.name} is not pinned in {FLOORS.name}"
        assert (Version(pins[req.name.lower()][0]), pins[req.name.lower()][1]) == (Version(floor[0]), req.extras), (
            f"{FLOORS.name} pins {req.name}=={pins[req.name.lower()][0]}, requirements.txt's floor is {floor[0]}")


def _environment() -> Path:
    """``.venv-floors`` with exactly the pinned versions (rebuilt when the floors file changes)."""
    want = hashlib.sha256(FLOORS.read_bytes()).hexdigest()[:16]
    stamp = VENV / ".floors.sha"
    python = VENV / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Wheels only: a floor that would have to compile here is not a floor a user gets either.
    # --no-compile: pip byte-compiled every module of every package (torch's thousands), 70 s of
    # the build against 27 s without on this machine; the run compiles the few it imports.
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-compile", "--only-binary", ":all:", "-r", str(FLOORS)], capture_output=True, text=True)
    assert done.returncode == 0, f"the declared floors do not install together:\n{done.stderr[-3000:]}"
    stamp.write_text(want)
    return python


def test_the_tests_pass_on_the_declared_lower_bounds():
    python = _environment()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # fairkit from this checkout, its dependencies at the floors
    env.pop("PYTEST_ADDOPTS", None)
    # Without the slow ones (coverage simulations, several processes, large tables: their code
    # paths run in the faster tests too): the floors run was a third of the suite's time.
    run = subprocess.run([str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-k", "not sklearn",
                          "-m", "not slow", *FLOOR_TESTS], cwd=ROOT, env=env, capture_output=True, text=True)
    versions = subprocess.run([str(python), "-c", "import numpy, pandas, sklearn, streamlit; print(numpy.__version__, "
                               "pandas.__version__, sklearn.__version__, streamlit.__version__)"],
                              capture_output=True, text=True).stdout.split()
    floors = {r.name.lower(): str(r.specifier).lstrip("=") for r in _lines(FLOORS)}
    assert versions == [floors["numpy"], floors["pandas"], floors["scikit-learn"], floors["streamlit"]]
    assert run.returncode == 0, f"on the declared floors:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
