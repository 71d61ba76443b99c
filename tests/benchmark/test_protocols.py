"""Prompts, few-shot rules, answer extraction, metrics and the upstream results layout."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmark import prompts, protocols
from benchmark.dataset import Cloze, Generation, MultipleChoice
from benchmark.extraction import official_answer, official_letter
from benchmark.metrics import (
    METRICS,
    CellKey,
    Unit,
    all_cell_keys,
    headline_metric,
    metric_units,
    register_metric,
    score,
)
from benchmark.reader import load_benchmark
from benchmark.records import aggregate, make_record, read_records
from benchmark.strict_pool import strict_pool
from benchmark.upstream import upstream_results
from benchmark.vocabulary import EvalSet, Modality, Split, Task


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("demo")


MC = MultipleChoice(
    question="What hobby?",
    options={"A": "Coding", "B": "Painting", "C": "Sports", "D": "Stamps"},
    correct="B",
    modality=Modality.IMAGE_TEXT,
)


def test_official_prompt_strings_are_upstreams():
    assert prompts.official_mc_query(MC, Modality.IMAGE_TEXT) == (
        "USER: <image>\nWhat hobby?\nA: Coding\nB: Painting\nC: Sports\nD: Stamps\n"
        "Just give ONE letter representing the answer directly.\nASSISTANT:"
    )
    assert prompts.official_mc_query(MC, Modality.TEXT).startswith("USER:\nWhat hobby?\nA: Coding")
    assert prompts.official_mc_demo(MC, Modality.IMAGE_TEXT) == (
        "USER: <image>\nQuestion: What hobby?\nA: Coding\nB: Painting\nC: Sports\nD: Stamps\nCorrect Answer: B\n"
    )
    cz = Cloze(question="Born in __.", ground_truth="Riga", modality=Modality.IMAGE_TEXT)
    blank = "Born in [Blank].\nPlease **ONLY** provide the correct answer that should replace the [Blank]."
    assert prompts.official_cloze_demo(cz) == f"USER:<image>\n{blank}\nCorrect Answer: Riga\n"
    assert prompts.official_cloze_query(cz) == f"USER: <image>\n{blank}\nASSISTANT:"
    g_img = Generation(question="Where?", ground_truth="x", modality=Modality.IMAGE_TEXT)
    g_txt = Generation(question="Where?", ground_truth="x", modality=Modality.TEXT)
    assert prompts.official_generation_prompt(g_img) == (
        "USER: <image>\nWhere?\nAnswer the question based on your trained knowledge in one sentence accurately "
        "in ENGLISH.\nASSISTANT: "
    )
    assert prompts.official_generation_prompt(g_txt) == (
        "USER: Where?\nAnswer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:"
    )


def test_official_few_shot_rules(bench):
    items = protocols.plan(bench, 10, "official", seed=3)
    forget_ids = {p.id for p in bench.split(Split.FORGET_10)}
    by = Counter((i.eval_set, i.task, i.modality) for i in items)
    # Multiple choice: one demo profile drawn from the evaluated set; its questions are skipped.
    assert by[(EvalSet.FORGET, Task.CLASSIFICATION, Modality.IMAGE_TEXT)] == 5 * (len(forget_ids) - 1)
    # Cloze: two demo profiles for LLaVA-style models, one for Idefics2.
    assert by[(EvalSet.FORGET, Task.CLOZE, Modality.TEXT)] == 2 * (len(forget_ids) - 2)
    idefics = Counter((i.eval_set, i.task) for i in protocols.plan(bench, 10, "official", seed=3, style="idefics2"))
    assert idefics[(EvalSet.FORGET, Task.CLOZE)] == 4 * (len(forget_ids) - 1)
    # Generation is zero-shot and complete.
    assert by[(EvalSet.FORGET, Task.GENERATION, Modality.IMAGE_TEXT)] == 2 * len(forget_ids)

    mc = next(
        i
        for i in items
        if i.eval_set is EvalSet.FORGET and i.task is Task.CLASSIFICATION and i.modality is Modality.IMAGE_TEXT
    )
    assert mc.prompt.count("USER: <image>") == 6 and len(mc.images) == 6  # 5 demos + the query
    assert mc.prompt.count("ASSISTANT:") == 1 and mc.prompt.endswith("ASSISTANT:")
    demo_id = next(
        iter(
            forget_ids - {i.profile_id for i in items if i.eval_set is EvalSet.FORGET and i.task is Task.CLASSIFICATION}
        )
    )
    demo = next(p for p in bench.split(Split.FULL) if p.id == demo_id)
    assert f"Question: {demo.multiple_choice[0].question}" in mc.prompt  # the leak that strict fixes

    # The celebrity set: no multiple-choice demos (its IDs are not in the full set).
    celeb = [i for i in items if i.eval_set is EvalSet.CELEBRITY and i.task is Task.CLASSIFICATION]
    assert len(celeb) == 10 * 8 and all("Correct Answer" not in i.prompt for i in celeb)
    # Text-only questions carry no image.
    assert all(not i.images for i in items if i.modality is Modality.TEXT)
    # The test set asks only about forget IDs, showing one of their transformed portraits.
    test_items = [i for i in items if i.eval_set is EvalSet.TEST and i.modality is Modality.IMAGE_TEXT]
    test_rows = {p.id: p for p in bench.split(Split.TEST)}
    assert {i.profile_id for i in test_items} <= forget_ids
    assert all(i.images[-1] == test_rows[i.profile_id].images[i.image_index] for i in test_items)


def test_planning_is_seeded(bench):
    a = protocols.plan(bench, 5, "official", seed=1)
    assert a == protocols.plan(bench, 5, "official", seed=1)
    assert any(x != y for x, y in zip(a, protocols.plan(bench, 5, "official", seed=2), strict=False))
    # Planning some sets gives the same items as planning all and filtering.
    only = protocols.plan(bench, 5, "official", seed=1, sets=[EvalSet.TEST])
    assert only == [i for i in a if i.eval_set is EvalSet.TEST]


def test_strict_demos_come_from_a_disjoint_pool(bench):
    items = protocols.plan(bench, 15, "strict", seed=0)
    pool_names = [p.name for p in strict_pool()]
    all_ids = {p.id for s in bench.splits.values() for p in s}
    assert not all_ids & {p.id for p in strict_pool()}
    mc = [i for i in items if i.task is Task.CLASSIFICATION]
    assert all(i.score_letters and i.prompt is None for i in mc)
    # Every evaluated question is asked (nothing skipped for demos).
    assert len(mc) == 10 * (6 + 6 + 34 + 8)
    text_mc = next(i for i in mc if i.modality is Modality.TEXT)
    demo_text = " ".join(turn.text for turn in text_mc.messages[:-1])
    assert any(name in demo_text for name in pool_names)
    image_mc = next(i for i in mc if i.modality is Modality.IMAGE_TEXT)
    n_image_slots = sum(turn.images for turn in image_mc.messages)
    assert n_image_slots == len(image_mc.images)


def test_answer_extraction_follows_upstream():
    assert official_answer(" B\nUSER: next ASSISTANT: C") == "B\nUSER: next"
    assert official_answer("  Riga, Latvia ") == "Riga, Latvia"
    assert official_letter("b) Painting") == "B"
    assert official_letter("Correct Answer: B") == "C"  # upstream reads the first character only
    assert official_letter(" I think B".strip()) is None
    assert official_letter("") is None


def test_correct_answer_prefix_scores_as_c():
    # Upstream takes the first character: "Correct Answer: B" is read as C, which is a valid letter.
    rec = make_record(
        key="k",
        eval_set=EvalSet.FORGET,
        task=Task.CLASSIFICATION,
        modality=Modality.TEXT,
        profile_id="001",
        question_index=0,
        question="q",
        reference="C",
        image_index=None,
        raw_output=" Correct Answer: B",
    )
    assert rec.answer == "C" and rec.parsed and rec.scores == {"accuracy": 1.0}


def test_metric_registry_gives_units_and_one_headline_per_task():
    assert metric_units(Task.GENERATION) == {"rouge1": Unit.FRACTION, "rouge2": Unit.FRACTION,
                                             "rougeL": Unit.FRACTION, "bleu": Unit.FRACTION}
    assert metric_units(Task.CLASSIFICATION) == metric_units(Task.CLOZE) == {"accuracy": Unit.PERCENT}
    assert [headline_metric(t).name for t in Task] == ["accuracy", "rougeL", "accuracy"]
    assert CellKey.parse("forget/generation/text/rougeL").unit is Unit.FRACTION
    with pytest.raises(ValueError, match="did you mean 'rougeL'"):
        CellKey.parse("forget/generation/text/rougel")
    assert len(all_cell_keys()) == 4 * 2 * (1 + 4 + 1) and len(all_cell_keys(headline_only=True)) == 24
    with pytest.raises(ValueError, match="already has a headline metric"):
        register_metric("exact", task=Task.CLOZE, unit=Unit.PERCENT, description="x", headline=True)(lambda a, r: 0.0)


def test_metrics_are_registered_with_scales():
    assert {(t.value, n) for t, n in METRICS} == {
        ("classification", "accuracy"),
        ("cloze", "accuracy"),
        ("generation", "rouge1"),
        ("generation", "rouge2"),
        ("generation", "rougeL"),
        ("generation", "bleu"),
    }
    assert METRICS[(Task.CLASSIFICATION, "accuracy")].aggregate([1, 0, 0, 1]) == 50.0
    assert METRICS[(Task.GENERATION, "rougeL")].aggregate([0.5, 1.0]) == 0.75
    assert METRICS[(Task.GENERATION, "rougeL")].aggregate([]) is None
    assert score(Task.CLOZE, "It is riga, I think", "Riga") == {"accuracy": 1.0}
    assert score(Task.CLOZE, "Tallinn", "Riga") == {"accuracy": 0.0}
    gen = score(Task.GENERATION, "She was born in Riga.", "This person was born in Riga, Latvia.")
    assert 0 < gen["rougeL"] < 1 and 0 < gen["bleu"] < 1


def test_official_results_layout_matches_upstreams_keys(official_values):
    recs = []
    for task, modality, raw, ref in [
        (Task.CLOZE, Modality.IMAGE_TEXT, " Riga", "Riga"),
        (Task.CLOZE, Modality.TEXT, " no", "Riga"),
        (Task.CLASSIFICATION, Modality.IMAGE_TEXT, " A", "A"),
        (Task.CLASSIFICATION, Modality.TEXT, " x", "A"),
        (Task.GENERATION, Modality.IMAGE_TEXT, "Born in Riga.", "Born in Riga."),
        (Task.GENERATION, Modality.TEXT, "Born in Riga.", "Born in Riga."),
    ]:
        recs.append(
            make_record(
                key=f"{task}/{modality}",
                eval_set=EvalSet.FORGET,
                task=task,
                modality=modality,
                profile_id="001",
                question_index=0,
                question="q",
                reference=ref,
                image_index=None,
                raw_output=raw,
            )
        )
    official = upstream_results(aggregate(recs))
    upstream = official_values
    assert list(official) == ["Forget Set Results"]
    for task_key, block in upstream["Forget Set Results"].items():
        assert list(official["Forget Set Results"][task_key]) == list(block), task_key
    assert official["Forget Set Results"]["classification"]["Pure Text Question Accuracy"] == 0.0
    cells = aggregate(recs)
    assert cells[CellKey(EvalSet.FORGET, Task.CLASSIFICATION, Modality.TEXT, "accuracy")].n_unparsed == 1


def test_read_records_ignores_a_torn_tail(tmp_path):
    rec = make_record(
        key="k",
        eval_set=EvalSet.TEST,
        task=Task.CLOZE,
        modality=Modality.TEXT,
        profile_id="001",
        question_index=0,
        question="q",
        reference="Riga",
        image_index=None,
        raw_output="Riga",
    )
    path = tmp_path / "s.jsonl"
    line = rec.model_dump_json()
    assert json.loads(line)["set"] == "test"
    path.write_text(line + "\n" + line[:20])
    assert read_records(path) == [rec]
    path.write_text(line[:20] + "\n" + line + "\n")
    with pytest.raises(ValueError):
        read_records(path)


def test_cloze_demos_follow_the_full_sets_row_order(bench):
    """Upstream takes the sampled demo profiles from Full_Set with ``isin``: Full_Set's order, whatever the draw."""
    order = [p.id for p in bench.split(Split.FULL)]
    reversed_draws = 0
    for seed in range(12):
        items = protocols.plan(bench, 10, "official", seed=seed)
        for eval_set in (EvalSet.FORGET, EvalSet.RETAIN):
            asked = {i.profile_id for i in items if i.eval_set is eval_set and i.task is Task.CLOZE}
            demos = [p for p in bench.eval_profiles(eval_set, 10) if p.id not in asked]
            assert len(demos) == 2
            cloze = next(i for i in items if i.eval_set is eval_set and i.task is Task.CLOZE
                         and i.modality is Modality.TEXT)
            first, second = sorted(demos, key=lambda p: order.index(p.id))
            # Text-only cloze demos name their person: the first demo in the prompt is the first in Full_Set.
            assert cloze.prompt.index(first.name) < cloze.prompt.index(second.name)
            rng = protocols._rng(seed, eval_set, Task.CLOZE)
            drawn = rng.sample([p.id for p in bench.eval_profiles(eval_set, 10)], 2)
            reversed_draws += drawn != [first.id, second.id]
    assert reversed_draws > 0  # the draws do come out in the other order, so the rule is exercised


