"""docs/leaderboard.md cannot drift from the code: every CLI flag, setting and metric is mentioned."""

from __future__ import annotations

import argparse

from benchmark.metrics import METRICS
from leaderboard.cli import _parser
from leaderboard.service import LeaderboardSettings

from .conftest import ROOT


def test_docs_mention_every_flag_setting_and_metric():
    text = (ROOT / "docs" / "leaderboard.md").read_text()
    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [name for name in sub.choices if f"python -m leaderboard {name}" not in text]
    for command in sub.choices.values():
        missing += [o for a in command._actions for o in a.option_strings if o.startswith("--") and o != "--help"
                    and o not in text]  # fmt: skip
    missing += [name for name in LeaderboardSettings.model_fields if f"`{name}`" not in text]
    missing += [name for _, name in METRICS if f"`{name}`" not in text]
    assert not missing, f"docs/leaderboard.md lacks: {sorted(set(missing))}"
