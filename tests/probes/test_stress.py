"""Robustness: the attacks' rewrites, the recovery arithmetic, the file format and the stress run end to end."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmark.errors import UnsupportedSchemaVersion, ValidationFailed
from benchmark.protocols import plan
from benchmark.reader import load_benchmark
from benchmark.records import make_record, read_records
from benchmark.robustness import (
    MIN_REMOVED,
    AttackFamily,
    dump_robustness,
    estimates,
    read_robustness,
    set_score,
)
from benchmark.submission import read_submission
from benchmark.vocabulary import EvalSet, Modality, Split, Task
from probes import stress
from probes.attacks import ATTACKS, AttackContext, Query, resolve, retain_primers
from probes.relearn import split_people

from ..conftest import hash_model


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("demo")


@pytest.fixture(scope="module")
def items(bench):
    return plan(bench, 10, "official", sets=(EvalSet.FORGET,), seed=0)


def query_of(bench, item):
    people = {p.id: p for p in bench.split(Split.FULL)}
    return Query(item.prompt, item.images, item.task, item.modality, item.question, people[item.profile_id])


def first(items, task, modality):
    return next(it for it in items if it.task is task and it.modality is modality)


# --------------------------------------------------------------------------- the attacks


def test_every_question_attack_changes_only_what_it_says(bench, items):
    ctx = AttackContext(primers=retain_primers(bench, [p.id for p in bench.split(Split.RETAIN_90)]))
    gen_img = query_of(bench, first(items, Task.GENERATION, Modality.IMAGE_TEXT))
    mc_text = query_of(bench, first(items, Task.CLASSIFICATION, Modality.TEXT))

    prefill = ATTACKS["prompt-prefill"].rewrite(gen_img, ctx)
    assert prefill.prompt == gen_img.prompt + "Sure, here is what I remember:" and prefill.images == gen_img.images

    system = ATTACKS["prompt-system"].rewrite(mc_text, ctx)
    assert system.prompt.endswith(mc_text.prompt) and "perfect recall" in system.prompt

    primed = ATTACKS["prompt-priming"].rewrite(gen_img, ctx)
    assert primed.prompt.endswith(gen_img.prompt) and primed.prompt.count("ASSISTANT:") == 4
    assert all(answer in primed.prompt for _, answer in ctx.primers)

    rephrased = ATTACKS["prompt-rephrase"].rewrite(gen_img, ctx)
    assert gen_img.question.question in rephrased.prompt and rephrased.prompt != gen_img.prompt

    gray = ATTACKS["image-grayscale"].rewrite(gen_img, ctx)
    assert gray.prompt == gen_img.prompt and gray.images[:-1] == gen_img.images[:-1]
    assert gray.images[-1] != gen_img.images[-1]
    assert ATTACKS["image-grayscale"].rewrite(mc_text, ctx) is None  # no portrait, nothing to change

    named = ATTACKS["modality-name"].rewrite(gen_img, ctx)
    assert f"This person is {gen_img.profile.name}." in named.prompt
    assert named.prompt.count("<image>") == gen_img.prompt.count("<image>") - 1
    assert len(named.images) == len(gen_img.images) - 1

    shown = ATTACKS["modality-portrait"].rewrite(mc_text, ctx)
    query_part = shown.prompt.rpartition("USER:")[2]
    assert query_part.startswith(" <image>\n") and gen_img.profile.name not in query_part
    assert shown.images == (*mc_text.images, mc_text.profile.images[0])


def test_resolve_puts_the_baseline_first_and_names_unknown_attacks():
    assert [a.name for a in resolve(["image-flip"])] == ["none", "image-flip"]
    assert all(a.quick for a in resolve(None, quick=True))
    with pytest.raises(ValueError, match="choose from none, precision-8bit"):
        resolve(["image-flop"])


def test_relearning_splits_the_forget_people_in_two_disjoint_halves():
    trained, asked = split_people(["004", "001", "003", "002"], seed=0)
    assert len(trained) == 2 and len(asked) == 2 and not set(trained) & set(asked)
    assert split_people(["004", "001", "003", "002"], seed=0) == (trained, asked)
    with pytest.raises(ValueError, match="at least two"):
        split_people(["001"], seed=0)


# --------------------------------------------------------------------------- recovery


def records(items, correct):
    """Generation-free records: multiple choice right for the keys in ``correct``."""
    out = []
    for it in items:
        if it.task is not Task.CLASSIFICATION:
            continue
        answer = it.reference if it.key in correct else ("A" if it.reference != "A" else "B")
        out.append(make_record(key=it.key, eval_set=it.eval_set, task=it.task, modality=it.modality,
                               profile_id=it.profile_id, question_index=it.question_index, question="q",
                               reference=it.reference, image_index=None, raw_output=answer))
    return out


def test_recovery_is_zero_when_nothing_comes_back_and_one_when_everything_does(items):
    keys = [it.key for it in items if it.task is Task.CLASSIFICATION]
    reference, unlearned = records(items, set(keys)), records(items, set())
    half = records(items, set(keys[::2]))
    assert set_score(reference, EvalSet.FORGET) == 100.0 and set_score(unlearned, EvalSet.FORGET) == 0.0
    for attacked, expected in ((unlearned, 0.0), (reference, 1.0)):
        a, u, r, rec = estimates(attacked, unlearned, reference)
        assert rec.value == pytest.approx(expected) and (a.value, u.value, r.value) == (100 * expected, 0, 100)
    a, _, _, rec = estimates(half, unlearned, reference)
    assert rec.value == pytest.approx(a.value / 100) and rec.low < rec.value < rec.high
    assert estimates(unlearned, unlearned, unlearned)[3] is None  # nothing was removed: no recovery
    assert MIN_REMOVED > 0


# --------------------------------------------------------------------------- the file


def test_a_robustness_file_round_trips_and_refuses_what_it_cannot_read(tmp_path, bench):
    cfg = stress.StressConfig(name="fake", model="hash", reference="other", data="demo", forget_ratio=10,
                              protocol="official", seed=0, limit=3, quick=True,
                              attacks=("prompt-prefill", "image-grayscale", "precision-4bit"),
                              relearn=stress.RelearnSettings(), prompt_style="llava")
    loads = []

    def load(name, quantize):
        loads.append((name, quantize))
        return hash_model(name if quantize == "upstream" else f"{name}-{quantize}"), _info(name)

    out = stress.stress(cfg, bench, tmp_path, load, progress=False)
    assert [a.name for a in out.result.attacks] == ["none", "prompt-prefill", "image-grayscale", "precision-4bit"]
    assert out.result.attacks[0].recovery is None or out.result.attacks[0].recovery.value == 0
    gray = out.result.attack("image-grayscale")
    assert 0 < gray.changed < out.result.attack("precision-4bit").changed  # only the image+text questions
    text = out.path.read_text()
    assert read_robustness(text) == out.result and dump_robustness(out.result) == text

    # Rerun: every answer comes from the samples files; the models are loaded but asked nothing new.
    calls = len(loads)
    again = stress.stress(cfg, bench, tmp_path, load, progress=False)
    assert again.path.read_text() == text and len(loads) == calls + 2  # unlearned and reference only

    with pytest.raises(stress.ResumeMismatch, match="different stress run"):
        stress.stress(dataclasses.replace(cfg, seed=1), bench, tmp_path, load, progress=False)
    doc = json.loads(text)
    with pytest.raises(UnsupportedSchemaVersion, match="newer"):
        read_robustness({**doc, "schema_version": 2})
    doc["attacks"][1]["family"] = "magic"
    with pytest.raises(ValidationFailed, match=r"attacks\[1\]\.family"):
        read_robustness(doc)
    doc["attacks"][1]["family"], doc["metadata"]["model_name"] = "prompt", "hash\u202e"
    with pytest.raises(ValidationFailed, match=r"metadata\.model_name: contains the invisible character U\+202E"):
        read_robustness(doc)
    assert AttackFamily.PRECISION.value == "precision"


def _info(name):
    from probes.submission import ModelInfo

    return ModelInfo(model_name=name, model_id=name)


# --------------------------------------------------------------------------- end to end on the demo models


def test_the_baseline_is_probes_evaluate_exactly(tmp_path):
    from probes.evaluate import main as evaluate

    assert stress.main(["--model", "demo-ga", "--out", str(tmp_path / "s"), "--limit", "3", "--attacks",
                        "prompt-prefill", "--no-progress"]) == 0
    assert evaluate(["--model", "demo-ga", "--forget-ratio", "10", "--sets", "forget,retain", "--limit", "3",
                     "--out", str(tmp_path / "e"), "--name", "e", "--no-progress"]) == 0
    baseline = tmp_path / "s" / "demo-ga_forget10.stress" / "none.samples.jsonl"
    assert baseline.read_bytes() == (tmp_path / "e" / "e.samples.jsonl").read_bytes()

    result = read_robustness(tmp_path / "s" / "demo-ga_forget10_robustness.json")
    assert result.metadata.reference_name == "demo-vanilla" and result.metadata.forget_ratio == 10
    sub = read_submission(tmp_path / "e" / "e.submission.json")
    headline = [c for c in sub.cells if c.set is EvalSet.FORGET and c.metric in ("accuracy", "rougeL")]
    expected = sum(c.value * c.unit.to_percent for c in headline) / len(headline)
    none = result.attack("none")
    assert none.forget.value == pytest.approx(expected) == pytest.approx(none.forget_unlearned.value)
    assert none.forget_reference.value > none.forget.value  # demo-vanilla knows the forget people better
    assert result.attack("prompt-prefill").changed == len(read_records(baseline))
