"""The probe service with deterministic fakes, and once with the real tiny demo model."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import fake_registry, scripted_model

from benchmark.reader import load_benchmark_cached
from benchmark.vocabulary import EvalSet, Modality, Task
from probes.models import ModelChoice, ModelPool, custom_model, default_pair
from probes.questions import ALL_QUESTIONS, ProbeInputError, free_question, select_questions
from probes.service import ProbeRequest, ProbeService
from probes.session import run_probe


@pytest.fixture(scope="module")
def bench():
    return load_benchmark_cached("demo")


@pytest.fixture(scope="module")
def person(bench):
    return bench.eval_profiles(EvalSet.FORGET, 10)[0]


def test_questions_use_the_official_zero_shot_prompts(person):
    qs = select_questions(person, EvalSet.FORGET, Modality.IMAGE_TEXT)
    assert [q.task for q in qs] == [Task.CLASSIFICATION] * 5 + [Task.CLOZE] * 2 + [Task.GENERATION] * 2
    mc, cloze, gen = qs[0], qs[5], qs[7]
    assert mc.prompt.startswith("USER: <image>\n") and mc.prompt.endswith(
        "\nJust give ONE letter representing the answer directly.\nASSISTANT:")
    assert "[Blank]" in cloze.prompt and cloze.prompt.endswith("ASSISTANT:")
    assert gen.prompt.endswith("in ENGLISH.\nASSISTANT: ")
    assert all(q.images == (person.images[0],) for q in qs)
    text_qs = select_questions(person, EvalSet.FORGET, Modality.TEXT)
    assert text_qs and all(not q.images and q.prompt.startswith("USER:") and "<image>" not in q.prompt
                           for q in text_qs)
    assert select_questions(person, EvalSet.FORGET, None, "cloze/1")[0].reference == person.cloze[1].ground_truth
    with pytest.raises(ProbeInputError, match="no question"):
        select_questions(person, EvalSet.FORGET, Modality.TEXT, "cloze/0")  # cloze/0 is an image+text question


def test_two_models_scored_and_marked(person):
    knower = scripted_model("vanilla")
    forgetter = scripted_model("unlearned", frozenset({person.id}))
    states = list(run_probe(knower, forgetter, select_questions(person, EvalSet.FORGET, Modality.IMAGE_TEXT)))
    final = states[-1]
    assert final.finished and final.status.startswith("Done")
    assert final.summary_line() == "MC 5/5 vs 0/5 · cloze 2/2 vs 0/2 · generation ROUGE-L 1.00 vs 0.00"
    for row in final.rows:
        left, right = row.answers
        assert (left.marker, right.marker, row.verdict) == ("knows", "forgotten", "forgotten")
        assert left.record is not None and left.record.profile_id == person.id
    assert final.verdict_line() == "forgot 9 of the 9 facts the reference knew"
    assert final.to_dict()["verdicts"] == {"forgotten": 9, "still known": 0, "damaged": 0, "kept": 0,
                                           "never known": 0}
    mc = final.rows[0].answers
    assert mc[0].score_text == f"correct (read {final.rows[0].question.reference})"
    assert final.to_dict()["rows"][0]["answers"][1]["correct"] is False


def test_answers_stream_in_pieces(person):
    slow = scripted_model("slow", delay=0.02)
    q = select_questions(person, EvalSet.FORGET, Modality.TEXT, "generation/2")
    seen = [s.rows[0].answers[0].text for s in run_probe(slow, slow, q, min_interval_s=0.0) if s.rows]
    partial = [t for t in seen if t and t != seen[-1]]
    assert partial, "expected intermediate states with part of the answer"
    assert seen[-1].strip() == q[0].reference


def test_stop_and_time_limit(person):
    slow = scripted_model("slow", delay=0.2)
    qs = select_questions(person, EvalSet.FORGET, Modality.IMAGE_TEXT)
    cancel = threading.Event()
    started = time.monotonic()
    stopped_at = None
    # Stop during a long answer (generation, one token per 0.2 s): a one-letter answer could finish before the
    # stop is seen on a loaded machine, and a finished answer rightly keeps its own stop reason.
    for state in run_probe(slow, slow, qs[7:], cancel=cancel):
        if state.rows and state.rows[0].answers[0].text and stopped_at is None:
            cancel.set()
            stopped_at = time.monotonic()
    assert state.status == "Stopped." and state.finished and len(state.rows) == 1
    assert time.monotonic() - stopped_at < 1  # within one poll, not at the models' next token
    assert time.monotonic() - started < 5
    assert all(a.done and a.stop_reason == "stopped" for a in state.rows[0].answers)  # never left at "…"
    assert state.rows[0].verdict is None
    limited = list(run_probe(slow, slow, qs[7:8], time_limit_s=0.3))[-1]
    assert {a.stop_reason for a in limited.rows[0].answers} == {"time_limit"}


def test_closing_the_iterator_cancels(person):
    slow = scripted_model("slow", delay=0.2)
    cancel = threading.Event()
    it = run_probe(slow, slow, select_questions(person, EvalSet.FORGET, None), cancel=cancel)
    next(it)
    it.close()
    assert cancel.is_set()


def test_a_failing_model_is_reported_beside_its_answer(person):
    broken = scripted_model("broken", error="CUDA out of memory")
    final = list(run_probe(scripted_model("ok"), broken, select_questions(person, EvalSet.FORGET,
                                                                         Modality.TEXT)[:1]))[-1]
    left, right = final.rows[0].answers
    assert left.correct is True and right.error == "RuntimeError: CUDA out of memory" and right.marker is None
    assert left.marker == "knows" and final.rows[0].verdict is None


def test_free_form_and_inputs_are_validated():
    q = free_question("  Who is this?  ", b"png")
    assert q.prompt == "USER: <image>\nWho is this?\nASSISTANT:" and q.task is None
    assert free_question("Hi").prompt == "USER: Hi\nASSISTANT:"
    with pytest.raises(ProbeInputError):
        free_question("   ")
    with pytest.raises(ProbeInputError, match="at most 1,000"):
        free_question("x" * 2_000_000)  # refused before it is tokenised
    assert custom_model("MLLMMU/LLaVA_Vanilla", "") == ModelChoice("MLLMMU/LLaVA_Vanilla", "main", custom=True)
    for bad in ("not-a-repo", "a/b/c", "../etc", "own er/name", "a--b/c"):
        with pytest.raises(ProbeInputError, match="not a Hub model id"):
            custom_model(bad, "main")
    with pytest.raises(ProbeInputError, match="revision"):
        custom_model("a/b", "bad rev")


def test_default_pair_reads_methods():
    from backend.registry import parse_registry

    reg = parse_registry({"version": 1, "models": [
        {"name": "hub-vanilla", "repo_id": "o/v", "revision": "main", "method": "vanilla"},
        {"name": "demo-base", "path": "x"},
        {"name": "demo-vanilla", "path": "y", "method": "vanilla", "base": "demo-base"},
        {"name": "demo-ga", "path": "z", "method": "ga", "base": "demo-vanilla", "forget_ratio": 10},
    ]})
    assert default_pair(reg) == ("demo-vanilla", "demo-ga")
    assert default_pair(reg, right="demo-base") == ("demo-vanilla", "demo-base")
    only_base = parse_registry({"version": 1, "models": [{"name": "demo-base", "path": "x"}]})
    assert default_pair(only_base) == ("demo-base", "demo-base")


def test_service_validates_before_loading(bench, person):
    pool = ModelPool(registry=fake_registry(frozenset({person.id})), allow_custom=False)
    service = ProbeService(pool, benchmark=bench)
    base = ModelChoice("demo-base")
    with pytest.raises(ProbeInputError, match="no person"):
        list(service.run(ProbeRequest(base, base, person_id="nobody")))
    with pytest.raises(ProbeInputError, match="disabled"):
        list(service.run(ProbeRequest(base, custom_model("o/x", "main"), person_id=person.id)))
    with pytest.raises(ProbeInputError, match="no model named"):
        list(service.run(ProbeRequest(ModelChoice("nope"), base, person_id=person.id)))
    assert not pool.is_loaded(base)
    states = list(service.run(ProbeRequest(base, ModelChoice("demo-npo"), person_id=person.id,
                                           question_key=ALL_QUESTIONS, modality=Modality.TEXT)))
    assert states[0].status.startswith("Loading demo-base") and states[-1].finished
    assert pool.is_loaded(base) and pool.is_loaded(ModelChoice("demo-npo"))
    assert states[-1].summary_line() == "MC 5/5 vs 0/5 · cloze 2/2 vs 0/2 · generation ROUGE-L 1.00 vs 0.00"
    retain = bench.eval_profiles(EvalSet.RETAIN, 10)[0]
    kept = list(service.run(ProbeRequest(base, ModelChoice("demo-npo"), eval_set=EvalSet.RETAIN,
                                         person_id=retain.id, modality=Modality.TEXT)))[-1]
    assert {r.verdict for r in kept.rows} == {"kept"} and kept.verdict_line().startswith("kept 9 of the 9 retain")


def test_real_tiny_model_streams_through_the_backend(person):
    """The real demo checkpoint through backend's cache and stream_generate (untrained: answers are noise)."""
    service = ProbeService(ModelPool(quantize="none", device="cpu"), max_new_tokens=6, time_limit_s=60)
    request = ProbeRequest(ModelChoice("demo-base"), ModelChoice("demo-base"), eval_set=EvalSet.FORGET,
                           person_id=person.id, question_key="generation/0", modality=Modality.IMAGE_TEXT)
    final = list(service.run(request))[-1]
    assert final.finished and len(final.rows) == 1
    for answer in final.rows[0].answers:
        assert answer.done and answer.error is None
        assert answer.stop_reason in {"eos", "max_new_tokens", "stop_string"}
        assert answer.record is not None and 0.0 <= answer.record.scores["rougeL"] <= 1.0
    assert final.rows[0].answers[0].text == final.rows[0].answers[1].text  # greedy, same model
    assert final.rows[0].verdict in ("still known", "never known")  # the same model never "forgets"