def test_idefics2_text_multiple_choice_gets_upstreams_five_tokens(bench):
    items = protocols.plan(bench, 10, "official", seed=0, style="idefics2")
    mc_text = [i for i in items if i.task is Task.CLASSIFICATION and i.modality is Modality.TEXT]
    assert mc_text and {i.max_new_tokens for i in mc_text} == {5}
    assert {i.max_new_tokens for i in items if i not in mc_text} == {50}
    llava = protocols.plan(bench, 10, "official", seed=0, style="llava")
    assert {i.max_new_tokens for i in llava} == {50}
    assert protocols.official_token_limits("idefics2") == {"classification/text": 5}
    assert protocols.official_token_limits("llava") == {}


def test_scoring_waits_for_the_scoring_libraries_importing_in_the_background(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    import benchmark.metrics as metrics

    done = threading.Event()
    started: list[str] = []

    def slow_warm() -> None:
        started.append(threading.current_thread().name)
        time.sleep(0.3)
        done.set()

    monkeypatch.setattr(metrics, "_warming", None)
    monkeypatch.setattr(metrics, "warm", slow_warm)
    metrics.warm_in_background()
    metrics.warm_in_background()  # once per process
    same = "This person was born in Riga, Latvia."
    assert metrics.bleu(same, same) == pytest.approx(1.0)
    assert done.is_set() and started == ["warm-metrics"]  # bleu waited for the import thread, which ran once
