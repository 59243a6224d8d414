"""Issue #3 - fairkit regularized + lagrangian vs ExponentiatedGradient on Adult."""

import sys

from common import run

if __name__ == "__main__":
    sys.exit(run("training", "adult"))
