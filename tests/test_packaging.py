"""fairkit as a user installs it: a wheel built from the source, installed into a fresh folder and
run from another one, with its dependencies declared, its samples inside and ``fairkit --version``;
and the sweep's exit status when it cannot write frontier.png."""

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

# 80 s on the shared two-core machine (22 s of CPU: a wheel build and four fresh interpreters,
# three of them importing torch). The slow mark labels it; the default run (and ./fk test) still runs it.
pytestmark = pytest.mark.slow


def _requirements(path: Path) -> set[str]:
    """The requirement lines of a pip requirements file (comments and ``-r`` includes skipped)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {str(Requirement(line)) for line in lines if line and not line.startswith("-")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel and the folder it was installed into (``pip install --target``)."""
    tmp = tmp_path_factory.mktemp("packaging")
    # A copy of exactly what the build reads, so the build leaves nothing in the checkout and a
    # file the wheel needs but pyproject does not declare cannot come from the source tree.
    src = tmp / "src"
    shutil.copytree(ROOT / "fairkit", src / "fairkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    # No build isolation: setuptools comes from this environment, so no network is needed.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(src)], check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("fairkit-*.whl")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, cwd=tmp)
    return wheel, site


def _run(site: Path, cwd: Path, *args, env=None):
    # The environment's other packages (torch, pandas, ...) stay importable; fairkit itself must
    # come from the install folder, which the first PYTHONPATH entry puts ahead of the checkout.
    env = {**os.environ, "PYTHONPATH": str(site), **(env or {})}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_wheel_declares_the_dependencies_and_carries_the_samples(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(meta_name).decode())
    requires = {str(Requirement(r)) for r in meta.get_all("Requires-Dist")}
    assert "torch==2.13.0" in requires
    # pyproject declares what requirements.txt installs: the same packages and ranges.
    assert requires == _requirements(ROOT / "requirements.txt")
    assert {"fairkit/py.typed", "fairkit/data/README.md", "fairkit/data/adult.csv.gz",
            "fairkit/data/compas.csv.gz", "fairkit/data/german.csv.gz"} <= names
    assert {n.split("/")[0] for n in names} == {"fairkit", meta_name.split("/")[0]}
    # The licence pyproject declares travels with its text (the MIT licence asks for the notice).
    assert meta["License-Expression"] == "MIT"
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    with zipfile.ZipFile(wheel) as zf:
        assert "Permission is hereby granted" in zf.read(licence).decode()


def test_installed_wheel_runs_a_sweep_from_another_folder(installed, tmp_path):
    _, site = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = _run(site, elsewhere, str(site / "bin" / "fairkit"), "--version")
    assert version.returncode == 0, version.stderr
    import fairkit

    assert version.stdout.strip().startswith(f"fairkit {fairkit.__version__} from {site / 'fairkit'} ")
    # README shows the same line for the version it documents (it read 0.3.1 under 0.3.3).
    assert f"fairkit --version                # fairkit {fairkit.__version__} from " in (ROOT / "README.md").read_text()

    out = tmp_path / "out"
    sweep = _run(site, elsewhere, sys.executable, "-m", "fairkit", "sweep", "--dataset", "german",
                 "--methods", "unconstrained", "--out", str(out))
    assert sweep.returncode == 0, sweep.stderr
    assert f"Wrote {out / 'results.csv'}, {out / 'sweep.json'}, {out / 'frontier.html'}, {out / 'frontier.png'}\n" in sweep.stdout
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(elsewhere.iterdir())

    # No browser for kaleido (BROWSER_PATH at nothing, and no kaleido download under an empty
    # data home): the runs come from the store, the PNG is not written, and the sweep says so.
    (out / "frontier.png").unlink()
    no_browser = {"BROWSER_PATH": str(tmp_path / "no-chromium"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    sweep = _run(site, elsewhere, sys.executable, "-m", "fairkit", "sweep", "--dataset", "german",
                 "--methods", "unconstrained", "--out", str(out), env=no_browser)
    assert sweep.returncode == 3, sweep.stderr
    wrote = next(line for line in sweep.stdout.splitlines() if line.startswith("Wrote "))
    assert wrote.startswith(f"Wrote {out / 'results.csv'}, {out / 'sweep.json'}, {out / 'frontier.html'}; PNG not written: "
                            "no Chrome or Chromium for kaleido")
    assert "1 from the store" in sweep.stdout and "PNG not written" not in sweep.stderr
    assert not (out / "frontier.png").exists()

    skip = _run(site, elsewhere, sys.executable, "-m", "fairkit", "sweep", "--dataset", "german",
                "--methods", "unconstrained", "--out", str(out), "--no-png", env=no_browser)
    assert skip.returncode == 0, skip.stderr
    assert f"Wrote {out / 'results.csv'}, {out / 'sweep.json'}, {out / 'frontier.html'}\n" in skip.stdout


def _formats() -> tuple:
    """What an installed fairkit stores and reads back."""
    import hashlib

    from fairkit.audit import _SCHEMA
    from fairkit.export import FORMAT_VERSION
    from fairkit.safestate import STATE_FORMAT
    from fairkit.store import RESULTS_REVISION, RUN_FORMAT

    schema = hashlib.sha256(" ".join(_SCHEMA.split()).encode()).hexdigest()[:16]
    return RESULTS_REVISION, FORMAT_VERSION, RUN_FORMAT, STATE_FORMAT, schema


#: Each version's stored formats (results revision, bundle format, run format, model-state format,
#: the audit log's schema). A change to any of them is a new version: pip upgrades an installed
#: fairkit only to a higher one (upgrade audit, session 48: "0.1.0" through every format change).
RELEASES = {
    "0.2.0": (9, 2, "fairkit-run/3", "fairkit-state/1", "f73943e0233d20b1"),
    "0.3.0": (10, 2, "fairkit-run/3", "fairkit-state/1", "f73943e0233d20b1"),
    "0.3.1": (11, 2, "fairkit-run/3", "fairkit-state/1", "f73943e0233d20b1"),
    "0.3.2": (12, 2, "fairkit-run/3", "fairkit-state/1", "f73943e0233d20b1"),
    "0.3.3": (13, 2, "fairkit-run/3", "fairkit-state/1", "f73943e0233d20b1"),
}


def test_a_change_to_what_fairkit_stores_comes_with_a_new_version():
    import fairkit

    assert fairkit.__version__ in RELEASES, "add the new version's formats to RELEASES"
    assert RELEASES[fairkit.__version__] == _formats(), (
        "a stored format changed: raise fairkit.__version__ and add the new version to RELEASES "
        "(pip does not upgrade to the same version)")
