"""Every command line's ``--help`` reads cleanly: plain text, each default stated once, no Python reprs.

Each entry point runs as a subprocess from the repository root, the way a user types it. They all start at
once (one fixture), so the whole module takes about as long as the slowest one (well under a second each
today; bench/leaderboard_scale.py, which imports pandas and plotly up front, is the slowest).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}

ENTRY_POINTS: tuple[tuple[str, ...], ...] = (
    ("app.py",),
    ("-m", "leaderboard"),
    ("-m", "leaderboard", "ingest"),
    ("-m", "leaderboard", "list"),
    ("-m", "leaderboard", "approve"),
    ("-m", "leaderboard", "reject"),
    ("-m", "leaderboard", "withdraw"),
    ("-m", "leaderboard", "export"),
    ("-m", "leaderboard", "schema"),
    ("-m", "probes.evaluate"),
    ("-m", "probes.stress"),
    ("-m", "probes.worker"),
    ("-m", "benchmark"),
    ("-m", "benchmark", "describe"),
    ("-m", "probes.data", "describe"),
    ("-m", "backend"),
    ("-m", "backend", "models"),
    ("-m", "demo"),
    ("-m", "demo", "data"),
    ("-m", "demo", "build-tiny"),
    ("-m", "demo", "build-checkpoints"),
    ("-m", "demo", "results"),
    ("-m", "unlearning"),
    ("-m", "unlearning", "finetune"),
    ("-m", "unlearning", "run"),
    ("-m", "unlearning", "prompting"),
    ("bench/eval_throughput.py",),
    ("bench/eval_levers.py",),
    ("bench/leaderboard_scale.py",),
    ("bench/hub_rebuild.py",),
)

# The module run by `python -m MODULE` and the function that builds its parser (as tests/test_docs.py lists them).
PARSERS = {
    "leaderboard": ("leaderboard.cli", "_parser"),
    "probes.evaluate": ("probes.evaluate", "build_parser"),
    "probes.stress": ("probes.stress", "build_parser"),
    "probes.worker": ("probes.worker", "build_parser"),
    "benchmark": ("benchmark.reader", "build_parser"),
    "backend": ("backend.__main__", "_parser"),
    "demo": ("demo.cli", "build_parser"),
    "unlearning": ("unlearning.cli", "build_parser"),
}

ENUM_REPR = re.compile(r"<[A-Z]\w*\.\w+: |\b[A-Z][a-z]\w*\.[A-Z][A-Z0-9_]+\b")
"""``<Protocol.OFFICIAL: 'official'>`` (repr) or ``Unit.PERCENT`` (str of a (str, Enum) member)."""
DEFAULT_MENTION = re.compile(r"\(default\b|\bdefault:", re.IGNORECASE)
PYTHON_DEFAULT = re.compile(r"[Dd]efault:? (None|False|True|\(\)|\[\]|''|\"\")(\W|$)|[Dd]efault: ?\)")
"""A default shown as Python prints it (``None``, ``False``, ``()``, an empty string) instead of in words."""


def _name(argv: tuple[str, ...]) -> str:
    return " ".join(a for a in argv if a != "-m")


def _help(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def helps() -> dict[tuple[str, ...], subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(ENTRY_POINTS, pool.map(_help, ENTRY_POINTS), strict=True))


def option_entries(text: str) -> list[str]:
    """The help text's entries (an option, a positional or a subcommand), each with its wrapped help joined.

    An entry starts on a line indented by 2 (options) or 4 (subcommands); its help continues on the lines
    indented further; anything else (a heading, the description, a blank line) ends it.
    """
    entries: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent in (2, 4):
            current = [line.strip()]
            entries.append(current)
        elif line.strip() and indent > 4 and current is not None:
            current.append(line.strip())
        else:
            current = None
    return [" ".join(e) for e in entries]


def problems(text: str) -> list[str]:
    """What is wrong with one help text, as readable messages (empty when it is clean)."""
    found = []
    if "`" in text:
        found.append(f"markup backticks: {[ln for ln in text.splitlines() if '`' in ln]}")
    found += [f"enum repr {m.group(0)!r}" for m in ENUM_REPR.finditer(text)]
    found += [f"Python value as a default: {m.group(0)!r}" for m in PYTHON_DEFAULT.finditer(text)]
    if "MLLMU_LEADERBOARD_DB_PATH" in text:
        found.append("names MLLMU_LEADERBOARD_DB_PATH (the store's variable is MLLMU_DB)")
    if str(ROOT) in text:
        found.append(f"shows this machine's path {ROOT}")
    if "%%" in text:  # a description is not %-formatted: an escaped percent shows doubled
        found.append(f"doubled percent sign: {[ln for ln in text.splitlines() if '%%' in ln]}")
    found += [f"default stated twice: {e!r}" for e in option_entries(text) if len(DEFAULT_MENTION.findall(e)) > 1]
    return found


@pytest.mark.parametrize("argv", ENTRY_POINTS, ids=_name)
def test_help_reads_cleanly(helps, argv):
    done = helps[argv]
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: "), done.stdout[:500]
    assert not problems(done.stdout), "\n".join([f"python {' '.join(argv)} --help:", *problems(done.stdout)])


def test_every_subcommand_is_checked():
    listed = {argv for argv in ENTRY_POINTS if argv[0] == "-m"}
    for module, (source, factory) in PARSERS.items():
        parser = getattr(importlib.import_module(source), factory)()
        assert ("-m", module) in listed
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for name in (subs[0].choices if subs else ()):
            assert ("-m", module, name) in listed, f"python -m {module} {name} --help is not checked"
    scripts = {str(p.relative_to(ROOT)) for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text()}
    assert scripts <= {argv[0] for argv in ENTRY_POINTS}, f"not checked: {scripts - {a[0] for a in ENTRY_POINTS}}"


def test_leaderboard_help_names_the_store_variable(helps):
    for argv in [("-m", "leaderboard"), ("-m", "leaderboard", "list")]:
        assert "MLLMU_DB" in helps[argv].stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  --x X  folder (default: out) (default: None)\n", "default stated twice"),
        ("  --x X  threads (fix it; default: torch's\n         choice) (default: 4)\n", "default stated twice"),
        ("  --sets SETS  sets (default: (<EvalSet.FORGET: 'forget'>,))\n", "enum repr"),
        ("  --unit {Unit.PERCENT,Unit.FRACTION}\n", "enum repr"),
        ("  --out OUT  output folder (default: None)\n", "Python value"),
        ("  --notes NOTES  free text (default: )\n", "Python value"),
        ("  --no-progress  no progress bar (default: False)\n", "Python value"),
        ("Command line. ``python -m leaderboard`` (or $MLLMU_LEADERBOARD_DB_PATH)\n", "backticks"),
        ("Command line. ``python -m leaderboard`` (or $MLLMU_LEADERBOARD_DB_PATH)\n", "MLLMU_LEADERBOARD_DB_PATH"),
        ("see `python -m demo`\n", "backticks"),
        (f"  --out OUT  folder (default: {ROOT}/demo/data)\n", "this machine's path"),
        ("Write scores, recovery and 95%% intervals.\n", "doubled percent"),
    ],
)
def test_the_checks_catch_each_defect(text, expected):
    assert any(expected in p for p in problems(text)), problems(text)


def test_clean_help_passes_the_checks():
    text = ("usage: x [-h]\n\nA tool.\n\noptions:\n  -h, --help  show this help message and exit\n"
            "  --lr LR     learning rate (default: 2e-05)\n  --db PATH   store (default: $MLLMU_DB when set,\n"
            "              else var/leaderboard.sqlite)\n  --n N       count (default: 3)\n")
    assert problems(text) == []


def test_leaderboard_store_defaults_to_mllmu_db(monkeypatch, tmp_path):
    from leaderboard.cli import db_path
    from leaderboard.store import DEFAULT_DB_PATH

    monkeypatch.delenv("MLLMU_DB", raising=False)
    assert db_path(None) == DEFAULT_DB_PATH
    monkeypatch.setenv("MLLMU_DB", "")
    assert db_path(None) == DEFAULT_DB_PATH
    monkeypatch.setenv("MLLMU_DB", str(tmp_path / "env.sqlite"))
    assert db_path(None) == tmp_path / "env.sqlite"
    assert db_path(tmp_path / "flag.sqlite") == tmp_path / "flag.sqlite"  # the flag wins


def test_leaderboard_cli_opens_the_store_named_by_mllmu_db(monkeypatch, tmp_path, capsys):
    from leaderboard.cli import main

    monkeypatch.setenv("MLLMU_DB", str(tmp_path / "env.sqlite"))
    monkeypatch.chdir(tmp_path)
    assert main(["list", "--status", "pending"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert (tmp_path / "env.sqlite").exists() and not (tmp_path / "var").exists()
