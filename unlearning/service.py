"""End-to-end runs: load a checkpoint, build examples, train, save with a model card.

:func:`run_finetune` and :func:`run_unlearning` are what the command line
calls; :func:`finetune_in_memory` and :func:`unlearn_in_memory` do the same on
an already loaded model (the demo build and the tests chain them without
writing intermediate folders).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Collection
from pathlib import Path
from typing import Any

from backend.loading import pick_device
from benchmark.dataset import Benchmark
from benchmark.provenance import git_commit
from benchmark.vocabulary import Split, forget_split, retain_split
from unlearning.checkpoint import ModelCard, SaveMode, load_for_training, save_checkpoint
from unlearning.examples import Example, PromptFormat, Recipe, Variant, demo_examples, ft_examples
from unlearning.training import (
    ExampleSource,
    TrainLog,
    TrainSettings,
    UnlearnSettings,
    finetune,
    seed_everything,
    unlearn,
)


def _ids(benchmark: Benchmark, split: Split) -> list[str]:
    return [p.id for p in benchmark.split(split)]


def example_source(
    benchmark: Benchmark,
    processor: Any,
    ids: list[str],
    *,
    recipe: Recipe,
    variant: Variant,
    seed: int,
    mc_prefix_rate: float = 0.75,
    mc_copies: int = 1,
    exclude: Collection[str] = (),
    kinds: Collection[str] | None = None,
) -> ExampleSource:
    """``epoch -> examples`` for the profiles ``ids``.

    The ``ft`` recipe gives the same list every epoch; the ``demo`` recipe draws
    fresh few-shot contexts and option orders each epoch from ``(seed, epoch)``.
    Profiles in ``exclude`` are never shown (demo recipe: not even as few-shot
    demos). With ``kinds``, only examples of those kinds are kept (``ft``,
    ``classification``, ``cloze``, ``generation``; see :class:`Example`), after
    the draw, so the kept examples are exactly those the full draw gives.
    """
    fmt = PromptFormat(processor)
    hidden = set(exclude)
    ids = [i for i in ids if i not in hidden]
    wanted = set(kinds) if kinds is not None else None

    def keep(examples: list[Example]) -> list[Example]:
        return examples if wanted is None else [e for e in examples if e.kind in wanted]

    if recipe == "ft":
        fixed = keep(ft_examples(benchmark, fmt, variant, ids))
        return lambda epoch: fixed
    cache: dict[int, list[Example]] = {}

    def draw(epoch: int) -> list[Example]:
        if epoch not in cache:
            cache.clear()
            rng = random.Random(f"{seed}/{','.join(ids)}/{epoch}")
            cache[epoch] = keep(demo_examples(
                benchmark, fmt, variant, ids, rng, mc_prefix_rate=mc_prefix_rate, mc_copies=mc_copies,
                exclude=hidden,
            ))
        return cache[epoch]

    return draw


def hyperparameters_record(settings: TrainSettings, objective: UnlearnSettings | None, **extra: Any) -> dict[str, Any]:
    """Every training setting of a run, for its model card (``extra`` adds recipe-specific ones)."""
    out: dict[str, Any] = {}
    if objective is not None:
        out["method"] = objective.method
        if objective.method == "npo":
            out["beta"] = objective.beta
        out["retain_weight"] = objective.effective_retain_weight
        if objective.method == "kl":
            out["kl_weight"] = objective.kl_weight
    out.update(
        training="full fine-tuning" if settings.full else "LoRA on the language model's linear layers",
        optimizer="AdamW",
        lr=settings.lr,
        epochs=settings.epochs,
        max_steps=settings.max_steps,
        batch_size=settings.batch_size,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_steps,
        schedule=settings.schedule,
        grad_clip=settings.grad_clip,
        seed=settings.seed,
    )
    if not settings.full:
        out.update(lora_r=settings.lora.r, lora_alpha=settings.lora.alpha, lora_dropout=settings.lora.dropout)
    out.update(extra)
    return out


def training_record(log: TrainLog) -> dict[str, Any]:
    """What a run did (steps, example counts, first and last loss, seconds), for its model card."""
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in dataclasses.asdict(log).items()}


def finetune_in_memory(
    model: Any,
    processor: Any,
    benchmark: Benchmark,
    settings: TrainSettings,
    *,
    recipe: Recipe = "ft",
    device: str = "cpu",
    progress: bool = True,
    mc_prefix_rate: float = 0.75,
    mc_copies: int = 1,
    include_celebrities: bool = True,
    exclude: Collection[str] = (),
) -> tuple[Any, TrainLog]:
    """The vanilla fine-tune of a loaded model on every profile (but those in ``exclude``).

    ``ft``: every ``ft_Data`` pair with its portrait. ``demo``: the demo recipe
    over the full set, plus (``include_celebrities``) the celebrity set as
    stand-in pre-training knowledge. ``exclude`` leaves profiles out
    entirely, few-shot demos included: with the forget split's ids, this is
    the retain-only reference model (trained as vanilla, never shown the
    forget people).
    """
    if recipe == "ft":
        ids = [r.id for r in benchmark.finetune]
    else:
        ids = _ids(benchmark, Split.FULL)
        if include_celebrities and Split.CELEBRITY in benchmark.splits:
            ids += _ids(benchmark, Split.CELEBRITY)
    source = example_source(benchmark, processor, ids, recipe=recipe, variant="multimodal", seed=settings.seed,
                            mc_prefix_rate=mc_prefix_rate, mc_copies=mc_copies, exclude=exclude)
    return finetune(model, processor, source, settings, device=device, progress=progress)


def unlearn_in_memory(
    model: Any,
    processor: Any,
    benchmark: Benchmark,
    settings: TrainSettings,
    objective: UnlearnSettings,
    *,
    variant: Variant,
    forget_ratio: int,
    recipe: Recipe = "ft",
    device: str = "cpu",
    progress: bool = True,
    mc_prefix_rate: float = 0.75,
    forget_kinds: Collection[str] | None = None,
) -> tuple[Any, TrainLog]:
    """Unlearn ``forget_{ratio}`` from a loaded vanilla model; retain data is ``retain_{100-ratio}``.

    ``forget_kinds`` keeps only those kinds of forget examples (e.g. ``("ft",)``:
    the person-specific ``ft_Data`` pairs, not the demo recipe's multiple-choice
    letters that every person shares); the retain examples are all kept.
    """
    common: dict[str, Any] = dict(recipe=recipe, variant=variant, seed=settings.seed, mc_prefix_rate=mc_prefix_rate)
    forget = example_source(benchmark, processor, _ids(benchmark, forget_split(forget_ratio)), kinds=forget_kinds,
                            **common)
    retain = (
        example_source(benchmark, processor, _ids(benchmark, retain_split(forget_ratio)), **common)
        if objective.uses_retain
        else None
    )
    return unlearn(model, processor, forget, retain, settings, objective, device=device, progress=progress)


def run_finetune(
    model_path: Path,
    benchmark: Benchmark,
    out: Path,
    settings: TrainSettings,
    *,
    recipe: Recipe = "ft",
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
    save: SaveMode = "merged",
    progress: bool = True,
    command: str = "",
    mc_prefix_rate: float = 0.75,
) -> Path:
    """``python -m unlearning finetune``: load, fine-tune, save with a model card; returns the folder."""
    seed_everything(settings.seed, threads=threads)
    dev = pick_device(device)
    model, processor = load_for_training(model_path, device=dev, dtype=dtype)
    model, log = finetune_in_memory(model, processor, benchmark, settings, recipe=recipe, device=dev,
                                    progress=progress, mc_prefix_rate=mc_prefix_rate)
    card = ModelCard(
        method="vanilla", base_model=str(model_path), data=benchmark.source,
        dataset_fingerprint=benchmark.fingerprint, recipe=recipe, variant="multimodal",
        hyperparameters=hyperparameters_record(settings, None), training=training_record(log), command=command,
        git_commit=git_commit(),
    )
    return save_checkpoint(model, processor, out, card, mode=save)


def run_unlearning(
    model_path: Path,
    benchmark: Benchmark,
    out: Path,
    settings: TrainSettings,
    objective: UnlearnSettings,
    *,
    variant: Variant,
    forget_ratio: int,
    recipe: Recipe = "ft",
    device: str | None = None,
    dtype: str | None = None,
    threads: int | None = None,
    save: SaveMode = "merged",
    progress: bool = True,
    command: str = "",
    mc_prefix_rate: float = 0.75,
) -> Path:
    """``python -m unlearning run``: load the vanilla model, unlearn, save with a model card."""
    seed_everything(settings.seed, threads=threads)
    dev = pick_device(device)
    model, processor = load_for_training(model_path, device=dev, dtype=dtype)
    model, log = unlearn_in_memory(model, processor, benchmark, settings, objective, variant=variant,
                                   forget_ratio=forget_ratio, recipe=recipe, device=dev, progress=progress,
                                   mc_prefix_rate=mc_prefix_rate)
    card = ModelCard(
        method=objective.method, base_model=str(model_path), data=benchmark.source,
        dataset_fingerprint=benchmark.fingerprint, recipe=recipe, variant=variant, forget_ratio=forget_ratio,
        hyperparameters=hyperparameters_record(settings, objective), training=training_record(log), command=command,
        git_commit=git_commit(),
    )
    return save_checkpoint(model, processor, out, card, mode=save)
