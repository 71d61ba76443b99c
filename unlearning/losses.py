"""The training objectives, as small pure functions of logits and labels.

Every loss is computed on answer tokens only: label positions set to
:data:`IGNORE_INDEX` (the prompt, the image placeholders, padding) count for
nothing. Conventions follow the methods' reference implementations:

- cross-entropy / gradient ascent use the mean NLL over all answer tokens of the
  batch (what ``model(..., labels=...)`` returns);
- NPO uses each sequence's *summed* answer NLL, its negative log-likelihood
  (Zhang et al. 2024, "Negative Preference Optimization", and the MLLMU-Bench
  baseline): ``-logsigmoid(beta * (L_cur - L_ref)).mean() * 2 / beta``;
- KL minimisation uses ``KL(p_ref || p_cur)`` over the vocabulary at each
  retain answer token, averaged over those tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
"""Label value of positions that carry no loss (prompt, image tokens, padding)."""


def _shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align logits at position ``t`` with the label at ``t + 1`` (causal language modelling)."""
    return logits[:, :-1, :], labels[:, 1:]


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihood of the labels, and the mask of answer tokens.

    Args:
        logits: ``(batch, seq, vocab)`` model outputs.
        labels: ``(batch, seq)`` token ids, :data:`IGNORE_INDEX` where no loss applies.

    Returns:
        ``(nll, mask)``, both ``(batch, seq - 1)``: the NLL of each next token (0 where
        masked) and a float mask that is 1 at answer tokens.
    """
    import torch.nn.functional as F

    logits, labels = _shift(logits, labels)
    mask = labels != IGNORE_INDEX
    safe = labels.masked_fill(~mask, 0)
    nll = F.cross_entropy(logits.transpose(1, 2).float(), safe, reduction="none")
    return nll * mask, mask.float()


def mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL over every answer token of the batch (standard causal-LM cross-entropy)."""
    nll, mask = token_nll(logits, labels)
    return nll.sum() / mask.sum().clamp(min=1.0)


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed answer NLL of each sequence, shape ``(batch,)``: minus its log-likelihood."""
    nll, _ = token_nll(logits, labels)
    return nll.sum(dim=1)


def gradient_ascent_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """GA: the negative cross-entropy on forget answers; minimising it raises their NLL."""
    return -mean_nll(logits, labels)


def npo_loss(current_nll: torch.Tensor, reference_nll: torch.Tensor, beta: float) -> torch.Tensor:
    """Negative Preference Optimization on forget sequences.

    ``-logsigmoid(beta * (L_cur - L_ref)).mean() * 2 / beta`` where ``L`` is each
    sequence's summed answer NLL under the current and the reference (vanilla)
    model. At the start ``L_cur == L_ref`` and the loss is ``2 log 2 / beta``;
    it falls towards 0 as the current model's NLL of the forget answers rises,
    with a gradient that vanishes once they are forgotten (unlike GA's).

    Args:
        current_nll: ``(batch,)`` summed NLL under the model being trained.
        reference_nll: ``(batch,)`` summed NLL under the frozen reference (no gradient).
        beta: Inverse temperature (the paper's 0.4 by default in this package).
    """
    import torch.nn.functional as F

    if beta <= 0:
        raise ValueError(f"NPO beta must be positive, got {beta}")
    return -F.logsigmoid(beta * (current_nll - reference_nll.detach())).mean() * 2 / beta


def kl_to_reference(current_logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``KL(p_ref || p_cur)`` of the next-token distributions, averaged over answer tokens.

    Zero exactly when the two models agree at every answer position.
    """
    import torch.nn.functional as F

    cur, labels_s = _shift(current_logits, labels)
    ref, _ = _shift(reference_logits, labels)
    mask = (labels_s != IGNORE_INDEX).float()
    cur_logp = F.log_softmax(cur.float(), dim=-1)
    ref_logp = F.log_softmax(ref.detach().float(), dim=-1)
    per_token = (ref_logp.exp() * (ref_logp - cur_logp)).sum(dim=-1)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
