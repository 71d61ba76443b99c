"""The objectives on tiny hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from unlearning.losses import (
    IGNORE_INDEX,
    gradient_ascent_loss,
    kl_to_reference,
    mean_nll,
    npo_loss,
    sequence_nll,
)


def _batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=g)
    # position 0 is the prompt; the answer is positions 2-4 (row 0) and 3-4 (row 1)
    labels = torch.tensor([[1, IGNORE_INDEX, 3, 4, 5], [1, 2, IGNORE_INDEX, 6, 0]])
    return logits, labels


def _hand_token_nlls(logits, labels):
    out = []
    for b in range(labels.shape[0]):
        row = []
        for t in range(1, labels.shape[1]):
            if labels[b, t] != IGNORE_INDEX:
                row.append(-F.log_softmax(logits[b, t - 1], dim=-1)[labels[b, t]].item())
        out.append(row)
    return out


def test_mean_and_sequence_nll_match_a_hand_computation_on_answer_tokens_only():
    logits, labels = _batch()
    hand = _hand_token_nlls(logits, labels)
    flat = [x for row in hand for x in row]
    assert mean_nll(logits, labels).item() == pytest.approx(sum(flat) / len(flat), rel=1e-6)
    assert sequence_nll(logits, labels).tolist() == pytest.approx([sum(r) for r in hand], rel=1e-6)
    # logits at positions that predict masked labels do not matter
    changed = logits.clone()
    changed[0, 0] += 100.0  # predicts labels[0, 1], which is masked
    assert mean_nll(changed, labels).item() == pytest.approx(mean_nll(logits, labels).item())


def test_gradient_ascent_is_negative_cross_entropy_and_a_step_raises_the_nll():
    logits, labels = _batch()
    assert gradient_ascent_loss(logits, labels).item() == pytest.approx(-mean_nll(logits, labels).item())
    x = logits.clone().requires_grad_(True)
    gradient_ascent_loss(x, labels).backward()
    stepped = (x - 0.5 * x.grad).detach()
    assert mean_nll(stepped, labels) > mean_nll(logits, labels)


def test_npo_matches_the_formula_by_hand():
    cur = torch.tensor([2.0, 5.0])
    ref = torch.tensor([3.0, 3.0])
    beta = 0.4
    # -logsigmoid(x) = log(1 + exp(-x)); x = beta * (cur - ref) = -0.4, 0.8
    hand = (math.log(1 + math.exp(0.4)) + math.log(1 + math.exp(-0.8))) / 2 * 2 / beta
    assert npo_loss(cur, ref, beta).item() == pytest.approx(hand, rel=1e-6)
    assert npo_loss(ref, ref, beta).item() == pytest.approx(2 * math.log(2) / beta, rel=1e-6)


def test_npo_gradient_raises_the_forget_nll_and_never_reaches_the_reference():
    cur = torch.tensor([2.0, 5.0], requires_grad=True)
    ref = torch.tensor([3.0, 3.0], requires_grad=True)
    npo_loss(cur, ref, 0.4).backward()
    assert (cur.grad < 0).all()  # descending the loss increases the current NLL
    assert ref.grad is None
    with pytest.raises(ValueError, match="beta"):
        npo_loss(cur, ref, 0.0)


def test_kl_is_zero_for_equal_models_and_matches_a_hand_computation():
    logits, labels = _batch()
    assert kl_to_reference(logits, logits.clone(), labels).item() == pytest.approx(0.0, abs=1e-7)
    other = logits + torch.linspace(0, 1, 7)
    hand = []
    for b in range(2):
        for t in range(1, 5):
            if labels[b, t] != IGNORE_INDEX:
                p = F.softmax(logits[b, t - 1], -1)
                q = F.softmax(other[b, t - 1], -1)
                hand.append((p * (p.log() - q.log())).sum().item())
    # KL(reference || current): reference = logits, current = other
    assert kl_to_reference(other, logits, labels).item() == pytest.approx(sum(hand) / len(hand), rel=1e-5)
    assert kl_to_reference(other, logits, labels).item() > 0
