"""Fine-tune -> unlearn -> save -> evaluate (the CLI) -> ingest (the CLI) -> the leaderboard, on a demo slice."""

from __future__ import annotations

import copy

import pytest
import torch

from backend.lora import LoraSettings
from benchmark.vocabulary import Split
from unlearning.service import finetune_in_memory, unlearn_in_memory
from unlearning.training import TrainSettings, UnlearnSettings, seed_everything

N_RETAIN = 6
"""Retain people in the end-to-end slice."""


def _slice(bench, n_retain: int):
    """The forget_10 people plus ``n_retain`` retain people: a benchmark small enough to learn in seconds."""
    forget = bench.split(Split.FORGET_10)
    retain = bench.split(Split.RETAIN_90)[:n_retain]
    keep = {p.id for p in (*forget, *retain)}
    splits = {
        Split.FULL: tuple(p for p in bench.split(Split.FULL) if p.id in keep),
        Split.FORGET_10: forget,
        Split.RETAIN_90: retain,
    }
    return bench.model_copy(update={"splits": splits, "finetune": tuple(r for r in bench.finetune if r.id in keep)})


VANILLA = TrainSettings(lr=1e-3, batch_size=16, max_steps=600, warmup_steps=20, schedule="linear", full=True)
"""The fine-tune: the demo checkpoints' learning rate (at 3e-3 the tiny model learns unevenly), long enough that it
knows every fact of the slice (generation ROUGE-L 1.0 on forget and retain, for seeds 0-3)."""

UNLEARN = TrainSettings(lr=1e-3, batch_size=8, max_steps=60, lora=LoraSettings())
OBJECTIVE = UnlearnSettings(method="npo", retain_weight=5.0)
"""NPO+RT on the benchmark's own unlearning data (ft_Data pairs): NPO on the forget people plus cross-entropy on
the retain people (weight 5).

Why not plain GA on the demo recipe, as this test once used: on a tiny model that has memorised templated answers,
gradient ascent jumps from forgetting nothing to forgetting everyone within a few steps, and where it lands depends
on the last bits of the arithmetic, which differ between CPUs. Measured on this slice over 9 runs (fine-tune seeds
0-5, and seeds 0-2 again with 2 threads, which sum in another order as another CPU does): GA at lr 2e-3 for 15
steps met every assertion below in 1 of 5 runs tried (issue 12's machine: forget drop 0.168 against a bar of
0.245); no GA or GradDiff setting tried met them in more than 2 of 4; NPO+RT on the demo recipe (which also
unlearns the forget people's multiple-choice letters and cloze answers, shared with everyone) in 8 of 9. This
recipe met them in 9 of 9: forget drop 0.42-0.69, retain drop 0.000, utility gap at most 1.3 points."""


