"""The relearning attack: a few LoRA steps on some forget people, then the questions about the others.

If unlearning only hid the knowledge, a little fine-tuning on *related* data
brings it back for people the attacker never trained on (relearning attacks
on text LLMs: arXiv 2406.13356, 2410.08827). Here the forget people are split
in two with a seed: the model is fine-tuned on the benchmark's own
fine-tuning pairs (``ft_Data``) of one half, with their portraits, and asked
about the other half (:func:`split_people`). Training is plain: a fresh LoRA
on the language model's linear layers (:mod:`backend.lora`), AdamW, loss on
answer tokens only, seeded, no dropout; the adapter is merged before
evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.dataset import Benchmark
from benchmark.prompts import free_prompt

IGNORE_INDEX = -100
"""Label of positions without loss (the prompt, image tokens, padding)."""


@dataclass(frozen=True)
class RelearnSettings:
    """How hard the attacker fine-tunes."""

    steps: int = 20
    """Optimiser steps."""
    lr: float = 1e-3
    """AdamW learning rate of the LoRA weights."""
    batch_size: int = 8
    """Examples per step."""
    r: int = 16
    """LoRA rank (alpha = r)."""
    seed: int = 0
    """Seeds the split of the people, the batches and the adapter's initialisation."""


def split_people(forget_ids: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """``(trained on, asked about)``: a seeded half of the forget people, and the rest (at least one each)."""
    ids = sorted(forget_ids)
    if len(ids) < 2:
        raise ValueError("relearning needs at least two forget people: one to train on, one to ask about")
    random.Random(f"{seed}/relearn").shuffle(ids)
    half = len(ids) // 2
    return sorted(ids[:half]), sorted(ids[half:])


def relearning_examples(benchmark: Benchmark, people: Sequence[str]) -> list[tuple[str, bytes, str]]:
    """``(prompt, portrait, answer)`` for every fine-tuning pair of ``people``, in the zero-shot official shape."""
    wanted = set(people)
    out = [(free_prompt(pair.question, with_image=True), record.image, pair.answer)
           for record in benchmark.finetune if record.id in wanted for pair in record.pairs]
    if not out:
        raise ValueError(f"the benchmark has no ft_Data pairs for {', '.join(sorted(wanted))}; cannot relearn")
    return out


def relearn(model: Any, processor: Any, examples: Sequence[tuple[str, bytes, str]], settings: RelearnSettings
            ) -> tuple[Any, list[float]]:
    """Fine-tune ``model`` (in place, then merged) on ``examples``; returns the model and the loss per step."""
    import torch

    from backend.lora import LoraSettings, attach_lora
    from backend.model import decode_images

    torch.manual_seed(settings.seed)
    tokenizer = processor.tokenizer
    encoded = []
    for prompt, image, answer in examples:
        images = decode_images([image])
        full = processor(text=prompt + " " + answer + (tokenizer.eos_token or ""), images=images,
                         return_tensors="pt")
        n_prompt = processor(text=prompt, images=images, return_tensors="pt")["input_ids"].shape[1]
        ids = full["input_ids"][0]
        labels = ids.clone()
        labels[:n_prompt] = IGNORE_INDEX
        encoded.append((ids, labels, full["pixel_values"]))

    peft_model = attach_lora(model, LoraSettings(r=settings.r, alpha=settings.r, dropout=0.0))
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    rng = random.Random(f"{settings.seed}/relearn-batches")
    order: list[int] = []
    losses: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for _ in range(settings.steps):
        batch = []
        for _ in range(min(settings.batch_size, len(encoded))):
            if not order:
                order = list(range(len(encoded)))
                rng.shuffle(order)
            batch.append(encoded[order.pop()])
        width = max(len(ids) for ids, _, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, lab, _) in enumerate(batch):
            input_ids[row, width - len(ids):] = ids
            labels[row, width - len(ids):] = lab
            attention[row, width - len(ids):] = 1
        pixels = torch.cat([px for _, _, px in batch], dim=0).to(next(peft_model.parameters()).dtype)
        device = next(peft_model.parameters()).device
        out = peft_model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
                         pixel_values=pixels.to(device), labels=labels.to(device))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, losses
