"""Hostile input on the command line (issue 18): every case ends with a named message and exit 2.

Each case checks the exit code, the message (it names the argument, column or value) and that
no traceback reached the user. Cases that get past the arguments run ``python -m fairkit ...``
in a fresh process on tiny data made here; cases refused while the arguments are read run
``main`` in this process (the same code, without a 5 s interpreter start each), and one of them
runs as a process too.
Bad data files themselves (binary junk, inf, too few rows, ...) are covered with ``read_table``
and ``validate`` in tests/test_data.py.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.timeout(120)

# Nothing listens on port 1 here; a just-freed random port could be taken by another process first.
CLOSED = "tcp://127.0.0.1:1"

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def fairkit(*argv, cwd, timeout=90):
    return subprocess.run([sys.executable, "-m", "fairkit", *map(str, argv)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def assert_refused(proc, *names):
    """Exit 2, every name in the message, and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-2000:]
    for name in names:
        assert name in proc.stderr, (name, proc.stderr[-2000:])


def in_process(argv, cwd, monkeypatch, capsys):
    """``main(argv)`` run from ``cwd``, as a finished process would report it."""
    from fairkit.__main__ import main

    monkeypatch.chdir(cwd)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


@pytest.fixture(scope="module")
def work(tmp_path_factory, biased_frame):
    # The shared fixture, not `from conftest import`: which conftest that name finds depends on
    # which test folders the run collected (tests/estimators has its own).
    folder = tmp_path_factory.mktemp("hostile")
    biased_frame.head(200).to_csv(folder / "t.csv", index=False)
    return folder


SWEEP = ["sweep", "--csv", "t.csv", "--target", "y", "--positive", "1", "--sensitive", "sex",
         "--methods", "regularized", "--no-png"]


@pytest.mark.parametrize("extra, names", [
    (["--sensitive", "sex,sex", "--out", "o"], ["argument --sensitive", "sex given more than once"]),
    (["--csv", ".", "--out", "o"], ["argument --csv", "is a folder"]),
    (["--seeds", "-1", "--out", "o"], ["argument --seeds", "'-1'", "from 0 to"]),
    (["--seeds", "0,0", "--out", "o"], ["argument --seeds", "repeats a seed"]),
    (["--etas", "nan", "--out", "o"], ["Method 'regularized'", "takes eta in", "got nan"]),  # the registry's check
    (["--etas", "-5", "--out", "o"], ["Method 'regularized'", "got -5"]),
    (["--etas", "1,x", "--out", "o"], ["argument --etas", "Could not read"]),
    (["--out", "/proc/fairkit-hostile/out"], ["argument --out", "cannot write in /proc", "choose a folder"]),
    (["--out", "t.csv"], ["argument --out", "is a file, not a folder"]),
    (["--jobs", "0", "--out", "o"], ["argument --jobs", "'0'", "1 or more"]),
    (["--n-etas", "-3", "--out", "o"], ["argument --n-etas", "'-3'", "at least 2"]),
    (["--scheduler", "tpc://127.0.0.1:8786", "--out", "o"], ["argument --scheduler", "tcp://HOST:PORT"]),
])
def test_sweep_arguments(work, extra, names, monkeypatch, capsys):
    assert_refused(in_process(SWEEP + extra, work, monkeypatch, capsys), *names)


def test_refused_arguments_as_a_process(work):
    assert_refused(fairkit(*SWEEP, "--sensitive", "sex,sex", "--out", "o", cwd=work),
                   "argument --sensitive", "sex given more than once")
    assert_refused(fairkit(*SWEEP, "--etas", "nan", "--out", "o", cwd=work), "got nan")


def test_unreachable_scheduler(work):
    address = CLOSED
    proc = fairkit(*SWEEP, "--scheduler", address, "--dask-timeout", "2", "--out", "o", cwd=work)
    assert_refused(proc, f"Cannot reach the Dask scheduler at {address}", "leave the scheduler out")


def test_scheduler_without_workers(work):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        proc = fairkit(*SWEEP, "--scheduler", cluster.scheduler_address, "--dask-timeout", "2", "--out", "o",
                       cwd=work)
    assert_refused(proc, f"The Dask scheduler at {cluster.scheduler_address} has no workers", "dask worker")


