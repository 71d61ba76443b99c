"""What a result or a checkpoint records about the software that made it: package versions and git commit."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "transformers", "peft", "bitsandbytes", "accelerate", "rouge-score", "nltk", "pillow",
            "huggingface-hub")
"""Packages whose versions can change a result; recorded in the provenance."""

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The toolkit's repository root (where ``git`` is asked for the commit)."""


@functools.cache
def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (missing ones are left out)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@functools.cache
def git_commit() -> str | None:
    """The toolkit's git commit, with ``-dirty`` when tracked files have uncommitted changes; None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
