"""Training loops: the vanilla fine-tune and the four unlearning methods.

Both loops are plain PyTorch (AdamW, optional warmup and linear decay,
gradient clipping), with the loss taken on answer tokens only
(:mod:`unlearning.losses`), a seeded shuffle, and a tqdm bar showing the loss.

Determinism: :func:`seed_everything` seeds Python and PyTorch and turns on
``torch.use_deterministic_algorithms``; with the same seed, data, thread count
and hardware, two runs give bit-identical weights on CPU (checked by the
tests). Different thread counts or a GPU may change the last bits.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from backend.lora import LoraSettings
from unlearning.examples import Example
from unlearning.losses import IGNORE_INDEX, gradient_ascent_loss, kl_to_reference, mean_nll, npo_loss, sequence_nll

if TYPE_CHECKING:
    import torch

Method = Literal["ga", "graddiff", "kl", "npo"]
METHODS: tuple[Method, ...] = ("ga", "graddiff", "kl", "npo")
METHOD_NAMES: dict[str, str] = {
    "vanilla": "Vanilla", "ga": "GA", "graddiff": "GradDiff", "kl": "KL", "npo": "NPO", "retain": "Retain-only",
}
"""Display names of the methods, as the paper and the leaderboard write them (``retain``: the retain-only reference)."""

Schedule = Literal["constant", "linear"]


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by fine-tuning and unlearning. Defaults: the benchmark's fine-tune."""

    lr: float = 2e-5
    """AdamW learning rate."""
    epochs: int = 5
    """Passes over the training (fine-tune) or forget (unlearning) examples."""
    batch_size: int = 4
    """Examples per optimiser step (per forget and per retain batch when unlearning)."""
    max_steps: int | None = None
    """Stop after this many optimiser steps (overrides ``epochs``; more epochs are run if needed)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    warmup_steps: int = 0
    """Linear warmup steps from 0 to ``lr``."""
    schedule: Schedule = "constant"
    """``constant`` learning rate after warmup, or ``linear`` decay to 0 at the last step."""
    grad_clip: float | None = 1.0
    """Clip the gradient norm to this value (``None``: no clipping)."""
    full: bool = False
    """Train every weight (demo recipe) instead of a fresh LoRA on the language model."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """LoRA hyperparameters (ignored with ``full``)."""
    seed: int = 0
    """Seeds shuffling, per-epoch prompt draws, dropout and LoRA initialisation."""


@dataclass(frozen=True)
class UnlearnSettings:
    """What the unlearning objective is. Defaults: the benchmark's baselines."""

    method: Method = "ga"
    """``ga``, ``graddiff``, ``kl`` or ``npo``."""
    beta: float = 0.4
    """NPO inverse temperature."""
    retain_weight: float | None = None
    """Weight of the retain cross-entropy; default 1 for graddiff and kl, 0 (none) for ga and npo."""
    kl_weight: float = 1.0
    """Weight of ``KL(vanilla || current)`` on retain answers (kl only)."""

    @property
    def effective_retain_weight(self) -> float:
        """The retain cross-entropy weight actually used."""
        if self.retain_weight is not None:
            return self.retain_weight
        return 1.0 if self.method in ("graddiff", "kl") else 0.0

    @property
    def uses_retain(self) -> bool:
        """Whether retain examples are needed."""
        return self.effective_retain_weight > 0 or self.method == "kl"

    @property
    def uses_reference(self) -> bool:
        """Whether the frozen vanilla model is needed (NPO's reference, KL's target)."""
        return self.method in ("npo", "kl")


# --------------------------------------------------------------------------- determinism


