"""On-disk results store: cache keys, atomic writes, and the run index.

Each run is two files under ``<root>/runs/``: ``<key>.joblib`` (the fitted model) and
``<key>.json`` (its metrics row). The JSON is written last, by atomic rename, so its presence
means the run is complete: a sweep interrupted at any point keeps every finished run and never
leaves a half-written entry that would be read back. The store holds only what fairkit itself
wrote; models are loaded with joblib, which runs code, so never point a store at files from an
untrusted source.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from . import __version__


def default_home() -> Path:
    """fairkit's working folder: ``$FAIRKIT_HOME`` or ``./.fairkit`` in the current directory."""
    return Path(os.environ.get("FAIRKIT_HOME", Path.cwd() / ".fairkit"))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def cache_key(**parts) -> str:
    """A stable key for a computation from its inputs (canonical JSON, then SHA-256).

    The fairkit version is always part of the key, so an upgrade never serves stale results.
    """
    payload = json.dumps(_jsonable({**parts, "fairkit": __version__}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@contextmanager
def _replacing(path: Path):
    """A temporary file beside ``path`` that replaces it when the block ends without error.

    The temporary name starts with a dot and ends in ``.tmp``, so an interrupted write leaves
    nothing :meth:`ResultStore.keys` would read; a failed write removes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    with _replacing(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_dump(obj, path: Path) -> None:
    """joblib-dump ``obj`` atomically."""
    with _replacing(path) as tmp:
        joblib.dump(obj, tmp)


class ResultStore:
    """Finished runs on disk, keyed by :func:`cache_key`.

    Parameters
    ----------
    root : path, optional
        Folder of the store (created on first write). Default ``default_home() / "store"``.
    """

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_home() / "store"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def _json(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    def _model(self, key: str) -> Path:
        return self.runs_dir / f"{key}.joblib"

    def has(self, key: str) -> bool:
        return self._json(key).exists()

    def get(self, key: str) -> dict | None:
        """The metrics record of a finished run, or None."""
        try:
            return json.loads(self._json(key).read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            # Only possible if someone edited the file by hand; treat it as missing and recompute.
            return None

    def put(self, key: str, record: dict, model=None) -> None:
        """Store a run: model first, then the record (its presence marks the run complete)."""
        if model is not None:
            atomic_dump(model, self._model(key))
        atomic_write_bytes(self._json(key), json.dumps(_jsonable({**record, "run_id": key}), indent=1).encode())

    def load_model(self, key: str):
        """The fitted model of a run (joblib: only for stores this tool wrote)."""
        path = self._model(key)
        if not path.exists():
            raise KeyError(f"No stored model for run {key}.")
        return joblib.load(path)

    def keys(self) -> list[str]:
        if not self.runs_dir.exists():
            return []
        return sorted(p.stem for p in self.runs_dir.glob("*.json"))

    def records(self, keys=None) -> pd.DataFrame:
        """Records of the given (default: all) runs as a table; missing keys are skipped."""
        rows = [r for r in (self.get(k) for k in (keys if keys is not None else self.keys())) if r is not None]
        return pd.DataFrame(rows)

