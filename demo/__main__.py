"""``python -m demo``: rebuild the embedded demo (see :mod:`demo.cli`)."""

import sys

from demo.cli import main

sys.exit(main())