def seed_everything(seed: int, *, threads: int | None = None) -> None:
    """Seed Python and PyTorch, and ask PyTorch for deterministic kernels.

    Args:
        seed: The seed.
        threads: If given, the number of intra-op CPU threads (results can
            differ in the last bits between thread counts).
    """
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Encoded:
    """An example as token ids, with the loss mask applied to ``labels``."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    pixel_values: Any
    """``(n_images, C, H, W)`` tensor, or ``None`` without images."""


class Encoder:
    """Tokenises examples with a model's processor; prompt tokens are exactly those seen at evaluation.

    The prompt is encoded by the processor (which expands each image
    placeholder and adds the beginning-of-sequence token), the answer by the
    tokenizer without special tokens, and an end-of-sequence token is appended
    unless the answer text already ends with one. Encodings are memoised.
    """

    def __init__(self, processor: Any, *, max_cache: int = 50_000) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self._cache: dict[Example, Encoded] = {}
        self._pixels: dict[bytes, Any] = {}
        self._max_cache = max_cache
        self._tokens_per_image: int | None = None
        if type(processor).__name__ == "LlavaProcessor":
            self._tokens_per_image = self._calibrate()

    def _calibrate(self) -> int | None:
        """Tokens one image placeholder expands to, for processors that expand it to a fixed count (LLaVA-1.5)."""
        from PIL import Image

        token = getattr(self.processor, "image_token", None)
        token_id = getattr(self.processor, "image_token_id", None)
        if token is None or token_id is None:
            return None
        size = getattr(self.processor.image_processor, "crop_size", None) or {"height": 32, "width": 32}
        img = Image.new("RGB", (int(size["width"]), int(size["height"])))
        ids = self.processor(text=token, images=[img], return_tensors="pt")["input_ids"][0]
        return int((ids == token_id).sum())

    def _fast(self, example: Example) -> tuple[list[int], Any]:
        """LLaVA-1.5 fast path: expand placeholders ourselves and cache each image's pixels.

        Gives exactly the processor's ids (checked by the tests) at a fraction of
        the cost, which matters when few-shot prompts with six images are redrawn
        every epoch.
        """
        import torch

        token = self.processor.image_token
        assert self._tokens_per_image is not None
        text = example.prompt.replace(token, token * self._tokens_per_image)
        ids = [int(x) for x in self.tokenizer(text)["input_ids"]]
        if not example.images:
            return ids, None
        pixels = []
        for blob in example.images:
            if blob not in self._pixels:
                self._pixels[blob] = self.processor.image_processor(
                    images=self._images([blob]), return_tensors="pt"
                )["pixel_values"]
            pixels.append(self._pixels[blob])
        return ids, torch.cat(pixels, dim=0)

    def _images(self, data: Sequence[bytes]) -> list[Any]:
        from PIL import Image

        out = []
        for blob in data:
            with Image.open(io.BytesIO(blob)) as img:
                out.append(img.convert("RGB"))
        return out

    def encode(self, example: Example) -> Encoded:
        """Token ids, labels (prompt masked) and pixel values of one example."""
        hit = self._cache.get(example)
        if hit is not None:
            return hit
        if self._tokens_per_image is not None and example.prompt.count(self.processor.image_token) == len(
            example.images
        ):
            prompt_ids, pixel_values = self._fast(example)
        else:
            kwargs: dict[str, Any] = {"text": example.prompt, "return_tensors": "pt"}
            if example.images:
                kwargs["images"] = self._images(example.images)
            enc = self.processor(**kwargs)
            prompt_ids = [int(x) for x in enc["input_ids"][0]]
            pixel_values = enc.get("pixel_values") if example.images else None
        answer_ids = list(self.tokenizer(example.answer, add_special_tokens=False)["input_ids"])
        eos = self.tokenizer.eos_token_id
        if eos is not None and (not answer_ids or answer_ids[-1] != eos):
            answer_ids.append(int(eos))
        out = Encoded(
            input_ids=tuple(prompt_ids + answer_ids),
            labels=tuple([IGNORE_INDEX] * len(prompt_ids) + answer_ids),
            pixel_values=pixel_values,
        )
        if len(self._cache) < self._max_cache:
            self._cache[example] = out
        return out


def collate(batch: Sequence[Encoded], pad_id: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Right-pad a batch; pixel values of all its images are concatenated in order."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    out: dict[str, Any] = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
    pixels = [e.pixel_values for e in batch if e.pixel_values is not None]
    if pixels:
        out["pixel_values"] = torch.cat(pixels, dim=0).to(device)
    return out


def logits_of(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """The model's logits for a collated batch (labels are not passed: losses are ours)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if "pixel_values" in inputs:
        dtype = next(p for p in model.parameters()).dtype
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    return model(**inputs).logits


