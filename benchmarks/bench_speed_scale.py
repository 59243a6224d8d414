"""Issue #5 speed and scale - 16-eta sweep vs one model vs EG; generated 200k rows."""

import sys

from common import run

if __name__ == "__main__":
    sys.exit(run("speed,scale", "adult"))
