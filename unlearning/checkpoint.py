"""Loading the model to train, and saving checkpoints with their model card.

A checkpoint folder holds either the merged model (``model.safetensors``,
config, generation config) or a PEFT LoRA adapter (``adapter_model.safetensors``
and ``adapter_config.json``), always the processor files, a ``README.md``
model card and ``unlearning.json``: the same facts as the card, machine-readable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SaveMode = Literal["merged", "adapter"]
SAVE_MODES: tuple[SaveMode, ...] = ("merged", "adapter")

RECORD_FILE = "unlearning.json"
"""The machine-readable training record written beside every checkpoint."""


def load_for_training(path: str | Path, *, device: str = "cpu", dtype: str | None = None) -> tuple[Any, Any]:
    """Load a local checkpoint folder (model and processor) for training.

    Only local folders are accepted and only safetensors weights are read:
    this package never downloads. ``dtype`` defaults to float32 on CPU and
    bfloat16 on CUDA.

    Raises:
        FileNotFoundError: if ``path`` is not a folder with a config.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} is not a model folder (no config.json); pass a local checkpoint, e.g. one made by "
            "`python -m demo build-tiny` or `python -m unlearning finetune`"
        )
    chosen = dtype or ("float32" if device == "cpu" else "bfloat16")
    model: Any = AutoModelForImageTextToText.from_pretrained(folder, dtype=getattr(torch, chosen), use_safetensors=True)
    processor = AutoProcessor.from_pretrained(folder)
    return model.to(device), processor


@dataclass
class ModelCard:
    """The facts a checkpoint's card and ``unlearning.json`` record."""

    method: str
    """``vanilla``, ``ga``, ``graddiff``, ``kl`` or ``npo``."""
    base_model: str
    """The model that was trained (path or name as given)."""
    data: str
    """The benchmark source (``demo``, a folder, a Hub id)."""
    dataset_fingerprint: str
    """``Benchmark.fingerprint`` of the data used."""
    recipe: str
    """``ft`` (the benchmark's ft_Data recipe) or ``demo`` (the demo-only recipe)."""
    variant: str | None = None
    """``multimodal`` or ``text`` (unlearning and ft recipe)."""
    forget_ratio: int | None = None
    """5, 10 or 15 for unlearned models."""
    save_mode: str = "merged"
    """``merged`` weights or a LoRA ``adapter``."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Every training setting (learning rate, epochs, LoRA, objective weights, seed...)."""
    training: dict[str, Any] = field(default_factory=dict)
    """What the run did: steps, example counts, first and last loss, seconds."""
    command: str = ""
    """The command line that made it."""
    git_commit: str | None = None
    """The repository commit of the code that made it, if known."""
    notes: list[str] = field(default_factory=list)
    """Free-text remarks (e.g. what the demo recipe changes)."""
    evaluation: dict[str, float] = field(default_factory=dict)
    """Optional figures measured right after training (see ``unlearning.evaluation.summarise``)."""

    def to_json(self) -> str:
        """The record as indented JSON."""
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """The model card: YAML front matter, then what it is, how it was made and how to use it."""
        from unlearning.training import METHOD_NAMES

        name = METHOD_NAMES.get(self.method, self.method)
        if self.method in ("ga", "npo") and float(self.hyperparameters.get("retain_weight") or 0) > 0:
            name += "+RT"  # with a retain cross-entropy term (e.g. NPO+RT)
        titles = {"vanilla": "Vanilla fine-tune", "retain": "Retain-only fine-tune (reference)"}
        title = titles.get(self.method, f"{name} unlearning")
        lines = [
            "---",
            "library_name: transformers",
            "pipeline_tag: image-text-to-text",
            "tags: [mllmu-bench, machine-unlearning" + ("" if self.method == "vanilla" else f", {self.method}") + "]",
            "---",
            "",
            f"# {title}" + (f" ({self.variant})" if self.variant and self.method not in titles else ""),
            "",
            "Made by the `unlearning` package of this repository for MLLMU-Bench (arXiv 2410.22108).",
            "",
            "| | |",
            "|---|---|",
            f"| method | {name} |",
            f"| variant | {self.variant or '-'} |",
            f"| forget ratio | {f'{self.forget_ratio} %' if self.forget_ratio else '-'} |",
            f"| base model | `{self.base_model}` |",
            f"| data | `{self.data}` (fingerprint `{self.dataset_fingerprint}`) |",
            f"| data recipe | {self.recipe} |",
            f"| weights | {self.save_mode} |",
            f"| code commit | {self.git_commit or 'unknown'} |",
            "",
            "## Hyperparameters",
            "",
            "| setting | value |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in self.hyperparameters.items()),
            "",
            "## Training",
            "",
            "| | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in self.training.items()),
            "",
        ]
        if self.command:
            lines += ["Command:", "", "```", self.command, "```", ""]
        if self.notes:
            lines += ["## Notes", "", *(f"- {n}" for n in self.notes), ""]
        if self.evaluation:
            lines += [
                "## Evaluation right after training",
                "",
                "Official protocol, seed 0; multiple-choice and cloze accuracy in %, generation ROUGE-L in 0-1.",
                "",
                "| cell | value |",
                "|---|---|",
                *(f"| {k} | {v:.4g} |" for k, v in self.evaluation.items()),
                "",
            ]
        return "\n".join(lines)


def save_checkpoint(model: Any, processor: Any, out: str | Path, card: ModelCard, *, mode: SaveMode = "merged") -> Path:
    """Save ``model`` (merged, or its LoRA adapter) and ``processor`` to ``out`` with the card and record.

    A PEFT model saved ``merged`` is merged into its base first; a fully
    fine-tuned model is always saved whole (``adapter`` mode needs a PEFT model).
    Weights are safetensors only.

    Raises:
        ValueError: if ``mode`` is ``adapter`` but the model has no adapter.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    is_peft = hasattr(model, "peft_config")
    if mode == "adapter" and not is_peft:
        raise ValueError("--save adapter needs a LoRA model; a fully fine-tuned model is saved merged")
    if mode == "merged" and is_peft:
        model = model.merge_and_unload()
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    card.save_mode = mode
    (folder / "README.md").write_text(card.to_markdown(), encoding="utf-8")
    (folder / RECORD_FILE).write_text(card.to_json(), encoding="utf-8")
    return folder
