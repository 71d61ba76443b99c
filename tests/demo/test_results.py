"""The committed demo results show clear, selective forgetting (issue 15), and the retain-only reference."""

from __future__ import annotations

import json

import pytest

from demo.results import DEMO_ROWS, RESULTS_DIR

FORGET_DROP = 0.30
"""Each demo method lowers the forget set's image+text generation ROUGE-L by at least this much (0-1 scale)."""

UNLEARNED = [r.model for r in DEMO_ROWS if r.unlearning_modality not in (None, "none")]


def _cells(model: str) -> dict[str, float]:
    data = json.loads((RESULTS_DIR / f"{model}.submission.json").read_text(encoding="utf-8"))
    return {f"{c['set']}/{c['task']}/{c['modality']}/{c['metric']}": c["value"] for c in data["cells"]}


def _rouge(model: str, eval_set: str, modality: str = "image_text") -> float:
    return _cells(model)[f"{eval_set}/generation/{modality}/rougeL"]


def test_every_demo_row_has_its_result_file():
    assert {r.model for r in DEMO_ROWS} >= {"demo-vanilla", "demo-ga", "demo-graddiff", "demo-npo", "demo-retain"}
    assert sorted(UNLEARNED) == ["demo-ga", "demo-graddiff", "demo-npo"]
    for row in DEMO_ROWS:
        meta = json.loads((RESULTS_DIR / f"{row.model}.submission.json").read_text(encoding="utf-8"))["metadata"]
        assert (meta["model_name"], meta["method"], meta["forget_ratio"]) == (row.model, row.method, 10)
        assert meta["unlearning_modality"] == row.unlearning_modality


@pytest.mark.parametrize("model", UNLEARNED)
def test_demo_methods_forget_clearly_and_selectively(model):
    """Forget generation ROUGE-L (image+text) falls by >= 0.3 from demo-vanilla's; retain by less than half as much."""
    forget_drop = _rouge("demo-vanilla", "forget") - _rouge(model, "forget")
    retain_drop = _rouge("demo-vanilla", "retain") - _rouge(model, "retain")
    assert forget_drop >= FORGET_DROP, f"{model}: forget ROUGE-L fell by only {forget_drop:.3f}"
    assert retain_drop < forget_drop / 2, f"{model}: retain fell by {retain_drop:.3f}, forget by {forget_drop:.3f}"
    # Retain multiple choice keeps well above chance (25 %).
    assert _cells(model)["retain/classification/image_text/accuracy"] >= 50


def test_retain_only_reference_never_learned_the_forget_people():
    """demo-retain answers the forget people's questions far worse than demo-vanilla, the retain ones as well."""
    for modality in ("image_text", "text"):
        assert _rouge("demo-retain", "forget", modality) <= _rouge("demo-vanilla", "forget", modality) - 0.3
        assert _rouge("demo-retain", "retain", modality) >= _rouge("demo-vanilla", "retain", modality) - 0.1
