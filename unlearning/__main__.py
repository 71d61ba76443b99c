"""``python -m unlearning``: see :mod:`unlearning.cli`."""

import sys

from unlearning.cli import main

if __name__ == "__main__":
    sys.exit(main())
