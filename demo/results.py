"""``python -m demo results``: evaluate the demo checkpoints and write their result files into ``demo/results``.

Each demo checkpoint is evaluated with ``python -m probes.evaluate`` (official
protocol, forget 10 %, all four sets, seed 0), as a researcher would; its
``NAME.submission.json`` and ``NAME.samples.jsonl`` are what a fresh
leaderboard store is seeded with as *demo* rows.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.files import atomic_write
from leaderboard.service import DEMO_RESULTS as RESULTS_DIR

NOTES = (
    "DEMO ONLY: a 2.6 MB tiny LLaVA on the generated demo benchmark, trained on the demo's own questions. "
    "Not comparable with real models."
)
SUBMITTER = "demo (python -m demo build-checkpoints)"


@dataclass(frozen=True)
class DemoRow:
    """One demo checkpoint and how the leaderboard names it."""

    model: str
    """Registry name (``models.yaml``)."""
    method: str
    """Method as the leaderboard shows it."""
    unlearning_modality: str | None
    """multimodal, text or none; ``None`` leaves it unreported (the retain-only reference: no unlearning, yet not
    the vanilla model that unlearned rows are compared with)."""
    reference: str = "demo-vanilla"
    """The model before unlearning that the robustness file's recovery is measured against."""


DEMO_ROWS: tuple[DemoRow, ...] = (
    DemoRow("demo-vanilla", "vanilla", "none"),
    DemoRow("demo-ga", "GA", "multimodal"),
    DemoRow("demo-graddiff", "GradDiff", "multimodal"),
    DemoRow("demo-npo", "NPO+RT", "multimodal"),
    DemoRow("demo-retain", "Retain-only (reference)", None),
    DemoRow("demo-prompting", "Prompting", None),
)


def write_results(
    out: Path = RESULTS_DIR, *, rows: tuple[DemoRow, ...] = DEMO_ROWS, progress: bool = True, robustness: bool = True
) -> list[Path]:
    """Evaluate each demo model and copy its submission and samples files into ``out``; returns them.

    With ``robustness``, each also gets ``NAME.robustness.json`` from ``python -m probes.stress --quick`` against
    :attr:`DemoRow.reference`, which the leaderboard attaches to the row.
    """
    from probes.evaluate import main as evaluate
    from probes.stress import main as stress

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            started = time.perf_counter()
            argv = ["--model", row.model, "--data", "demo", "--forget-ratio", "10", "--protocol", "official",
                    "--out", tmp, "--name", row.model, "--method", row.method,
                    *(["--unlearning-modality", row.unlearning_modality] if row.unlearning_modality else []),
                    "--submitter", SUBMITTER, "--notes", NOTES]
            if evaluate([*argv, *([] if progress else ["--no-progress"])]) != 0:
                raise RuntimeError(f"evaluating {row.model} failed (see the message above)")
            for suffix in (".submission.json", ".samples.jsonl"):
                name = f"{row.model}{suffix}"
                written.append(atomic_write(out / name, (Path(tmp) / name).read_bytes()))
            if robustness:
                argv = ["--model", row.model, "--reference", row.reference, "--data", "demo", "--forget-ratio", "10",
                        "--quick", "--out", tmp, "--name", row.model]
                if stress([*argv, *([] if progress else ["--no-progress"])]) != 0:
                    raise RuntimeError(f"the robustness run of {row.model} failed (see the message above)")
                source = Path(tmp) / f"{row.model}_robustness.json"
                written.append(atomic_write(out / f"{row.model}.robustness.json", source.read_bytes()))
            print(f"{row.model:<14} {time.perf_counter() - started:6.1f} s")
    return written