@pytest.mark.parametrize("extra, names", [
    (["--threshold", "5"], ["argument --threshold", "'5'", "between 0 and 1"]),
    (["--threshold", "nan"], ["argument --threshold", "'nan'"]),
    (["--n-boot", "0"], ["argument --n-boot", "'0'", "at least 50"]),
    (["--out", "/proc/b.zip"], ["argument --out", "cannot write in /proc"]),
    (["--out", "/nonexistent-fairkit/b.zip"], ["argument --out", "does not exist"]),
])
def test_export_arguments(work, extra, names, monkeypatch, capsys):
    proc = in_process(["export", "--store", "o", "--run", "r", "--rationale", "r", "--decider", "d",
                       "--out", "b.zip", *extra], work, monkeypatch, capsys)
    assert_refused(proc, *names)


@pytest.fixture(scope="module")
def bundle(work, tiny_split, fast_params):
    from fairkit.export import DecisionRecord, export_bundle
    from fairkit.sweep import run_sweep

    res = run_sweep(tiny_split, ["unconstrained"], params=fast_params)
    row = res.results.iloc[0].to_dict()
    path = work / "b.zip"
    export_bundle(path, model=res.model(row["run_id"]), split=tiny_split, run=row, n_boot=0,
                  record=DecisionRecord(purpose="p", rationale="r", decider="d"))
    return path


def test_score_text_in_a_numeric_column(work, bundle, biased_frame):
    bad = biased_frame.head(50).astype({"x1": object})
    bad.loc[7, "x1"] = "twelve"
    bad.to_csv(work / "text.csv", index=False)
    proc = fairkit("score", "--bundle", bundle, "--csv", "text.csv", "--out", "s.csv", cwd=work)
    assert_refused(proc, "column x1 has text in 1 row(s)", "'twelve' in data row 8", "fix those cells")


@pytest.mark.parametrize("value, said", [
    (float("inf"), ("column x2 has an infinite or too large value", "cannot be scaled", "data row 4")),
    (1e308, ("column x2 has an infinite or too large value", "cannot be scaled", "data row 4")),
    (3.5e38, ("1 row(s) hold a value so far beyond the range", "data row 4, whose largest value is column x2 = 3.5e+38")),
])
def test_score_infinite_or_too_large_value(work, bundle, biased_frame, value, said):
    """A finite 1e308 was an internal error, exit 1, where the validator refuses it; 3.5e38,
    within the reader's limit, overflowed the model's float32 input into one as well
    (hostile-input audit, session 52)."""
    bad = biased_frame.head(50).copy()
    bad.loc[3, "x2"] = value
    bad.to_csv(work / "inf.csv", index=False)
    proc = fairkit("score", "--bundle", bundle, "--csv", "inf.csv", "--out", "s.csv", cwd=work)
    assert_refused(proc, *said)
    assert "Warning" not in proc.stderr and not (work / "s.csv").exists()


def test_score_out_in_a_missing_folder(work, bundle, monkeypatch, capsys):
    proc = in_process(["score", "--bundle", bundle, "--csv", "t.csv", "--out", "no/such/folder/s.csv"],
                      work, monkeypatch, capsys)
    assert_refused(proc, "argument --out", "folder", "does not exist", "create it")


def test_score_bundle_is_a_folder(work, monkeypatch, capsys):
    proc = in_process(["score", "--bundle", ".", "--csv", "t.csv", "--out", "s.csv"], work, monkeypatch, capsys)
    assert_refused(proc, "argument --bundle", "is a folder")


def test_an_unexpected_failure_is_one_plain_line(monkeypatch, capsys):
    """A bug still ends without a traceback: one line, exit 1, and what to report."""
    import fairkit.__main__ as cli

    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_datasets", broken)
    assert cli.main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("fairkit: internal error: ZeroDivisionError: division by zero; "
                           "please report it with the command you ran")


