"""The shape of the house (docs/architecture.md), checked: layers, types, where data lives, quiet imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmark", "backend", "probes", "leaderboard", "unlearning", "demo")
CODE_ONLY = ("benchmark", "backend", "probes", "leaderboard")
"""Packages that hold code and nothing else (the demo wing keeps its data beside its code, in data/, models/,
results/)."""


LINT_IMPORTS = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                "sys.exit(c())"]
"""``lint-imports`` with this interpreter (the console script may not be on PATH)."""


def test_import_contracts_hold():
    """``lint-imports``: one-way layers, nobody imports the app, no circles inside a package (pyproject.toml)."""
    done = subprocess.run([*LINT_IMPORTS, "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and "5 kept" in done.stdout


@pytest.mark.slow
def test_mypy_is_clean_on_every_package():
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_code_packages_hold_no_data_files():
    data = [
        str(path.relative_to(ROOT))
        for package in CODE_ONLY
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py"
    ]
    assert not data, f"data files inside code packages: {data}"


def test_importing_every_module_reads_no_project_file_and_opens_no_connection():
    """Import every module of the project in a fresh process while an audit hook watches file opens and sockets."""
    script = textwrap.dedent(
        f"""
        import importlib, json, os, pkgutil, sys
        root = {str(ROOT)!r}
        events = []

        def hook(event, args):
            if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                path = os.path.abspath(os.fsdecode(args[0]))
                if path.startswith(root) and not path.endswith((".py", ".pyc")) and "__pycache__" not in path:
                    events.append(["open", path])
            elif event in ("socket.connect", "socket.getaddrinfo"):
                events.append([event, repr(args[1] if len(args) > 1 else args)])

        names = ["app", "settings", "about"]
        for package in {list(PACKAGES)!r}:
            names += [package] + [package + "." + m.name for m in pkgutil.iter_modules([root + "/" + package])
                                  if m.name != "__main__"]
        sys.addaudithook(hook)
        for name in names:
            importlib.import_module(name)
        print(json.dumps({{"modules": len(names), "events": events}}))
        """
    )
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 50
    assert report["events"] == [], report["events"]
