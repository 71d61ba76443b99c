"""``python -m benchmark describe``: check a download of MLLMU-Bench (see :mod:`benchmark.reader`)."""

import sys

from benchmark.reader import main

sys.exit(main())
