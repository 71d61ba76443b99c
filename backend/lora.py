"""LoRA on the language model's linear layers only (spec section 6): unlearning trains with it, relearning attacks too.

The vanilla fine-tune and every baseline put LoRA adapters on the linear
layers of the *language model* (attention and MLP projections), never on the
vision tower, the multimodal projector or the output head. The targets are
found by object identity under the model's decoder (``model.get_decoder()``),
so the rule holds for any ``AutoModelForImageTextToText`` architecture, not
just for LLaVA's module names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters; the defaults are the benchmark's."""

    r: int = 16
    """Rank of the update matrices."""
    alpha: int = 16
    """Scaling numerator: updates are scaled by ``alpha / r``."""
    dropout: float = 0.05
    """Dropout on the LoRA input."""


def language_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model's language-model (decoder) submodule.

    Raises:
        ValueError: if the model exposes no decoder.
    """
    getter = getattr(model, "get_decoder", None)
    decoder = getter() if callable(getter) else None
    if decoder is None:
        raise ValueError(f"{type(model).__name__} has no get_decoder(): cannot tell its language model apart")
    return decoder


def language_model_linear_targets(model: torch.nn.Module) -> list[str]:
    """Full names of every ``nn.Linear`` inside the language model, in module order.

    Excludes the vision tower, the projector and ``lm_head`` (which sit outside
    the decoder), and embeddings (not linear layers).
    """
    import torch

    decoder = language_model(model)
    inside = {id(m) for m in decoder.modules()}
    names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) in inside]
    if not names:
        raise ValueError(f"found no linear layers in the language model of {type(model).__name__}")
    return names


def attach_lora(model: torch.nn.Module, settings: LoraSettings) -> Any:
    """Wrap ``model`` in a fresh PEFT LoRA model on the language model's linear layers.

    Only the adapter weights are trainable afterwards.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=language_model_linear_targets(model),
        bias="none",
    )
    return get_peft_model(model, config)
