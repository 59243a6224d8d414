"""Issue #4 - ReductionsWrapper vs plain ExponentiatedGradient on Adult."""

import sys

from common import run

if __name__ == "__main__":
    sys.exit(run("reductions", "adult"))
