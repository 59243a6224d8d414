"""The demo notebook runs top to bottom (small settings) without an error."""

import os
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "demo.ipynb"


def test_demo_notebook_executes(tmp_path, monkeypatch):
    shutil.copy(NOTEBOOK, tmp_path / "demo.ipynb")
    nb = nbformat.read(tmp_path / "demo.ipynb", as_version=4)
    monkeypatch.setenv("FAIRKIT_DEMO_QUICK", "1")
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "demo_output" / "frontier.html").exists()
    assert (tmp_path / "demo_output" / "bundle.zip").exists()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "max |difference| after reload" in text