def test_stop_while_loading_ends_the_probe_at_once(bench, person):
    """Loading cannot be interrupted, but Stop ends the probe without waiting for it."""
    pool = ModelPool(registry=fake_registry(frozenset()))
    release = threading.Event()
    real_get_pair = pool.get_pair

    def slow_get_pair(left, right):
        release.wait(10)
        return real_get_pair(left, right)

    pool.get_pair = slow_get_pair  # type: ignore[method-assign]
    service = ProbeService(pool, benchmark=bench)
    cancel = threading.Event()
    base = ModelChoice("demo-base")
    run = service.run(ProbeRequest(base, base, person_id=person.id), cancel=cancel)
    assert next(run).status.startswith("Loading")
    cancel.set()
    started = time.monotonic()
    states = list(run)
    assert time.monotonic() - started < 1 and states[-1].status == "Stopped." and states[-1].finished
    release.set()


def test_the_same_model_on_both_sides_never_forgets(bench):
    model = scripted_model("same", frozenset({bench.eval_profiles(EvalSet.FORGET, 10)[1].id}))
    for eval_set in EvalSet:
        for profile in bench.eval_profiles(eval_set, 10)[:3]:
            final = list(run_probe(model, model, select_questions(profile, eval_set, None)))[-1]
            assert {r.verdict for r in final.rows} <= {"still known", "kept", "never known"}


def test_pasted_hub_ids_never_load_a_folder_of_the_server(tmp_path, monkeypatch):
    from backend.registry import ModelSpec

    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    spec = ModelSpec.hub("owner/name")
    assert spec.repo_id == "owner/name" and spec.path is None
    pool = ModelPool(registry=fake_registry(frozenset()))
    assert pool.spec(custom_model("owner/name", "main")).path is None


def test_load_errors_hide_server_paths():
    from probes.models import load_error_message

    message = load_error_message(OSError("no config.json in /srv/app/models/x; see https://huggingface.co/o/m"))
    assert message == "OSError: no config.json in <server path>; see https://huggingface.co/o/m"
