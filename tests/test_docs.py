"""Docs that cannot drift: every command, flag and metric is documented.

The README links the detailed pages under docs/, so together they are the documentation.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARSERS = [
    ("probes.evaluate", "build_parser"),
    ("probes.stress", "build_parser"),
    ("probes.worker", "build_parser"),
    ("benchmark.reader", "build_parser"),
    ("demo.cli", "build_parser"),
    ("backend.__main__", "_parser"),
    ("leaderboard.cli", "_parser"),
    ("unlearning.cli", "build_parser"),
    ("settings", "build_parser"),
]


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def walk(parser: argparse.ArgumentParser, prefix: str = ""):
    """(command, option) pairs of a parser and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + name, None
                yield from walk(sub, prefix + name + " ")
        else:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield prefix.strip(), option


@pytest.mark.parametrize(("module", "factory"), PARSERS)
def test_every_command_and_flag_is_documented(module, factory):
    parser = getattr(importlib.import_module(module), factory)()
    text = docs_text()
    missing = sorted({opt or cmd.split()[-1] for cmd, opt in walk(parser) if (opt or cmd.split()[-1]) not in text})
    assert not missing, f"{module}: undocumented {missing}"


def test_every_metric_and_set_is_documented():
    from benchmark.metrics import METRICS
    from benchmark.vocabulary import EvalSet

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for _, name in METRICS:
        assert f"`{name}`" in readme
    for s in EvalSet:
        assert s.value.capitalize() in readme


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]  # after the Space front matter
    block = body.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == ["pip install -r requirements.txt && python app.py",
                     "pip install -r requirements-dev.txt && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert block[1] in ci