def test_dashboard_listens_on_localhost_only():
    """No login of its own: the dashboard's config binds it to this machine (README: serving it to a team)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True


# --------------------------------------------------------------------------- terminal escapes

# An OSC 8 hyperlink, a screen clear, a window title and a right-to-left override: what a column
# name, a bundle's stored text or an audit entry may carry to the terminal that prints it.
ESCAPES = "\x1b]8;;http://e.invalid/pixel\x07LINK\x1b]8;;\x07\x1b[2J\x1b]0;title\x07\u202eevil\x9b2J"


def assert_shown_as_markers(*texts):
    """No raw control, escape or bidi character in what was printed; their markers instead."""
    for text in texts:
        assert not any(c in text for c in "\x1b\x07\u202e\x9b"), ascii(text[-2000:])
    assert "<U+001B>" in "".join(texts) and "<U+202E>" in "".join(texts)


def test_a_csvs_column_names_reach_the_terminal_as_markers(work, biased_frame, monkeypatch, capsys):
    """Column names in the messages (audit 3, §7): the validate line names the sensitive column,
    and validate's own warning names the characters."""
    biased_frame.head(200).rename(columns={"sex": f"sex{ESCAPES}"}).to_csv(work / "esc.csv", index=False)
    proc = in_process(["validate", "--csv", "esc.csv", "--target", "y", "--positive", "1",
                       "--sensitive", f"sex{ESCAPES}"], work, monkeypatch, capsys)
    assert proc.returncode == 0, proc.stderr
    assert_shown_as_markers(proc.stdout, proc.stderr)
    assert "U+202E" in proc.stderr and "sex<U+001B>]8;;http://e.invalid/pixel<U+0007>LINK" in proc.stdout


def test_a_bundles_column_names_and_version_strings_reach_the_terminal_as_markers(work, tiny_split, fast_params,
                                                                                   biased_frame, tmp_path):
    """A bundle's text (audit 3, §7): the column names an error lists, and scikit-learn's version
    warning, which repeats the version string the bundle stores, in a fresh process (warnings on)."""
    import hashlib
    import json
    import zipfile

    from fairkit.data import DatasetSpec
    from fairkit.export import DecisionRecord, export_bundle
    from fairkit.split import split_dataset
    from fairkit.sweep import run_sweep

    frame = biased_frame.rename(columns={"cat": f"cat{ESCAPES}"})
    split = split_dataset(frame, DatasetSpec(target="y", positive_label=1, sensitive=["sex"]), seed=0)
    res = run_sweep(split, ["unconstrained"], params=fast_params)
    row = res.results.iloc[0].to_dict()
    path = tmp_path / "b.zip"
    export_bundle(path, model=res.model(row["run_id"]), split=split, run=row, n_boot=0,
                  record=DecisionRecord(purpose="p", rationale="r", decider="d"))
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    # An attacker's edit, the manifest's hashes recomputed (an unsigned bundle).
    model = re.sub(r'"_sklearn_version", "[^"]*"', lambda m: '"_sklearn_version", ' + json.dumps(ESCAPES),
                   members["model.json"].decode())
    assert model != members["model.json"].decode()
    members["model.json"] = model.encode()
    manifest = json.loads(members["manifest.json"])
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()
                         if n not in ("manifest.json", "manifest.sig")}
    members["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    biased_frame.head(50).drop(columns=["cat"]).to_csv(tmp_path / "rows.csv", index=False)
    proc = subprocess.run([sys.executable, "-m", "fairkit", "score", "--bundle", path, "--csv", "rows.csv",
                           "--out", "s.csv"], cwd=tmp_path, env={**ENV, "PYTHONWARNINGS": "default",
                                                                  "PYTHONPATH": str(Path(__file__).parents[1])},
                          capture_output=True, text=True, timeout=90)
    assert_refused(proc, "lacks column(s) the model needs: cat<U+001B>]8;;http", "InconsistentVersionWarning")
    assert_shown_as_markers(proc.stdout, proc.stderr)


def test_audit_list_shows_an_actors_bidi_override_as_a_marker(tmp_path, capsys):
    from fairkit.__main__ import main
    from fairkit.audit import AuditLog, Identity

    log = tmp_path / "a.sqlite"
    AuditLog(log).append("upload", actor=Identity(name=f"A. Committee {ESCAPES}"), subject="x")
    assert main(["audit", "list", "--audit", str(log)]) == 0
    out, err = capsys.readouterr()
    assert_shown_as_markers(out, err)
    assert "A. Committee <U+001B>]8;;" in out


def test_score_help_warns_that_input_cells_stay_formulas(capsys):
    """score copies the input's cells unchanged (audit 3, §11): its help says a spreadsheet reads
    those starting with = + - @ as formulas, rather than the data being altered silently."""
    from fairkit.__main__ import main

    assert main(["score", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "starts with =, +, - or @ as a formula" in shown
