"""``python -m probes.data describe``, kept for the command researchers type; the reader is :mod:`benchmark.reader`."""

import sys

from benchmark.reader import main

if __name__ == "__main__":
    sys.exit(main())
