"""Small files that would exhaust memory are refused cheaply (issue 18): ``fairkit validate`` on a
1 MB Parquet file of 150 million rows and on a 7.9 million-row CSV ends with a message naming
the row limit, with the process's peak resident memory under 1 GiB.

Each command runs in its own process, whose peak RSS is read with ``os.wait4`` (that child's
own rusage, not the maximum over every child of the test run). An address-space limit makes a
regression fail fast instead of swapping the shared machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from fairkit.data import DEFAULT_LIMITS

pytestmark = pytest.mark.slow

PEAK_LIMIT = 1 << 30  # bytes of resident memory the refusal may take
ADDRESS_SPACE = 6 << 30  # virtual memory (threads' arenas and stacks count): a backstop only


def run_measured(argv, cwd) -> tuple[int, str, int]:
    """``(exit code, stderr, peak RSS in bytes)`` of ``python -m fairkit *argv``."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    err_path = cwd / "stderr.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fairkit", *map(str, argv)], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err_path.read_text(), usage.ru_maxrss * 1024  # Linux: kilobytes


def test_parquet_bomb_is_refused_from_its_footer(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, block = 150_000_000, 10_000_000
    # 8-byte numbers: read, the rows would take 2.4 GB (the footer check is what keeps the peak low).
    table = pa.table({"x": np.zeros(block), "y": np.zeros(block, dtype=np.int64)})
    path = tmp_path / "bomb.parquet"
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(rows // block):
            writer.write_table(table, row_group_size=block)
    assert path.stat().st_size < 2 << 20 and pq.ParquetFile(path).metadata.num_rows == rows

    code, err, peak = run_measured(["validate", "--csv", path, "--target", "y"], tmp_path)
    assert code == 2 and "150,000,000 rows, over the limit" in err and "Traceback" not in err, err[-2000:]
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:,.0f} MiB"


def test_csv_over_the_row_limit_is_refused_without_parsing_it_all(tmp_path):
    rows, block = 7_900_000, 100_000
    # 19-byte rows, as in the 150 MiB file; one block of varied rows written 79 times.
    rng = np.random.default_rng(0)
    lines = [f"{a:05d},{'FM'[s]},{b:.6f},{y}\n" for a, s, b, y in zip(
        rng.integers(0, 99_999, block), rng.integers(0, 2, block), rng.random(block), rng.integers(0, 2, block))]
    chunk = "".join(lines).encode()
    path = tmp_path / "rows.csv"
    with open(path, "wb") as fh:
        fh.write(b"id,sex,score,y\n")
        for _ in range(rows // block):
            fh.write(chunk)
    assert path.stat().st_size > 140 << 20 and rows > DEFAULT_LIMITS.max_rows

    code, err, peak = run_measured(["validate", "--csv", path, "--target", "y"], tmp_path)
    assert code == 2 and f"more than {DEFAULT_LIMITS.max_rows:,} rows" in err and "Traceback" not in err, err[-2000:]
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:,.0f} MiB"
