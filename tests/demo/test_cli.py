"""The demo wing's command line documents itself and refuses bad input before any work."""

from __future__ import annotations

import subprocess
import sys

from demo.cli import build_parser, main


def test_every_command_and_flag_has_help():
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(sub) == {"data", "build-tiny", "build-checkpoints", "results"}
    for name, parser in sub.items():
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"


def test_module_entry_point_and_unknown_methods(capsys):
    out = subprocess.run([sys.executable, "-m", "demo", "--help"], capture_output=True, text=True, check=True)
    assert "build-checkpoints" in out.stdout
    assert main(["build-checkpoints", "--methods", "ga,zz"]) == 2
    assert "unknown method(s) zz" in capsys.readouterr().err
