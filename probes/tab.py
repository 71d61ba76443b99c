"""The Probe tab: two models side by side on one person's questions, streamed and scored.

Rendering (:func:`render_answers`, :func:`render_summary`) is pure and escapes every piece of text
(questions, ground truths, model output, model names) with :func:`html.escape`; the callbacks in
:func:`build_probe_tab` each call one :class:`~probes.service.ProbeService` method and render its answer.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from benchmark.verdicts import VERDICT_LEGEND, Verdict
from benchmark.vocabulary import EvalSet, Modality
from probes.attacked import NO_ATTACK, attack_choices
from probes.attacked import describe as describe_attack
from probes.models import ModelChoice, custom_model, load_error_message
from probes.questions import ALL_QUESTIONS, MAX_FREE_TEXT_CHARS, TASK_LABELS, ProbeInputError, ProbeQuestion
from probes.service import ProbeRequest, ProbeService
from probes.session import STOPPED, ProbeState

SET_CHOICES = [
    ("Forget (should be forgotten)", EvalSet.FORGET.value),
    ("Test (forget people, new portraits)", EvalSet.TEST.value),
    ("Retain (should be kept)", EvalSet.RETAIN.value),
    ("Celebrity (should be kept)", EvalSet.CELEBRITY.value),
]
MODALITY_CHOICES = [("With the portrait", Modality.IMAGE_TEXT.value), ("Text only", Modality.TEXT.value),
                    ("Both", "both")]
GALLERY_LIMIT = 120
"""Most portraits shown in the gallery (the person dropdown always lists everyone)."""

CSS = """
.probe-table {width: 100%; border-collapse: collapse; table-layout: fixed; border: none;}
.probe-table th, .probe-table td {border: none; border-bottom: 1px solid var(--border-color-primary);
  padding: 6px 8px; vertical-align: top; text-align: left;}
.probe-q {font-size: 0.92em; white-space: pre-wrap;}
.probe-gt {color: var(--body-text-color-subdued); font-size: 0.88em; margin-top: 4px;}
.probe-answer-text {white-space: pre-wrap; font-family: var(--font-mono); font-size: 0.9em;}
.probe-badge {display: inline-block; border-radius: 9px; padding: 1px 8px; font-size: 0.8em; margin-top: 4px;
  font-weight: 600;}
