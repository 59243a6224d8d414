"""Issue #5 quality - hypervolume of union fronts, fairkit vs fairlearn."""

import sys

from common import run

if __name__ == "__main__":
    sys.exit(run("frontier"))
