"""The probe's attack panel at the service level: what each model receives under an attack, and how it shows."""

from __future__ import annotations

import io
import itertools
import threading

import pytest
from fakes import answer_key, fake_registry, scripted

from backend.fakes import Behaviour, register_behaviour
from backend.registry import load_registry, parse_registry
from benchmark.reader import load_benchmark_cached
from benchmark.vocabulary import EvalSet, Modality
from probes.attacked import (
    FREE_FORM_UNCHANGED,
    UNCHANGED,
    attack_choices,
    describe,
    find_attack,
    probe_attacks,
)
from probes.attacks import ATTACKS, PREFILLS, SYSTEM_PROMPT
from probes.models import ModelChoice, ModelPool
from probes.questions import ProbeInputError
from probes.service import ProbeRequest, ProbeService
from probes.tab import render_answers, render_summary

VANILLA, UNLEARNED = ModelChoice("demo-vanilla"), ModelChoice("demo-ga")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark_cached("demo")


@pytest.fixture(scope="module")
def person(bench):
    return bench.eval_profiles(EvalSet.FORGET, 10)[0]


class Recorder:
    """A fake behaviour that records what it is asked; it knows everyone except ``forgets``, unless the answer
    is prefilled (an attack that works: the unlearned model's knowledge comes back)."""

    def __init__(self, forgets: frozenset[str], asked: list[tuple[str, tuple[bytes, ...]]] | None = None) -> None:
        self.asked = [] if asked is None else asked
        self.lock = threading.Lock()
        self.forgets = forgets

    def answer(self, prompt: str, images) -> str:
        with self.lock:
            self.asked.append((prompt, tuple(images)))
        for prefill in PREFILLS.values():
            if prompt.endswith(" " + prefill):
                plain = prompt[: -len(prefill)]  # "...ASSISTANT: " (generation's official ending)
                plain = plain if (plain, tuple(images)) in answer_key() else plain.rstrip(" ")
                return scripted().answer(plain, images)
        return scripted(self.forgets).answer(prompt, images)


def recording_service(bench, forget_ids, *, chat_template: str | None = None) -> tuple[ProbeService, Recorder]:
    """The shipped registry as fakes answering through :class:`Recorder` s with one record of what they were asked
    (demo-vanilla knows everyone; ``chat_template``: that entry's prompt style is chat_template)."""
    recorder = Recorder(forget_ids)
    register_behaviour("recording:forgets", Behaviour(recorder.answer))
    register_behaviour("recording:knows", Behaviour(Recorder(frozenset(), recorder.asked).answer))
    entries = []
    for spec in load_registry().models:
        if spec.kind.value == "prompt":
            continue
        entries.append({"name": spec.name, "kind": "fake", "base": spec.base, "method": spec.method,
                        "behaviour": "recording:knows" if spec.name == "demo-vanilla" else "recording:forgets",
                        "prompt_style": "chat_template" if spec.name == chat_template else spec.prompt_style})
    registry = parse_registry({"version": 1, "models": entries})
    return ProbeService(ModelPool(registry=registry), benchmark=bench), recorder


def final_state(service, request):
    return list(service.run(request))[-1]


def test_the_menu_offers_the_probe_attacks_by_family():
    choices = attack_choices()
    assert choices[0] == ("No attack", "none")
    labels = dict((name, label) for label, name in choices)
    assert labels["precision-8bit"] == "Precision · 8-bit" and labels["precision-4bit"] == "Precision · 4-bit nf4"
    assert labels["prompt-prefill"] == "Prompt · prefilled answer" and labels["image-grayscale"] == "Image · grayscale"
    assert labels["modality-name"].startswith("Modality · ")
    assert "relearn" not in labels  # it trains: stress only
    assert [a.name for a in probe_attacks()] == [n for _, n in choices[1:]]
    families = [a.family for a in probe_attacks()]
    assert len(list(itertools.groupby(families))) == len(set(families))  # grouped by family
    assert describe("image-grayscale") == ATTACKS["image-grayscale"].description
    assert describe("none").startswith("The official prompts")
    assert find_attack("none") is None and find_attack("prompt-system") is ATTACKS["prompt-system"]
    for bad in ("relearn", "nope"):
        with pytest.raises(ProbeInputError, match="no attack"):
            find_attack(bad)


