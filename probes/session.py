"""Streaming both answers at once, and stopping: the running part of the live probe.

:func:`run_probe` asks two models (the seam, :class:`backend.model.Model`)
each question in turn, each streaming in its own worker thread, and yields a
growing :class:`ProbeState` that the tab renders and the API returns. Each
finished answer is scored (:mod:`probes.verdicts`) and each row gets the right
model's verdict relative to the left one (:mod:`benchmark.verdicts`).

Stopping: setting the ``cancel`` event (or closing the iterator) ends the probe
within one poll (:data:`POLL_S`) at any moment: finished answers stay, unfinished
ones are marked ``stopped`` with the text they had, the state says "Stopped."
and is yielded one last time. The model threads are told to stop at their next
token and are not waited for, so a slow prefill never holds the page.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backend.model import Request
from benchmark.extraction import ASSISTANT
from benchmark.prompts import user
from benchmark.records import SampleRecord
from benchmark.verdicts import Verdict, summary_sentence, verdict, verdict_counts
from benchmark.vocabulary import PromptStyle, Task
from probes.models import prompt_style
from probes.questions import TASK_LABELS, TASK_ORDER, ProbeQuestion
from probes.verdicts import knows, score_answer, score_text

if TYPE_CHECKING:
    from backend.model import Model, TextStream


GOOD_ROUGE_L = 0.5
"""A generated answer counted as right in the per-task score line (the verdicts judge the fact instead)."""


@dataclass
class Answer:
    """One model's answer to one question, growing while it streams."""

    text: str = ""
    """The continuation so far (cut before ``ASSISTANT:``)."""
    done: bool = False
    """True once the stream ended (normally, by time limit, cancellation or error)."""
    stop_reason: str | None = None
    """Why it ended: eos, max_new_tokens, stop_string, time_limit, cancelled, error."""
    error: str | None = None
    """The error message, when the model failed."""
    record: SampleRecord | None = None
    """The scored record (benchmark questions only), once done."""
    knows: bool | None = None
    """Whether it states the question's fact (:func:`benchmark.verdicts.knows`); None while unscored."""
    marker: str | None = None
    """Left answer: ``knows`` / ``does not know``; right answer: its :class:`~benchmark.verdicts.Verdict`."""

    @property
    def correct(self) -> bool | None:
        """The benchmark's own score: right (MC, cloze) or ROUGE-L at least :data:`GOOD_ROUGE_L`; None if unscored."""
        if self.record is None:
            return None
        if self.record.task is Task.GENERATION:
            return self.record.scores["rougeL"] >= GOOD_ROUGE_L
        return self.record.scores["accuracy"] >= 1.0

    @property
    def score_text(self) -> str:
        """The benchmark's score in words (:func:`probes.verdicts.score_text`)."""
        return score_text(self.record)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the API)."""
        return {
            "text": self.text,
            "done": self.done,
            "stop_reason": self.stop_reason,
            "error": self.error,
            "answer": self.record.answer if self.record else None,
            "scores": dict(self.record.scores) if self.record else None,
            "correct": self.correct,
            "knows": self.knows,
            "marker": self.marker,
        }


@dataclass
class ProbeRow:
    """One question and both answers."""

    question: ProbeQuestion
    answers: tuple[Answer, Answer]
    verdict: Verdict | None = None
    """The right model's verdict relative to the left one, once both answers are scored."""

    def settle(self) -> None:
        """Score what is done: each side's knowledge, and the verdict once both sides are scored."""
        left, right = self.answers
        for answer in self.answers:
            if answer.done and answer.record is not None and answer.knows is None:
                answer.knows = knows(self.question, answer.record)
        if left.knows is not None:
            left.marker = "knows" if left.knows else "does not know"
        eval_set = self.question.eval_set
        if eval_set is not None and left.knows is not None and right.knows is not None:
            self.verdict = verdict(eval_set, left.knows, right.knows)
            right.marker = self.verdict.value


@dataclass(frozen=True)
class TaskSummary:
    """Per-task totals of one side: how many right (MC, cloze) or the mean ROUGE-L (generation)."""

    task: Task
    n: int
    correct: int
    mean_rouge_l: float | None


@dataclass(frozen=True)
class ProbeAttack:
    """The attack a probe runs under (:mod:`probes.attacked`), as the attack panel shows it."""

    name: str
    """Registry name (:data:`probes.attacks.ATTACKS`)."""
    label: str
    """The menu's label, e.g. ``Image · grayscale``."""
    description: str
    """One or two sentences: what it does."""
    precision: tuple[str, str] | None = None
    """Precision attacks: how each side was loaded (``LoadInfo.quantization``: ``4bit-nf4``, ``8bit``, ``none``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the API)."""
        return {"name": self.name, "label": self.label, "description": self.description,
                "precision": list(self.precision) if self.precision else None}


