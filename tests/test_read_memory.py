"""Small files that would exhaust memory are refused cheaply (issue 18): ``fairkit validate`` on a
1 MB Parquet file of 150 million rows and on a 7.9 million-row CSV ends with a message naming
the row limit, with the process's peak resident memory under 1 GiB.

Each command runs in its own process, which reports its own peak resident memory (``VmHWM`` of
``/proc/self/status`` as it exits). Not ``os.wait4``'s ``ru_maxrss``: the child is forked from
the test's worker and Linux carries the pre-exec high-water mark across ``exec``, so that figure
is the worker's own size whenever the worker is the larger (a run failed at "1,024.05 MiB" so,
session 48, while the command itself took about 540 MiB). An address-space limit makes a
regression fail fast instead of swapping the shared machine.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fairkit.data import DEFAULT_LIMITS

pytestmark = pytest.mark.slow

PEAK_LIMIT = 1 << 30  # bytes of resident memory the refusal may take
ADDRESS_SPACE = 6 << 30  # virtual memory (threads' arenas and stacks count): a backstop only


#: Run in the child: the limits first, then the command as ``python -m fairkit``, and on the way
#: out (an exit code or an exception alike) the peak of this process alone, written to a file.
_CHILD = """
import atexit, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def peak():
    status = open("/proc/self/status").read()
    with open({out!r}, "w") as fh:
        fh.write(status.split("VmHWM:")[1].split()[0])  # kB
atexit.register(peak)
sys.argv = ["fairkit", *sys.argv[1:]]
runpy.run_module("fairkit", run_name="__main__", alter_sys=True)
"""


def run_measured(argv, cwd) -> tuple[int, str, int]:
    """``(exit code, stderr, peak RSS in bytes)`` of ``python -m fairkit *argv``, the peak the
    command's own (after ``exec``), not the forking worker's."""
    err_path, peak_path = cwd / "stderr.txt", cwd / "peak.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    code = _CHILD.format(limit=ADDRESS_SPACE, out=str(peak_path))
    with open(err_path, "w") as err:
        proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=err)
    return proc.returncode, err_path.read_text(), int(peak_path.read_text()) * 1024


def test_peak_is_the_commands_own_not_the_forking_workers(tmp_path):
    """The measure itself: a worker holding 1.5 GiB forks a command that takes a few dozen MiB;
    ``ru_maxrss`` read 1.5 GiB there (the check this replaced), the command's own peak does not."""
    ballast = bytearray(1536 << 20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touched: resident, not just reserved
    code, err, peak = run_measured(["--version"], tmp_path)
    del ballast
    assert code == 0, err[-2000:]
    assert peak < 512 << 20, f"peak RSS {peak / 2**20:,.0f} MiB"


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