def test_a_prompt_attack_changes_the_prompt_both_models_receive(bench, person, forget_ids):
    service, recorder = recording_service(bench, forget_ids)
    request = ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, modality=Modality.IMAGE_TEXT)
    plain = final_state(service, request)
    assert {r.verdict for r in plain.rows} == {"forgotten"} and plain.attack is None
    plain_prompts = [p for p, _ in recorder.asked]
    recorder.asked.clear()
    attacked = final_state(service, ProbeRequest(VANILLA, UNLEARNED, person_id=person.id,
                                                 modality=Modality.IMAGE_TEXT, attack="prompt-prefill"))
    assert attacked.finished and len(attacked.rows) == len(plain.rows) == 9
    for row, before in zip(attacked.rows, plain.rows, strict=True):
        note = row.question.attack
        assert note is not None and note.changed and note.prompt_changed and note.thumbnail is None
        assert row.question.prompt == before.question.prompt.rstrip(" ") + " " + PREFILLS[row.question.task]
        assert row.question.images == before.question.images and row.question.question == before.question.question
    assert {p for p, _ in recorder.asked} == {r.question.prompt for r in attacked.rows}
    assert not set(plain_prompts) & {p for p, _ in recorder.asked}
    # The prefill brings the forgotten answers back: the unlearned model now states every fact.
    assert {r.verdict for r in attacked.rows} == {"still known"}
    assert attacked.attack is not None and attacked.attack.name == "prompt-prefill"
    assert attacked.attack.precision is None
    data = attacked.to_dict()
    assert data["attack"]["label"] == "Prompt · prefilled answer"
    assert data["rows"][0]["attack"] == {"changed": True, "prompt": attacked.rows[0].question.prompt, "note": None}


def test_unchanged_rewrites_ask_the_plain_prompt(bench, person, forget_ids):
    """A portrait attack on text-only questions: each row says so, and the models get the official prompts."""
    service, recorder = recording_service(bench, forget_ids)
    text = ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, modality=Modality.TEXT)
    plain = final_state(service, text)
    before = sorted(recorder.asked)
    recorder.asked.clear()
    attacked = final_state(service, ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, modality=Modality.TEXT,
                                                 attack="image-grayscale"))
    assert sorted(recorder.asked) == before
    assert all(r.question.attack is not None and not r.question.attack.changed
               and r.question.attack.reason == UNCHANGED for r in attacked.rows)
    assert [r.verdict for r in attacked.rows] == [r.verdict for r in plain.rows]
    assert [r.question.prompt for r in attacked.rows] == [r.question.prompt for r in plain.rows]
    html_out = render_answers(attacked)
    assert html_out.count('data-attack="unchanged"') == len(attacked.rows) and UNCHANGED in html_out
    assert "0 of 9 changed" in html_out