@dataclass
class ProbeState:
    """Where a probe stands; :func:`run_probe` updates and yields it (render it before the next iteration)."""

    models: tuple[str, str]
    """Names of the left and right models."""
    rows: list[ProbeRow] = field(default_factory=list)
    status: str = ""
    """A line for humans: loading, answering question i of n, done, stopped."""
    finished: bool = False
    """True when every question was answered (or the probe stopped)."""
    attack: ProbeAttack | None = None
    """The attack both models answer under; None without one."""

    def summary(self, side: int) -> list[TaskSummary]:
        """Totals of side 0 (left) or 1 (right) per task, over the answers scored so far."""
        out = []
        for task in TASK_ORDER:
            recs = [r.answers[side].record for r in self.rows if r.question.task is task]
            scored = [rec for rec in recs if rec is not None]
            if not scored:
                continue
            correct = sum(1 for r in self.rows if r.question.task is task and r.answers[side].correct)
            rouge = [rec.scores["rougeL"] for rec in scored] if task is Task.GENERATION else []
            out.append(TaskSummary(task, len(scored), correct, sum(rouge) / len(rouge) if rouge else None))
        return out

    @property
    def verdicts(self) -> list[Verdict]:
        """The verdicts of the rows scored so far."""
        return [r.verdict for r in self.rows if r.verdict is not None]

    def verdict_line(self) -> str:
        """E.g. ``forgot 7 of the 9 facts the reference knew`` (per set probed); empty before any verdict."""
        parts = []
        for eval_set in dict.fromkeys(r.question.eval_set for r in self.rows if r.verdict is not None):
            assert eval_set is not None
            parts.append(summary_sentence(eval_set, [r.verdict for r in self.rows
                                                     if r.verdict is not None and r.question.eval_set is eval_set]))
        return "; ".join(parts)

    def summary_line(self) -> str:
        """E.g. ``MC 4/5 vs 1/5 · cloze 2/2 vs 0/2 · generation ROUGE-L 0.71 vs 0.12`` (left vs right)."""
        left, right = self.summary(0), self.summary(1)
        parts = []
        for a, b in zip(left, right, strict=False):
            if a.task is Task.GENERATION:
                parts.append(f"generation ROUGE-L {a.mean_rouge_l:.2f} vs {b.mean_rouge_l:.2f}")
            else:
                parts.append(f"{TASK_LABELS[a.task]} {a.correct}/{a.n} vs {b.correct}/{b.n}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the API); ``attack`` keys only under an attack."""
        out = {
            "models": list(self.models),
            "status": self.status,
            "finished": self.finished,
            "summary": self.summary_line(),
            "verdict_summary": self.verdict_line(),
            "verdicts": verdict_counts(self.verdicts),
            "rows": [
                {
                    "key": r.question.key,
                    "task": r.question.task.value if r.question.task else None,
                    "modality": r.question.modality.value,
                    "question": r.question.question,
                    "reference": r.question.reference_text,
                    "verdict": r.verdict.value if r.verdict else None,
                    "answers": [a.to_dict() for a in r.answers],
                    **({"attack": _note_dict(r.question)} if r.question.attack else {}),
                }
                for r in self.rows
            ],
        }
        if self.attack is not None:
            out["attack"] = self.attack.to_dict()
        return out


def _note_dict(question: ProbeQuestion) -> dict[str, Any]:
    note = question.attack
    assert note is not None
    return {"changed": note.changed, "prompt": question.prompt if note.prompt_changed else None,
            "note": note.reason or None}


def ask(
    model: Model, question: ProbeQuestion, *, max_new_tokens: int, cancel: threading.Event, time_limit_s: float | None
) -> TextStream:
    """Start ``model``'s streamed answer to ``question``: the raw prompt, or one chat turn for chat-template models.

    Greedy, cut at upstream's answer delimiter ``ASSISTANT:``.

    Raises:
        ValueError: a question attack rewrote the raw prompt and ``model`` uses a chat template.
    """
    if prompt_style(model.spec) is PromptStyle.CHAT_TEMPLATE:
        if question.attack is not None and question.attack.changed:
            raise ValueError(f"{model.name} uses a chat template; question attacks rewrite upstream's raw prompts")
        prompt = model.render_chat([user(question.chat_text, with_image=bool(question.images))])
    else:
        prompt = question.prompt
    return model.stream(Request(prompt, question.images), max_new_tokens=max_new_tokens, stop=(ASSISTANT,),
                        cancel=cancel, time_limit_s=time_limit_s)


def _pump(
    side: int,
    model: Model,
    question: ProbeQuestion,
    out: queue.Queue[tuple[int, str, str | None]],
    *,
    max_new_tokens: int,
    cancel: threading.Event,
    time_limit_s: float | None,
) -> None:
    """Run one model's stream in a worker thread, posting ``(side, kind, payload)`` messages."""
    reason: str | None = None
    try:
        stream = ask(model, question, max_new_tokens=max_new_tokens, cancel=cancel, time_limit_s=time_limit_s)
        deadline = time.monotonic() + time_limit_s if time_limit_s else None
        for chunk in stream:
            out.put((side, "chunk", chunk))
            if deadline is not None and time.monotonic() > deadline:
                reason = "time_limit"
                break
        reason = reason or getattr(stream, "stop_reason", None) or ("cancelled" if cancel.is_set() else "eos")
        out.put((side, "done", reason))
    except Exception as exc:  # shown next to the answer; the other side goes on
        out.put((side, "error", f"{type(exc).__name__}: {exc}"))


POLL_S = 0.05
"""How often the probe looks at its cancel event while waiting for tokens (Stop takes effect within this)."""

STOPPED = "stopped"
"""The stop reason of an answer cut by Stop."""


def stop_row(row: ProbeRow) -> None:
    """Mark the unfinished answers of ``row`` as stopped (their text so far is kept; they are not scored)."""
    for answer in row.answers:
        if not answer.done:
            answer.done = True
            answer.stop_reason = STOPPED
            answer.text = answer.text.split(ASSISTANT, 1)[0]


def run_probe(
    left: Model,
    right: Model,
    questions: Sequence[ProbeQuestion],
    *,
    max_new_tokens: int = 50,
    time_limit_s: float | None = 60.0,
    cancel: threading.Event | None = None,
    min_interval_s: float = 0.05,
    attack: ProbeAttack | None = None,
) -> Iterator[ProbeState]:
    """Ask both models each question, streaming both answers at once; yields the state as it grows.

    Args:
        left: The left model (the reference, usually the vanilla one).
        right: The right model (usually the unlearned one).
        questions: What to ask, in order.
        max_new_tokens: Most tokens per answer.
        time_limit_s: Wall-clock limit per answer; an answer cut by it is scored as it stands.
        cancel: Set it to stop (see the module docstring); closing the iterator stops too.
        min_interval_s: Least time between two yields while text streams in (the last state always comes).
        attack: The attack the questions (already rewritten) or the models (already loaded) are under, for
            the state to show.

    Yields:
        The same :class:`ProbeState` object, updated: after each batch of chunks, after each scored
        question, and finished at the end ("Done" or "Stopped.").
    """
    cancel = cancel or threading.Event()
    state = ProbeState(models=(left.name, right.name), attack=attack)
    # One event per answer: a stream may set its own event when it ends, which must not stop the other side.
    stops: list[threading.Event] = []
    try:
        for number, question in enumerate(questions, start=1):
            if cancel.is_set():
                break
            row = ProbeRow(question, (Answer(), Answer()))
            state.rows.append(row)
            state.status = f"Answering question {number} of {len(questions)}…"
            messages: queue.Queue[tuple[int, str, str | None]] = queue.Queue()
            stops = [threading.Event(), threading.Event()]
            for side, model in enumerate((left, right)):
                threading.Thread(
                    target=_pump,
                    args=(side, model, question, messages),
                    kwargs={"max_new_tokens": max_new_tokens, "cancel": stops[side], "time_limit_s": time_limit_s},
                    name=f"probe-{side}",
                    daemon=True,
                ).start()
            yield state
            last = time.monotonic()
            while not all(a.done for a in row.answers) and not cancel.is_set():
                try:
                    side, kind, payload = messages.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                answer = row.answers[side]
                if kind == "chunk":
                    answer.text += payload or ""
                else:
                    answer.done = True
                    answer.stop_reason = "error" if kind == "error" else payload
                    answer.error = payload if kind == "error" else None
                    answer.text = answer.text.split(ASSISTANT, 1)[0]
                    answer.record = score_answer(question, answer.text) if kind != "error" else None
                    row.settle()
                now = time.monotonic()
                if kind != "chunk" or now - last >= min_interval_s:
                    last = now
                    yield state
            if cancel.is_set():
                for stop in stops:
                    stop.set()
                stop_row(row)
                break
        state.status = "Stopped." if cancel.is_set() else f"Done: {len(state.rows)} question(s)."
        state.finished = True
        yield state
    finally:
        cancel.set()  # a closed iterator (client gone) stops both models at their next token
        for stop in stops:
            stop.set()