# --------------------------------------------------------------------------- batching


ExampleSource = Callable[[int], Sequence[Example]]
"""``epoch -> examples``: a fixed list, or fresh prompt draws each epoch (demo recipe)."""


def _shuffled_batches(source: ExampleSource, batch_size: int, generator: torch.Generator) -> Iterator[list[Example]]:
    """Endless batches: each epoch's examples in a seeded random order, epoch after epoch."""
    import torch

    epoch = 0
    while True:
        examples = list(source(epoch))
        if not examples:
            raise ValueError("no training examples")
        order = torch.randperm(len(examples), generator=generator).tolist()
        # Length-grouped batches (sorted within windows of 16 batches, then the batches shuffled):
        # long few-shot prompts are not padded together with short answers, which halves the cost.
        window = batch_size * 16
        batches: list[list[int]] = []
        for w in range(0, len(order), window):
            chunk = sorted(order[w : w + window], key=lambda i: _length(examples[i]))
            batches += [chunk[s : s + batch_size] for s in range(0, len(chunk), batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield [examples[i] for i in batches[b]]
        epoch += 1


def _length(example: Example) -> int:
    """A cheap proxy for an example's token count (characters plus image placeholders)."""
    return len(example.prompt) + len(example.answer) + 64 * len(example.images)


def steps_for(n_examples: int, settings: TrainSettings) -> int:
    """Optimiser steps of a run: ``epochs`` passes of ``n_examples``, or ``max_steps``."""
    if settings.max_steps is not None:
        return settings.max_steps
    return settings.epochs * math.ceil(n_examples / settings.batch_size)


def _lr_lambda(settings: TrainSettings, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if settings.warmup_steps and step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        if settings.schedule == "linear":
            span = max(1, total - settings.warmup_steps)
            return max(0.0, 1.0 - (step - settings.warmup_steps) / span)
        return 1.0

    return factor


# --------------------------------------------------------------------------- models


def prepare_trainable(model: Any, settings: TrainSettings) -> Any:
    """Make ``model`` trainable: every weight (``full``) or a fresh LoRA on the language model."""
    from backend.lora import attach_lora

    model.train()
    if settings.full:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    return attach_lora(model, settings.lora)


@dataclass
class TrainLog:
    """What a training run did."""

    steps: int = 0
    """Optimiser steps taken."""
    examples: int = 0
    """Examples in one epoch of the (forget) data."""
    retain_examples: int = 0
    """Examples in one epoch of the retain data (unlearning)."""
    first_loss: float | None = None
    """The loss of the first step."""
    last_loss: float | None = None
    """The loss of the last step."""
    seconds: float = 0.0
    """Wall time of the loop."""


def _optimise(
    model: Any,
    settings: TrainSettings,
    total: int,
    step_loss: Callable[[int], torch.Tensor],
    *,
    desc: str,
    progress: bool,
    log: TrainLog,
) -> None:
    import time

    import torch
    from tqdm.auto import tqdm

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(settings, total))
    started = time.perf_counter()
    bar = tqdm(range(total), desc=desc, unit="step", dynamic_ncols=True, disable=not progress)
    for step in bar:
        loss = step_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        scheduler.step()
        value = float(loss.detach())
        if log.first_loss is None:
            log.first_loss = value
        log.last_loss = value
        bar.set_postfix(loss=f"{value:.4f}")
    bar.close()
    log.steps = total
    log.seconds = time.perf_counter() - started


def finetune(
    model: Any,
    processor: Any,
    source: ExampleSource,
    settings: TrainSettings,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Any, TrainLog]:
    """Fine-tune ``model`` with cross-entropy on the answers of ``source``'s examples.

    Returns the trained model (a PEFT model unless ``settings.full``) and a log.
    Call :func:`seed_everything` first for a reproducible run.
    """
    import torch

    model = prepare_trainable(model, settings)
    encoder = Encoder(processor)
    pad = _pad_id(processor)
    generator = torch.Generator().manual_seed(settings.seed)
    log = TrainLog(examples=len(source(0)))
    batches = _shuffled_batches(source, settings.batch_size, generator)
    total = steps_for(log.examples, settings)

    def step_loss(_: int) -> torch.Tensor:
        batch = collate([encoder.encode(e) for e in next(batches)], pad, device)
        return mean_nll(logits_of(model, batch), batch["labels"])

    _optimise(model, settings, total, step_loss, desc="fine-tune", progress=progress, log=log)
    model.eval()
    return model, log


def unlearn(
    model: Any,
    processor: Any,
    forget: ExampleSource,
    retain: ExampleSource | None,
    settings: TrainSettings,
    objective: UnlearnSettings,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Any, TrainLog]:
    """Unlearn ``forget``'s answers from ``model`` (the vanilla model) with ``objective``.

    One step takes a forget batch and, for methods with a retain term, a
    retain batch. NPO's reference and KL's target are the vanilla model: with
    LoRA, the same network with its adapter disabled; with ``full``, a frozen
    copy taken before training.

    Returns the unlearned model (PEFT unless ``settings.full``) and a log.
    """
    import torch

    if objective.uses_retain and retain is None:
        raise ValueError(f"{objective.method} needs retain examples")
    frozen = None
    if objective.uses_reference and settings.full:
        frozen = copy.deepcopy(model).eval()
        for p in frozen.parameters():
            p.requires_grad_(False)
    model = prepare_trainable(model, settings)
    encoder = Encoder(processor)
    pad = _pad_id(processor)
    generator = torch.Generator().manual_seed(settings.seed)
    log = TrainLog(examples=len(forget(0)), retain_examples=len(retain(0)) if retain is not None else 0)
    forget_batches = _shuffled_batches(forget, settings.batch_size, generator)
    retain_batches = None
    if objective.uses_retain and retain is not None:
        retain_batches = _shuffled_batches(retain, settings.batch_size, generator)
    total = steps_for(log.examples, settings)
    rw = objective.effective_retain_weight

    @contextlib.contextmanager
    def reference() -> Iterator[Any]:
        with torch.no_grad():
            if frozen is not None:
                yield frozen
            else:
                with model.disable_adapter():
                    yield model

    def step_loss(_: int) -> torch.Tensor:
        fb = collate([encoder.encode(e) for e in next(forget_batches)], pad, device)
        f_logits = logits_of(model, fb)
        if objective.method == "npo":
            with reference() as ref:
                ref_nll = sequence_nll(logits_of(ref, fb), fb["labels"])
            loss = npo_loss(sequence_nll(f_logits, fb["labels"]), ref_nll, objective.beta)
        else:
            loss = gradient_ascent_loss(f_logits, fb["labels"])
        if retain_batches is not None:
            rb = collate([encoder.encode(e) for e in next(retain_batches)], pad, device)
            r_logits = logits_of(model, rb)
            if rw > 0:
                loss = loss + rw * mean_nll(r_logits, rb["labels"])
            if objective.method == "kl":
                with reference() as ref:
                    ref_logits = logits_of(ref, rb)
                loss = loss + objective.kl_weight * kl_to_reference(r_logits, ref_logits, rb["labels"])
        return loss

    _optimise(model, settings, total, step_loss, desc=f"unlearn ({objective.method})", progress=progress, log=log)
    model.eval()
    return model, log


def _pad_id(processor: Any) -> int:
    tok = getattr(processor, "tokenizer", processor)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an end-of-sequence token")
    return int(pad)