def test_an_image_attack_transforms_the_portrait_and_shows_it(bench, person, forget_ids):
    from PIL import Image

    service, recorder = recording_service(bench, forget_ids)
    final = final_state(service, ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, modality=None,
                                              attack="image-grayscale"))
    changed = [r for r in final.rows if r.question.attack and r.question.attack.changed]
    assert len(changed) == 9 and len(final.rows) == 18  # the image+text half
    for row in changed:
        note = row.question.attack
        assert not note.prompt_changed and note.thumbnail is not None
        assert row.question.images != (person.images[0],)
        with Image.open(io.BytesIO(row.question.images[-1])) as img:
            r, g, b = img.convert("RGB").getpixel((img.width // 2, img.height // 2))
            assert r == g == b  # grayscale
        with Image.open(io.BytesIO(note.thumbnail)) as thumb:
            assert max(thumb.size) <= 72
    asked_images = {images for _, images in recorder.asked if images}
    assert asked_images == {changed[0].question.images}
    page = render_answers(final)
    assert page.count("data:image/jpeg;base64,") == 9 and "prompt as asked" not in page
    assert "9 of 18 changed" in page and "Attack: Image · grayscale." in page
    assert render_summary(final).startswith("Under the attack **Image · grayscale** (both models).")


def test_free_form_questions_are_asked_as_written_under_question_attacks(bench, forget_ids):
    service, recorder = recording_service(bench, forget_ids)
    final = final_state(service, ProbeRequest(VANILLA, UNLEARNED, free_text="Who is <b>Ann</b>?",
                                              attack="prompt-system"))
    assert recorder.asked == [("USER: Who is <b>Ann</b>?\nASSISTANT:", ())] * 2  # both sides, as written
    note = final.rows[0].question.attack
    assert note is not None and not note.changed and note.reason == FREE_FORM_UNCHANGED
    page = render_answers(final)
    assert "Who is &lt;b&gt;Ann&lt;/b&gt;?" in page and "<b>Ann</b>" not in page


def test_the_attacked_prompt_is_shown_escaped(bench, person, forget_ids):
    service, _ = recording_service(bench, forget_ids)
    final = final_state(service, ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, question_key="generation/0",
                                              modality=Modality.IMAGE_TEXT, attack="prompt-system"))
    (row,) = final.rows
    assert row.question.prompt.startswith(SYSTEM_PROMPT + "USER: <image>")
    page = render_answers(final)
    assert '<details class="probe-prompt"><summary>prompt as asked</summary>' in page
    assert "USER: &lt;image&gt;" in page and "USER: <image>" not in page


def test_no_attack_leaves_the_probe_as_it_was(bench, person, forget_ids):
    service = ProbeService(ModelPool(registry=fake_registry(forget_ids)), benchmark=bench)
    request = ProbeRequest(ModelChoice("demo-base"), ModelChoice("demo-npo"), person_id=person.id)
    final = final_state(service, request)
    assert final.attack is None and all(r.question.attack is None for r in final.rows)
    data = final.to_dict()
    assert "attack" not in data and all("attack" not in r for r in data["rows"])
    assert "probe-attack" not in render_answers(final) and not render_summary(final).startswith("Under")


def test_question_attacks_refuse_chat_template_models_before_loading(bench, person, forget_ids):
    service, recorder = recording_service(bench, forget_ids, chat_template="demo-ga")
    with pytest.raises(ProbeInputError, match="chat template"):
        list(service.run(ProbeRequest(VANILLA, UNLEARNED, person_id=person.id, attack="prompt-prefill")))
    with pytest.raises(ProbeInputError, match="no attack 'relearn'"):
        list(service.run(ProbeRequest(VANILLA, VANILLA, person_id=person.id, attack="relearn")))
    assert recorder.asked == [] and not service.pool.is_loaded(UNLEARNED)
    # Nothing changed (a portrait attack on text questions): nothing to refuse.
    final = final_state(service, ProbeRequest(VANILLA, VANILLA, person_id=person.id, modality=Modality.TEXT,
                                              attack="image-grayscale"))
    assert final.finished


def test_a_precision_attack_loads_both_real_models_in_4bit(person):
    """The real demo checkpoints through the pool and the cache, keyed by precision (bitsandbytes nf4 on CPU)."""
    pytest.importorskip("bitsandbytes")
    pool = ModelPool(quantize="none", device="cpu")
    service = ProbeService(pool, max_new_tokens=6, time_limit_s=60)
    request = ProbeRequest(ModelChoice("demo-vanilla"), ModelChoice("demo-ga"), person_id=person.id,
                           question_key="generation/0", modality=Modality.IMAGE_TEXT, attack="precision-4bit")
    states = list(service.run(request))
    assert states[0].status.startswith("Loading demo-vanilla in 4-bit nf4")
    final = states[-1]
    assert final.finished and final.attack is not None and final.attack.precision == ("4bit-nf4", "4bit-nf4")
    assert final.rows[0].question.attack is None  # the official question, unchanged
    assert all(a.done and a.error is None and a.record is not None for a in final.rows[0].answers)
    assert pool.is_loaded(ModelChoice("demo-ga"), "4bit") and not pool.is_loaded(ModelChoice("demo-ga"))
    held = pool._cache.stats().models if pool._cache else ()
    assert sorted(held) == ["demo-ga", "demo-vanilla"]
    page = render_answers(final)
    assert "demo-vanilla · 4-bit nf4" in page and "demo-vanilla: <b>4-bit nf4</b>" in page
    assert final.to_dict()["attack"]["precision"] == ["4bit-nf4", "4bit-nf4"]


def test_the_probe_endpoint_takes_an_attack(client, forget_ids):
    person = sorted(forget_ids)[0]
    result = client.predict(left="demo-base", right="demo-npo", person=person, modality="text",
                            attack="prompt-system", api_name="/probe")
    assert result["finished"] and result["attack"]["name"] == "prompt-system"
    assert all(r["attack"]["changed"] and r["attack"]["prompt"].startswith(SYSTEM_PROMPT) for r in result["rows"])
    err = client.predict(left="demo-base", right="demo-npo", person=person, attack="relearn", api_name="/probe")
    assert "no attack 'relearn'" in err["error"]
