"""``python -m leaderboard``: see :mod:`leaderboard.cli`."""

from leaderboard.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