@pytest.mark.slow
def test_finetune_unlearn_evaluate_ingest_ranks_vanilla_above_unlearned_on_forget_knowledge(
    tiny, tiny_dir, bench, tmp_path, monkeypatch
):
    """The whole researcher's path: train, unlearn, save, ``probes.evaluate``, ``leaderboard ingest``, the table."""
    from benchmark.vocabulary import Protocol
    from leaderboard.cli import main as leaderboard_cli
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.evaluate import main as evaluate_cli
    from unlearning.checkpoint import ModelCard, save_checkpoint

    model, processor = tiny
    small = _slice(bench, n_retain=N_RETAIN)
    seed_everything(0, threads=1)
    model, _ = finetune_in_memory(model, processor, small, VANILLA, recipe="demo", progress=False,
                                  include_celebrities=False)
    seed_everything(0, threads=1)
    unlearned, log = unlearn_in_memory(copy.deepcopy(model), processor, small, UNLEARN, OBJECTIVE,
                                       variant="multimodal", forget_ratio=10, recipe="ft", progress=False)
    assert log.last_loss is not None and log.first_loss is not None and log.last_loss < log.first_loss

    monkeypatch.setenv("MLLMU_LEADERBOARD_SEED_REFERENCES", "false")
    monkeypatch.setenv("MLLMU_LEADERBOARD_SEED_DEMO", "false")
    db, runs = tmp_path / "board.sqlite", tmp_path / "runs"
    folders = {"e2e-base": tiny_dir}
    for name, trained, method in (("e2e-vanilla", model, "vanilla"), ("e2e-npo", unlearned, "npo")):
        vanilla = method == "vanilla"
        card = ModelCard(method=method, base_model="tiny", data="demo", dataset_fingerprint=bench.fingerprint,
                         recipe="demo" if vanilla else "ft", forget_ratio=None if vanilla else 10)
        folders[name] = save_checkpoint(trained, processor, tmp_path / "models" / name, card)
    rows = (("e2e-base", "untrained", "none"), ("e2e-vanilla", "vanilla", "none"), ("e2e-npo", "NPO+RT", "multimodal"))
    for name, method, modality in rows:
        # The slice's people are forget_10 and the first N_RETAIN of retain_90: exactly what --limit picks.
        assert evaluate_cli(["--model", str(folders[name]), "--data", "demo", "--forget-ratio", "10",
                             "--sets", "forget,retain", "--limit", str(N_RETAIN), "--out", str(runs),
                             "--name", name, "--method", method, "--unlearning-modality", modality,
                             "--model-name", name, "--submitter", "e2e", "--no-progress"]) == 0
        assert leaderboard_cli(["ingest", str(runs / f"{name}.submission.json"), "--samples",
                                str(runs / f"{name}.samples.jsonl"), "--db", str(db), "--approve"]) == 0

    with Leaderboard.open(LeaderboardSettings(db_path=db)) as board:
        table = board.table(Protocol.OFFICIAL)
    frame = table.frame.set_index("model_name")
    assert sorted(frame.index) == ["e2e-base", "e2e-npo", "e2e-vanilla"]

    def knowledge(row: str, eval_set: str) -> float:
        """Mean generation ROUGE-L over both modalities: the least noisy figure on a few people."""
        return sum(frame.loc[row, f"{eval_set}/generation/{m}/rougeL"] for m in ("image_text", "text")) / 2

    forget_drop = knowledge("e2e-vanilla", "forget") - knowledge("e2e-npo", "forget")
    retain_drop = knowledge("e2e-vanilla", "retain") - knowledge("e2e-npo", "retain")
    summary = f"forget drop {forget_drop:.3f}, retain drop {retain_drop:.3f}\n{frame.T.to_string()}"
    # The fine-tune really taught the facts.
    assert frame.loc["e2e-vanilla", "forget/generation/text/rougeL"] > 0.8, summary
    # Measured with these settings (seed 0, 1 thread): forget drop 0.577, retain drop 0.000, utility unchanged.
    assert forget_drop > 0.08, summary
    assert forget_drop > 3 * max(retain_drop, 0.0) + 0.05, summary
    # Forget-set knowledge, by the board's own ranking (lower is better there): the unlearned row first, then
    # the vanilla row; the untrained base knows nothing and is ranked best (the board does not judge utility).
    for m in ("image_text", "text"):
        column = f"forget/generation/{m}/rougeL"
        assert table.lower_is_better(column)
        assert list(table.sorted_by(column)["model_name"]) == ["e2e-base", "e2e-npo", "e2e-vanilla"], summary
    # Utility: the two trained rows far above the untrained base, the unlearned one close to the vanilla one.
    by_utility = list(table.sorted_by("utility")["model_name"])
    assert by_utility[-1] == "e2e-base", summary
    for row in ("e2e-vanilla", "e2e-npo"):
        assert frame.loc[row, "utility"] > frame.loc["e2e-base", "utility"] + 20, summary
    assert abs(frame.loc["e2e-vanilla", "utility"] - frame.loc["e2e-npo", "utility"]) < 5, summary


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tiny_dir, bench):
    from unlearning.checkpoint import load_for_training

    small = _slice(bench, n_retain=2)

    def train(seed: int) -> dict[str, torch.Tensor]:
        seed_everything(seed, threads=1)
        model, processor = load_for_training(tiny_dir)
        settings = TrainSettings(lr=1e-3, batch_size=4, max_steps=3, seed=seed)
        model, _ = unlearn_in_memory(model, processor, small, settings, UnlearnSettings(method="npo"),
                                     variant="multimodal", forget_ratio=10, recipe="ft", progress=False)
        return {k: v.clone() for k, v in model.merge_and_unload().state_dict().items()}

    a, b, c = train(0), train(0), train(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