.probe-good {background: #d1fadf; color: #05603a;}
.probe-bad {background: #fee4e2; color: #912018;}
.probe-neutral {background: #eaecf0; color: #344054;}
.probe-legend {list-style: none; padding: 0; margin: 4px 0; font-size: 0.88em;}
.probe-legend li {margin: 2px 0;}
.probe-answer-text, .probe-q {overflow-wrap: anywhere;}
.probe-attack-panel {border-left: 3px solid #f79009; background: var(--background-fill-secondary); padding: 6px 10px;
  margin-bottom: 8px; font-size: 0.92em;}
.probe-attack-desc, .probe-attack-desc p {font-size: 0.88em; color: var(--body-text-color-subdued);}
.probe-attack-note {font-size: 0.85em; margin-top: 4px; color: #b54708;}
.probe-attack-note[data-attack="unchanged"] {color: var(--body-text-color-subdued);}
.probe-thumb {display: block; width: 56px; height: auto; margin-top: 4px; border-radius: 4px;}
.probe-prompt summary {cursor: pointer;}
.probe-prompt pre {white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.85em; max-height: 16em;
  overflow-y: auto; margin: 4px 0; padding: 4px; background: var(--background-fill-secondary);}
@media (max-width: 600px) {
  .probe-table, .probe-table tbody, .probe-table tr {display: block; width: 100%;}
  .probe-table thead {display: none;}
  .probe-table tr {border-bottom: 2px solid var(--border-color-primary); padding: 4px 0;}
  .probe-table td {display: block; width: auto; border-bottom: none; padding: 4px 2px;}
  .probe-table td.probe-answer::before {content: attr(data-model); display: block; font-weight: 600;
    font-size: 0.85em; color: var(--body-text-color-subdued);}
}
"""
"""Styles of the answer table (passed to ``launch(css=...)`` by the app)."""


def parse_choice(name: str | None, hub_id: str | None = None, revision: str | None = None) -> ModelChoice:
    """A pasted Hub id (validated) wins over the dropdown's registry name."""
    if hub_id and hub_id.strip():
        return custom_model(hub_id, revision)
    if not name:
        raise ProbeInputError("choose a model on both sides")
    if "/" in name:
        return custom_model(name, revision)
    return ModelChoice(name)


def _badge(answer: Any) -> str:
    """The answer's marker: the left one's knowledge, the right one's verdict (green when it is what is wanted)."""
    marker = answer.marker
    if answer.error:
        return '<span class="probe-badge probe-bad" data-marker="error">error</span>'
    if answer.stop_reason == STOPPED:
        return '<span class="probe-badge probe-neutral" data-marker="stopped">stopped</span>'
    if marker is None:
        return '<span class="probe-badge probe-neutral" data-marker="pending">…</span>' if not answer.done else ""
    good = Verdict(marker).good if marker in {v.value for v in Verdict} else None
    kind = {True: "probe-good", False: "probe-bad"}.get(good, "probe-neutral") if good is not None else "probe-neutral"
    return f'<span class="probe-badge {kind}" data-marker="{html.escape(marker)}">{html.escape(marker)}</span>'


LEGEND = "".join(
    f'<li><span class="probe-badge {"probe-good" if v.good else "probe-bad" if v.good is False else "probe-neutral"}">'
    f"{html.escape(v.value)}</span> {html.escape(VERDICT_LEGEND[v])}</li>"
    for v in Verdict
)
"""What each verdict of the right model means (the left model's answers say *knows* or *does not know*)."""

DEMO_BANNER = (
    "**Demo models: toys for trying the app.** {names} {verb} the project's tiny (about 3 MB) {what}, "
    "trained on the generated demo people; their answers say nothing about real unlearning."
)


def _answer_cell(answer: Any, side: str, model: str) -> str:
    """One answer (``model`` is the escaped model name, shown above the answer on a phone)."""
    text = html.escape(answer.text.strip()) if answer.text.strip() else ("…" if not answer.done else "(empty answer)")
    extra = []
    if answer.score_text:
        extra.append(html.escape(answer.score_text))
    if answer.stop_reason == "time_limit":
        extra.append("cut by the time limit")
    if answer.error:
        extra.append(html.escape(answer.error))
    meta = f'<div class="probe-gt">{" · ".join(extra)}</div>' if extra else ""
    done = "true" if answer.done else "false"
    return (
        f'<td class="probe-answer" data-side="{side}" data-done="{done}" data-model="{model}">'
        f'<div class="probe-answer-text">{text}</div>{meta}{_badge(answer)}</td>'
    )


PRECISION_LABELS = {"4bit-nf4": "4-bit nf4", "8bit": "8-bit", "none": "full precision"}
"""How the attack panel names a loaded model's quantization (``LoadInfo.quantization``)."""


def _precision(state: ProbeState, side: int) -> str:
    """The escaped precision ``side`` runs at under a precision attack, else empty."""
    if state.attack is None or state.attack.precision is None:
        return ""
    value = state.attack.precision[side]
    return html.escape(PRECISION_LABELS.get(value, value))


def _attack_panel(state: ProbeState) -> str:
    """The attack the probe runs under: what it does, how many questions it changed, each side's precision."""
    attack = state.attack
    if attack is None:
        return ""
    lines = [f"<b>Attack: {html.escape(attack.label)}.</b> {html.escape(attack.description)}"]
    if attack.precision is not None:
        sides = " · ".join(f"{html.escape(m)}: <b>{_precision(state, i)}</b>" for i, m in enumerate(state.models))
        lines.append(f"Both models loaded at this precision ({sides}); the questions are the official ones.")
    else:
        notes = [r.question.attack for r in state.rows]
        changed = sum(1 for n in notes if n is not None and n.changed)
        so_far = "" if state.finished else " so far"
        lines.append(f"Both models answer the attacked questions ({changed} of {len(notes)} changed{so_far}); "
                     "verdicts compare the two attacked answers.")
    return f'<div class="probe-attack-panel" id="probe-attack-info">{"<br>".join(lines)}</div>'


def _attack_note(q: ProbeQuestion) -> str:
    """What the attack did to one question: the portrait as asked and the prompt as asked, or why nothing."""
    note = q.attack
    if note is None:
        return ""
    if not note.changed:
        return f'<div class="probe-attack-note" data-attack="unchanged">{html.escape(note.reason)}</div>'
    parts = ['<div class="probe-attack-note" data-attack="changed">changed by the attack</div>']
    if note.thumbnail:
        data = base64.b64encode(note.thumbnail).decode("ascii")
        parts.append(f'<img class="probe-thumb" src="data:image/jpeg;base64,{data}" alt="the portrait as asked">')
    if note.prompt_changed:
        parts.append(f'<details class="probe-prompt"><summary>prompt as asked</summary>'
                     f"<pre>{html.escape(q.prompt)}</pre></details>")
    return "".join(parts)


def render_answers(state: ProbeState | None) -> str:
    """The side-by-side answer table as HTML (everything escaped), under the attack panel when there is one."""
    if state is None or not state.rows:
        return '<div class="probe-empty">Pick a person and press <b>Run probe</b>.</div>'
    left, right = (html.escape(m) for m in state.models)
    precisions = (_precision(state, 0), _precision(state, 1))
    if any(precisions):
        left, right = (f"{m} · {p}" for m, p in zip((left, right), precisions, strict=True))
    rows = []
    for row in state.rows:
        q = row.question
        kind = TASK_LABELS[q.task] if q.task else "free-form"
        where = "with portrait" if q.images else "text only"
        gt = f'<div class="probe-gt">ground truth: {html.escape(q.reference_text)}</div>' if q.reference_text else ""
        verdict = f' data-verdict="{html.escape(row.verdict.value)}"' if row.verdict else ""
        rows.append(
            f'<tr{verdict}><td class="probe-question"><div class="probe-gt">{kind} · {where}</div>'
            f'<div class="probe-q">{html.escape(q.question)}</div>{gt}{_attack_note(q)}</td>'
            f"{_answer_cell(row.answers[0], 'left', left)}{_answer_cell(row.answers[1], 'right', right)}</tr>"
        )
    head = f"<tr><th style='width:36%'>Question</th><th>{left}</th><th>{right}</th></tr>"
    table = f'<table class="probe-table" id="probe-answers"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    return _attack_panel(state) + table


def render_summary(state: ProbeState | None) -> str:
    """The per-person summary (Markdown; model names escaped): the verdicts, then the benchmark's scores."""
    if state is None:
        return ""
    line = state.summary_line()
    if not line:
        return ""
    left, right = (html.escape(m) for m in state.models)
    verdicts = state.verdict_line()
    head = f"**{right}** {html.escape(verdicts)} (reference: {left}).  \n" if verdicts else ""
    under = f"Under the attack **{html.escape(state.attack.label)}** (both models).  \n" if state.attack else ""
    return f"{under}{head}Scores, {left} vs {right}: {html.escape(line)}"


def banner_text(service: ProbeService, left: str | None, right: str | None) -> str:
    """The demo banner's text when either side is one of the project's toy models, else empty."""
    names = [n for n in dict.fromkeys((left, right)) if n and service.pool.is_demo(n)]
    if not names:
        return ""
    one = len(names) == 1
    return DEMO_BANNER.format(names=" and ".join(f"`{n}`" for n in names), verb="is" if one else "are",
                              what="checkpoint" if one else "checkpoints")


def cpu_only_banner(service: ProbeService) -> str:
    """The banner of a server without a GPU (``pool.demo_only``): why only the demo models, and how to get more."""
    limit = service.pool.cpu_limit_bytes
    size = f" (over {limit / 2**30:g} GiB)" if limit else ""
    return (
        "**No GPU here, so the probe offers only the demo models.** This server runs on a CPU, where a full-size "
        f"model{size} takes minutes per answer, so other models and Hub ids are refused before anything is "
        "downloaded. To probe the real checkpoints, run the app on GPU hardware: in the Space's settings pick "
        "ZeroGPU or a GPU (README: Hosting on a Hugging Face Space), or run `python app.py` on a machine with one."
    )


def demo_banner(service: ProbeService, left: str | None, right: str | None) -> Any:
    """The banner's update for the chosen models: shown when either side is a demo model."""
    text = banner_text(service, left, right)
    return gr.Markdown(text, visible=bool(text))


def _portrait_image(data: bytes) -> Any:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def _request(values: dict[str, Any], image_path: str | None) -> ProbeRequest:
    modality = None if values["modality"] == "both" else Modality(values["modality"])
    image = Path(image_path).read_bytes() if image_path else None
    return ProbeRequest(
        left=parse_choice(values["left"], values["left_hub"], values["left_rev"]),
        right=parse_choice(values["right"], values["right_hub"], values["right_rev"]),
        eval_set=EvalSet(values["eval_set"]),
        person_id=values["person"] or None,
        question_key=values["question"] or ALL_QUESTIONS,
        modality=modality,
        free_text=values["free_text"] or "",
        free_image=image,
        attack=values["attack"] or NO_ATTACK,
    )


def _session(request: gr.Request | None) -> str:
    """The browser session a request comes from (its Stop event is kept under this key)."""
    return getattr(request, "session_hash", None) or "anonymous"


def build_probe_tab(service: ProbeService, demo: gr.Blocks, *, concurrency_limit: int = 1) -> dict[str, Any]:
    """Lay out the Probe tab inside the current ``gr.Tab`` and wire its callbacks.

    Args:
        service: The probe service (benchmark, model pool, limits).
        demo: The enclosing Blocks (for the page-load event).
        concurrency_limit: Probes running at once (shared with the ``probe`` API endpoint).
    """
    names = service.pool.offered()
    left_default, right_default = service.default_models()
    gr.Markdown(
        "Ask two models about one person and watch them answer side by side. The **left** model is the "
        "reference (usually the model before unlearning); each answer of the **right** model gets a verdict "
        "relative to it. An answer *knows* a fact when it states the ground truth's distinctive words (not the "
        "sentence template); the benchmark's own score (right/wrong, ROUGE-L) is shown beside it. Prompts are "
        "upstream's zero-shot ones; models load on first use. The **Attack** menu asks both models under an "
        "attack that tries to bring forgotten facts back."
    )
    if service.pool.demo_only:
        gr.Markdown(cpu_only_banner(service), elem_id="probe-cpu-banner")
    first_banner = banner_text(service, left_default, right_default)
    banner = gr.Markdown(first_banner, visible=bool(first_banner), elem_id="probe-demo-banner")
    with gr.Row():
        with gr.Column(min_width=280):
            left = gr.Dropdown(names, value=left_default, label="Left model (reference)", elem_id="probe-left",
                               info=service.pool.describe(left_default))
            with gr.Accordion("…or a Hub model", open=False, visible=not service.pool.demo_only):
                left_hub = gr.Textbox(label="Hub id", placeholder="MLLMMU/LLaVA_Vanilla", max_length=200,
                                      elem_id="probe-left-hub")
                left_rev = gr.Textbox(label="Revision", placeholder="main", max_length=100)
        with gr.Column(min_width=280):
            right = gr.Dropdown(names, value=right_default, label="Right model (unlearned)", elem_id="probe-right",
                                info=service.pool.describe(right_default))
            with gr.Accordion("…or a Hub model", open=False, visible=not service.pool.demo_only):
                right_hub = gr.Textbox(label="Hub id", placeholder="owner/unlearned-model", max_length=200,
                                       elem_id="probe-right-hub")
                right_rev = gr.Textbox(label="Revision", placeholder="main", max_length=100)
    with gr.Row():
        eval_set = gr.Radio(SET_CHOICES, value=EvalSet.FORGET.value, label="Set", elem_id="probe-set", scale=3,
                            min_width=280)
        modality = gr.Radio(MODALITY_CHOICES, value=Modality.IMAGE_TEXT.value, label="Questions",
                            elem_id="probe-modality", scale=2, min_width=280)
    # Portraits are shown whole ("contain"), never cropped.
    gallery = gr.Gallery(label="People (click a portrait)", columns=6, height="auto", allow_preview=False,
                         elem_id="probe-gallery", object_fit="contain")
    with gr.Row(equal_height=False):
        person = gr.Dropdown([], label="Person", elem_id="probe-person", scale=2, min_width=240)
        question = gr.Dropdown([], label="Question", elem_id="probe-question", scale=3, min_width=240)
        with gr.Column(scale=2, min_width=240, variant="panel"):
            attack = gr.Dropdown(attack_choices(), value=NO_ATTACK, label="Attack", elem_id="probe-attack")
            attack_note = gr.Markdown(html.escape(describe_attack(NO_ATTACK)), elem_id="probe-attack-note",
                                      elem_classes=["probe-attack-desc"])
    with gr.Accordion("Free-form question (asked instead of the person's questions)", open=False), gr.Row():
        free_text = gr.Textbox(label="Question", lines=2, max_length=MAX_FREE_TEXT_CHARS, elem_id="probe-free-text",
                               scale=3)
        free_image = gr.Image(label="Image (optional)", type="filepath", height=160, scale=1)
    with gr.Row():
        run = gr.Button("Run probe", variant="primary", elem_id="probe-run")
        stop = gr.Button("Stop", variant="stop", elem_id="probe-stop")
    status = gr.Markdown(elem_id="probe-status")
    summary = gr.Markdown(elem_id="probe-summary")
    with gr.Accordion("What the verdicts mean", open=False, elem_id="probe-legend"):
        gr.HTML(f'<ul class="probe-legend">{LEGEND}</ul>'
                "<p>The left model's answers say <i>knows</i> or <i>does not know</i>.</p>")
    answers = gr.HTML(render_answers(None), elem_id="probe-output")
    # Stop is cooperative: each browser session has its own event, which the running probe polls. Cancelling
    # the event handler instead (Gradio's ``cancels``) killed it mid-render and left stale or broken states.
    stops: dict[str, threading.Event] = {}
    stops_lock = threading.Lock()

    def on_set(set_value: str) -> tuple[Any, Any]:
        folks = service.people(EvalSet(set_value))
        shown = [(_portrait_image(p.portrait), f"{p.name} ({p.id})") for p in folks[:GALLERY_LIMIT]]
        options = [(f"{p.name} ({p.id})", p.id) for p in folks]
        return shown, gr.Dropdown(choices=options, value=options[0][1] if options else None)

    def on_pick(set_value: str, evt: gr.SelectData) -> Any:
        folks = service.people(EvalSet(set_value))
        index = evt.index if isinstance(evt.index, int) else 0
        return folks[index].id if 0 <= index < len(folks) else None

    def on_person(set_value: str, person_id: str | None, modality_value: str) -> Any:
        if not person_id:
            return gr.Dropdown(choices=[], value=None)
        mod = None if modality_value == "both" else Modality(modality_value)
        options = service.question_choices(EvalSet(set_value), person_id, mod)
        return gr.Dropdown(choices=options, value=ALL_QUESTIONS)

    def describe(name: str | None) -> Any:
        return gr.Dropdown(info=service.pool.describe(name) if name in names else "")

    keys = ["left", "left_hub", "left_rev", "right", "right_hub", "right_rev", "eval_set", "person", "question",
            "modality", "free_text", "attack"]

    def on_run(left_v: Any, left_hub_v: Any, left_rev_v: Any, right_v: Any, right_hub_v: Any, right_rev_v: Any,
               set_v: Any, person_v: Any, question_v: Any, modality_v: Any, free_text_v: Any, image_v: Any,
               attack_v: Any, request: gr.Request) -> Any:
        values = (left_v, left_hub_v, left_rev_v, right_v, right_hub_v, right_rev_v, set_v, person_v, question_v,
                  modality_v, free_text_v, attack_v)
        session = _session(request)
        cancel = threading.Event()
        with stops_lock:
            stops[session] = cancel
        try:
            probe = _request(dict(zip(keys, values, strict=True)), image_v)
            for state in service.run(probe, cancel=cancel):
                yield html.escape(state.status), render_summary(state), render_answers(state)
        except ProbeInputError as exc:
            yield f"**Cannot probe:** {html.escape(str(exc))}", "", render_answers(None)
        except Exception as exc:  # a model that fails to load: say why on the page, keep the app up
            yield f"**Failed:** {html.escape(load_error_message(exc))}", "", render_answers(None)
        finally:
            with stops_lock:
                if stops.get(session) is cancel:
                    del stops[session]

    def on_stop(request: gr.Request) -> None:
        session = _session(request)
        with stops_lock:
            event = stops.get(session)
        if event is not None:
            event.set()

    gr.on([demo.load, eval_set.change], on_set, eval_set, [gallery, person], api_visibility="private")
    gallery.select(on_pick, eval_set, person, api_visibility="private")
    gr.on([person.change, modality.change], on_person, [eval_set, person, modality], question,
          api_visibility="private")
    left.change(describe, left, left, api_visibility="private")
    right.change(describe, right, right, api_visibility="private")
    gr.on([left.change, right.change], lambda a, b: demo_banner(service, a, b), [left, right], banner,
          api_visibility="private")
    attack.change(lambda name: html.escape(describe_attack(name)), attack, attack_note, api_visibility="private")
    inputs = [left, left_hub, left_rev, right, right_hub, right_rev, eval_set, person, question, modality, free_text,
              free_image, attack]
    run.click(on_run, inputs, [status, summary, answers], api_visibility="private",
              concurrency_limit=concurrency_limit, concurrency_id="probe", show_progress="minimal")
    stop.click(on_stop, None, None, api_visibility="private", queue=False)
    return {"run": run, "stop": stop, "answers": answers, "status": status, "person": person, "attack": attack}


def probe_api(service: ProbeService) -> Any:
    """The ``probe`` API function: a complete probe, returned as JSON when both models are done.

    Models are registry names or Hub ids (``owner/name``; revisions as ``*_revision``). ``question`` is
    ``all`` or a ``task/index`` key; ``modality`` is ``image_text``, ``text`` or ``both``; ``attack`` is
    ``none`` or an attack of the probe's panel (:func:`probes.attacked.probe_attacks`).
    """

    def probe(
        left: str,
        right: str,
        eval_set: str = "forget",
        person: str = "",
        question: str = "all",
        modality: str = "image_text",
        free_text: str = "",
        left_revision: str = "",
        right_revision: str = "",
        attack: str = "none",
    ) -> dict[str, Any]:
        """Run a probe and return both models' scored answers and the summary line."""
        try:
            request = ProbeRequest(
                left=parse_choice(left, None, left_revision or None),
                right=parse_choice(right, None, right_revision or None),
                eval_set=EvalSet(eval_set),
                person_id=person or None,
                question_key=question or ALL_QUESTIONS,
                modality=None if modality == "both" else Modality(modality),
                free_text=free_text,
                attack=attack or NO_ATTACK,
            )
            final = None
            for state in service.run(request):
                final = state
        except (ProbeInputError, ValueError) as exc:
            return {"error": str(exc)}
        except Exception as exc:  # a model that fails to load: a structured answer, no server paths
            return {"error": load_error_message(exc)}
        return final.to_dict() if final is not None else {"error": "no answer"}

    return probe
