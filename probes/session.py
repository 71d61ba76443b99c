"""The side-by-side probe: two models answer one person's questions, streamed, scored, marked.

This is the service behind the app's Probe tab and its ``probe`` API endpoint;
it has no UI code. A probe is:

1. a set (forget, test, retain, celebrity) and a person of that set
   (:meth:`ProbeService.people`), or a free-form question with an optional image;
2. one of the person's questions or all of them, asked with the portrait
   (image+text questions) or by name (text questions), written with the
   official zero-shot prompt builders of :mod:`probes.protocols`;
3. two models (registry names, or a pasted Hub id and revision, validated
   before anything is loaded), loaded lazily through :mod:`backend` and kept in
   a small least-recently-used pool;
4. both answers streamed at once (:func:`run_probe` yields the growing
   :class:`ProbeState`), each scored with :func:`probes.results.make_record`
   (correct or not for multiple choice and cloze, ROUGE-L for generation) and
   marked *still known* or *forgotten*, plus a per-person summary line.

Models are anything with the :class:`StreamingModel` method, so tests pass a
deterministic fake; :class:`BackendModel` adapts a model loaded by
:mod:`backend` (its ``stream_generate``, with cancellation and a time limit).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from probes.protocols import (
    GEN_INSTRUCTION_IMAGE,
    GEN_INSTRUCTION_TEXT,
    MC_INSTRUCTION,
    cloze_text,
    official_cloze_query,
    official_generation_prompt,
    official_mc_query,
    options_block,
)
from probes.results import ASSISTANT, SampleRecord, make_record
from probes.schema import Benchmark, EvalSet, Modality, MultipleChoice, Profile, Question, Task

if TYPE_CHECKING:
    from backend.loading import LoadedModel
    from backend.registry import ModelSpec, Registry

KNOWN_ROUGE_L = 0.5
"""A generated answer with ROUGE-L F-measure at least this counts as *still known* (below: *forgotten*)."""

ALL_QUESTIONS = "all"
"""The question key that asks all of a person's questions (of the chosen modality)."""

FREE_KEY = "free"
"""The key of a free-form question."""

TASK_LABELS = {Task.CLASSIFICATION: "MC", Task.CLOZE: "cloze", Task.GENERATION: "generation"}

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


class ProbeInputError(ValueError):
    """A probe request is invalid (unknown person or question, malformed Hub id, ...); the message says why."""


# --------------------------------------------------------------------------- people and questions


@dataclass(frozen=True)
class Person:
    """A person who can be probed: one profile of one evaluation set."""

    id: str
    """The profile ID (``"093"`` for fictitious people)."""
    name: str
    """The person's name (from the biography)."""
    portrait: bytes
    """The portrait shown with image+text questions (the test set's first transformed portrait)."""


@dataclass(frozen=True)
class ProbeQuestion:
    """One question to put to both models, with the prompt each kind of model gets."""

    key: str
    """``task/index`` (index within the person's questions of that task, upstream order), or ``free``."""
    task: Task | None
    """classification, cloze or generation; None for a free-form question (not scored)."""
    modality: Modality
    """image_text: asked with the image; text: asked by name, no image."""
    question: str
    """The question as shown (multiple choice: with its options)."""
    prompt: str
    """Upstream's raw zero-shot prompt (``USER: ... ASSISTANT:``) for llava / idefics2-style models."""
    chat_text: str
    """The user turn for chat-template models (the same question and instruction, no role markers)."""
    images: tuple[bytes, ...] = ()
    """The encoded image(s) the prompt refers to (one for image+text, none for text)."""
    reference: str | None = None
    """The correct letter or the ground truth; None for free-form questions."""
    reference_text: str | None = None
    """The reference as shown: ``C: Quebec City`` for multiple choice, else the ground truth."""
    eval_set: EvalSet | None = None
    """The set the person was picked from."""
    profile_id: str | None = None
    """The person's ID."""
    question_index: int = 0
    """Index within the person's questions of this task."""


def _portrait(profile: Profile) -> bytes:
    return profile.images[0] if profile.images else b""


def people(benchmark: Benchmark, eval_set: EvalSet, forget_ratio: int) -> list[Person]:
    """The people of ``eval_set`` at ``forget_ratio``, in dataset order."""
    return [Person(p.id, p.name or p.id, _portrait(p)) for p in benchmark.eval_profiles(eval_set, forget_ratio)]


def find_profile(benchmark: Benchmark, eval_set: EvalSet, forget_ratio: int, person_id: str) -> Profile:
    """The profile ``person_id`` of ``eval_set``, or :class:`ProbeInputError` naming the set."""
    for profile in benchmark.eval_profiles(eval_set, forget_ratio):
        if profile.id == person_id:
            return profile
    raise ProbeInputError(f"no person with ID {person_id!r} in the {eval_set.value} set (forget {forget_ratio} %)")


def _question(q: Question, key: str, index: int, profile: Profile, eval_set: EvalSet) -> ProbeQuestion:
    image = q.modality is Modality.IMAGE_TEXT
    images = (_portrait(profile),) if image else ()
    if isinstance(q, MultipleChoice):
        prompt = official_mc_query(q, q.modality)
        shown = options_block(q)
        chat = f"{shown}\n{MC_INSTRUCTION}"
        reference_text = f"{q.correct}: {q.options[q.correct]}"
    elif q.task is Task.CLOZE:
        prompt = official_cloze_query(q)  # type: ignore[arg-type]
        shown = q.question
        chat = cloze_text(q)  # type: ignore[arg-type]
        reference_text = q.reference
    else:
        prompt = official_generation_prompt(q)  # type: ignore[arg-type]
        shown = q.question
        chat = f"{q.question}\n{GEN_INSTRUCTION_IMAGE if image else GEN_INSTRUCTION_TEXT}"
        reference_text = q.reference
    return ProbeQuestion(
        key=key,
        task=q.task,
        modality=q.modality,
        question=shown,
        prompt=prompt,
        chat_text=chat,
        images=images,
        reference=q.reference,
        reference_text=reference_text,
        eval_set=eval_set,
        profile_id=profile.id,
        question_index=index,
    )


TASK_ORDER = (Task.CLASSIFICATION, Task.CLOZE, Task.GENERATION)
"""The order a person's questions are asked in."""


def person_questions(profile: Profile, eval_set: EvalSet, modality: Modality | None = None) -> list[ProbeQuestion]:
    """Every question of ``profile`` (of one modality, or both), multiple choice first, then cloze, then generation."""
    out = []
    for task in TASK_ORDER:
        for index, q in enumerate(profile.questions(task)):
            if modality is None or q.modality is modality:
                out.append(_question(q, f"{task.value}/{index}", index, profile, eval_set))
    return out


def question_choices(profile: Profile, eval_set: EvalSet, modality: Modality | None = None) -> list[tuple[str, str]]:
    """``(label, key)`` pairs for a question picker: "all questions" first, then each question."""
    qs = person_questions(profile, eval_set, modality)
    choices = [(f"All {len(qs)} questions", ALL_QUESTIONS)]
    for q in qs:
        first_line = q.question.splitlines()[0]
        choices.append((f"{TASK_LABELS[q.task] if q.task else 'free'} · {first_line}", q.key))
    return choices


def select_questions(
    profile: Profile, eval_set: EvalSet, modality: Modality | None, key: str = ALL_QUESTIONS
) -> list[ProbeQuestion]:
    """All of the person's questions (``key == "all"``) or the one named by ``key`` (``task/index``)."""
    qs = person_questions(profile, eval_set, modality)
    if key in (ALL_QUESTIONS, "", None):
        return qs
    chosen = [q for q in qs if q.key == key]
    if not chosen:
        known = ", ".join(q.key for q in qs) or "none"
        raise ProbeInputError(f"{profile.name or profile.id} has no question {key!r} in this modality (known: {known})")
    return chosen


def free_question(text: str, image: bytes | None = None) -> ProbeQuestion:
    """A free-form question (not scored), with the portrait-style prompt when an image is given."""
    text = text.strip()
    if not text:
        raise ProbeInputError("the free-form question is empty")
    if image:
        prompt = f"USER: <image>\n{text}\n{ASSISTANT}"
        return ProbeQuestion(FREE_KEY, None, Modality.IMAGE_TEXT, text, prompt, text, (image,))
    return ProbeQuestion(FREE_KEY, None, Modality.TEXT, text, f"USER: {text}\n{ASSISTANT}", text)


# --------------------------------------------------------------------------- models


class StreamingModel(Protocol):
    """What the probe needs from a model: a name and a cancellable, time-limited stream of text chunks."""

    @property
    def name(self) -> str:
        """The name shown above the model's answers."""
        ...

    def stream(
        self, question: ProbeQuestion, *, max_new_tokens: int, cancel: threading.Event, time_limit_s: float | None
    ) -> Iterator[str]:
        """Yield the answer's text chunks as they are produced (the continuation only).

        The iterator may have a ``stop_reason`` attribute (``eos``, ``max_new_tokens``, ``stop_string``,
        ``cancelled``, ``time_limit``) once exhausted. Setting ``cancel`` must end it promptly.
        """
        ...


class BackendModel:
    """A :class:`StreamingModel` over a model loaded by :mod:`backend` (greedy, stops at ``ASSISTANT:``)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    @property
    def name(self) -> str:
        """The registry name of the loaded model (view)."""
        return str(self.loaded.spec.name)

    def stream(
        self, question: ProbeQuestion, *, max_new_tokens: int, cancel: threading.Event, time_limit_s: float | None
    ) -> Iterator[str]:
        """Stream with :func:`backend.generation.stream_generate` (raw prompt, or the chat template)."""
        from backend.generation import GenerationRequest, chat_request, stream_generate
        from backend.registry import PromptStyle
        from probes.runner import decode_images

        images = tuple(decode_images(question.images))
        if self.loaded.spec.prompt_style is PromptStyle.CHAT_TEMPLATE:
            request = chat_request(self.loaded, question.chat_text, images)
        else:
            request = GenerationRequest(question.prompt, images)
        return stream_generate(
            self.loaded,
            request,
            max_new_tokens=max_new_tokens,
            stop=(ASSISTANT,),
            cancel=cancel,
            time_limit_s=time_limit_s,
        )


@dataclass(frozen=True)
class ModelChoice:
    """A model to probe: a registry entry, or a Hub repository at a revision (validated, not yet loaded)."""

    name: str
    """Registry name, or the Hub repository id for a custom model."""
    revision: str | None = None
    """Hub revision of a custom model."""
    custom: bool = False
    """True for a pasted Hub id outside the registry."""

    @property
    def label(self) -> str:
        """How the model is named in the UI."""
        return f"{self.name}@{self.revision}" if self.custom and self.revision else self.name


def custom_model(repo_id: str, revision: str | None) -> ModelChoice:
    """Validate a pasted Hub id and revision (format only; nothing is downloaded) into a :class:`ModelChoice`."""
    repo_id, revision = (repo_id or "").strip(), (revision or "").strip() or "main"
    if not _REPO_ID.match(repo_id) or len(repo_id) > 96:
        raise ProbeInputError(f"{repo_id!r} is not a Hub model id of the form 'owner/name' (e.g. MLLMMU/LLaVA_Vanilla)")
    if not _REVISION.match(revision) or ".." in revision:
        raise ProbeInputError(f"{revision!r} is not a valid revision (a branch, tag or commit sha)")
    return ModelChoice(repo_id, revision, custom=True)


def default_pair(registry: Registry, left: str | None = None, right: str | None = None) -> tuple[str, str]:
    """The probe's default models: a vanilla model and an unlearned one made from it, read from ``method`` fields.

    Local entries (the demo models) are preferred, so a fresh CPU machine never starts on a 7B download;
    explicit ``left`` / ``right`` names win. Falls back to the first local entry on both sides.
    """
    models = list(registry.models)
    if not models:
        raise ProbeInputError("the model registry is empty")
    pool = [s for s in models if s.is_local] or models
    vanilla = next((s for s in pool if (s.method or "").lower() == "vanilla"), None)
    unlearned = [s for s in pool if s.method and s.method.lower() != "vanilla"]
    if vanilla is not None:
        children = [s for s in unlearned if s.base == vanilla.name]
        unlearned = children or unlearned
    first = vanilla or pool[0]
    second = unlearned[0] if unlearned else first
    return left or first.name, right or second.name


Loader = Callable[["ModelSpec"], Any]
"""Loads a registry entry and returns a :class:`StreamingModel` (tests inject fakes)."""


class ModelPool:
    """Registry access and lazily loaded models.

    Real models live in :class:`backend.cache.ModelCache` (thread-safe, loads each model once, evicts the
    least recently used beyond a memory budget, and serves a base-versus-adapter pair from one copy of the
    base weights). Tests inject ``loader`` instead: ``spec -> StreamingModel``, kept in a small LRU.
    """

    def __init__(
        self,
        registry_path: Path | None = None,
        *,
        quantize: str = "auto",
        device: str | None = None,
        memory_budget_bytes: int = 16 * 2**30,
        max_models: int = 4,
        allow_custom: bool = True,
        loader: Loader | None = None,
        registry: Registry | None = None,
    ) -> None:
        """Configure the pool; nothing is read or loaded until first use.

        Args:
            registry_path: The registry YAML (default: the backend's).
            quantize: Passed to the backend loader (auto, 4bit, none).
            device: Passed to the backend loader.
            memory_budget_bytes: Budget of the backend model cache.
            max_models: Models kept when ``loader`` is injected.
            allow_custom: Whether pasted Hub ids may be loaded.
            loader: ``spec -> StreamingModel`` (tests); default: the backend cache, wrapped in :class:`BackendModel`.
            registry: An already loaded registry (otherwise read from ``registry_path`` on first use).
        """
        self.registry_path = registry_path
        self.quantize = quantize
        self.device = device
        self.memory_budget_bytes = memory_budget_bytes
        self.max_models = max_models
        self.allow_custom = allow_custom
        self._loader = loader
        self._registry = registry
        self._lock = threading.Lock()
        self._cache: Any = None
        self._seen: set[str] = set()
        self._fakes: OrderedDict[str, Any] = OrderedDict()

    @property
    def registry(self) -> Registry:
        """The model registry (read on first use)."""
        if self._registry is None:
            from backend.registry import load_registry

            self._registry = load_registry(self.registry_path)
        return self._registry

    def names(self) -> list[str]:
        """Registry names, in file order."""
        return list(self.registry.names)

    def describe(self, name: str) -> str:
        """One line about a registry entry (method, forget ratio, source)."""
        spec = self.registry.get(name)
        bits = [spec.method or "base model"]
        if spec.forget_ratio:
            bits.append(f"forget {spec.forget_ratio} %")
        bits.append(spec.source)
        return " · ".join(bits)

    def is_loaded(self, choice: ModelChoice) -> bool:
        """Whether ``choice`` was loaded before (it may since have been evicted)."""
        with self._lock:
            return self._key(choice) in self._seen

    def _spec(self, choice: ModelChoice) -> ModelSpec:
        from backend.registry import ModelSpec, UnknownModelError

        if choice.custom:
            if not self.allow_custom:
                raise ProbeInputError("custom Hub models are disabled on this server; pick a registry model")
            return ModelSpec.adhoc(choice.name, revision=choice.revision)
        try:
            return self.registry.get(choice.name)
        except UnknownModelError as exc:
            raise ProbeInputError(str(exc)) from None

    @staticmethod
    def _key(choice: ModelChoice) -> str:
        return f"{choice.name}@{choice.revision}" if choice.custom else choice.name

    def _fake(self, choice: ModelChoice, spec: ModelSpec) -> Any:
        assert self._loader is not None
        key = self._key(choice)
        with self._lock:
            if key in self._fakes:
                self._fakes.move_to_end(key)
                return self._fakes[key]
        model = self._loader(spec)
        with self._lock:
            self._fakes[key] = model
            while len(self._fakes) > self.max_models:
                self._fakes.popitem(last=False)
        return model

    def get_pair(self, left: ModelChoice, right: ModelChoice) -> tuple[StreamingModel, StreamingModel]:
        """Both models, validated first and loaded on first use (an adapter and its base share weights).

        Raises:
            ProbeInputError: an unknown registry name, or custom models are disabled.
            backend.loading.ModelLoadError: a model cannot be loaded (the message says why).
        """
        specs = (self._spec(left), self._spec(right))
        if self._loader is not None:
            pair: tuple[Any, Any] = (self._fake(left, specs[0]), self._fake(right, specs[1]))
        else:
            with self._lock:
                if self._cache is None:
                    from backend.cache import ModelCache

                    self._cache = ModelCache(self.memory_budget_bytes, registry=self.registry)
            loaded = self._cache.get_pair(*specs, quantize=self.quantize, device=self.device)
            pair = (BackendModel(loaded.left), BackendModel(loaded.right))
        with self._lock:
            self._seen.update((self._key(left), self._key(right)))
        return pair


# --------------------------------------------------------------------------- running


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

    @property
    def correct(self) -> bool | None:
        """Multiple choice / cloze: the answer is right; generation: ROUGE-L reaches :data:`KNOWN_ROUGE_L`."""
        if self.record is None:
            return None
        if self.record.task is Task.GENERATION:
            return self.record.scores["rougeL"] >= KNOWN_ROUGE_L
        return self.record.scores["accuracy"] >= 1.0

    @property
    def marker(self) -> Literal["still known", "forgotten"] | None:
        """*still known* when :attr:`correct`, *forgotten* when not, None while unscored."""
        c = self.correct
        return None if c is None else ("still known" if c else "forgotten")

    @property
    def score_text(self) -> str:
        """``correct`` / ``wrong`` (with the extracted letter for MC) or ``ROUGE-L 0.42``; empty while unscored."""
        r = self.record
        if r is None:
            return ""
        if r.task is Task.GENERATION:
            return f"ROUGE-L {r.scores['rougeL']:.2f}"
        verdict = "correct" if r.scores["accuracy"] >= 1.0 else "wrong"
        if r.task is Task.CLASSIFICATION:
            return f"{verdict} (read {r.answer or 'no letter'})"
        return verdict

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
            "marker": self.marker,
        }


@dataclass
class ProbeRow:
    """One question and both answers."""

    question: ProbeQuestion
    answers: tuple[Answer, Answer]


@dataclass(frozen=True)
class TaskSummary:
    """Per-task totals of one side: how many right (MC, cloze) or the mean ROUGE-L (generation)."""

    task: Task
    n: int
    correct: int
    mean_rouge_l: float | None


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
        """JSON-ready form (for the API)."""
        return {
            "models": list(self.models),
            "status": self.status,
            "finished": self.finished,
            "summary": self.summary_line(),
            "rows": [
                {
                    "key": r.question.key,
                    "task": r.question.task.value if r.question.task else None,
                    "modality": r.question.modality.value,
                    "question": r.question.question,
                    "reference": r.question.reference_text,
                    "answers": [a.to_dict() for a in r.answers],
                }
                for r in self.rows
            ],
        }


def _score(question: ProbeQuestion, text: str) -> SampleRecord | None:
    if question.task is None or question.reference is None or question.eval_set is None:
        return None
    return make_record(
        key=f"{question.eval_set.value}/{question.task.value}/{question.modality.value}/"
        f"{question.profile_id}/{question.question_index}",
        eval_set=question.eval_set,
        task=question.task,
        modality=question.modality,
        profile_id=question.profile_id or "",
        question_index=question.question_index,
        question=question.question,
        reference=question.reference,
        image_index=0 if question.images else None,
        raw_output=text,
    )


def _pump(
    side: int,
    model: StreamingModel,
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
        stream = model.stream(question, max_new_tokens=max_new_tokens, cancel=cancel, time_limit_s=time_limit_s)
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


def run_probe(
    left: StreamingModel,
    right: StreamingModel,
    questions: Sequence[ProbeQuestion],
    *,
    max_new_tokens: int = 50,
    time_limit_s: float | None = 60.0,
    cancel: threading.Event | None = None,
    min_interval_s: float = 0.05,
) -> Iterator[ProbeState]:
    """Ask both models each question, streaming both answers at once; yields the state as it grows.

    Args:
        left: The left model (usually the vanilla one).
        right: The right model (usually the unlearned one).
        questions: What to ask, in order.
        max_new_tokens: Most tokens per answer.
        time_limit_s: Wall-clock limit per answer; an answer cut by it is scored as it stands.
        cancel: Set it to stop; closing the iterator stops too (the UI's stop button does that).
        min_interval_s: Least time between two yields while text streams in (the last state always comes).

    Yields:
        The same :class:`ProbeState` object, updated: after each batch of chunks, after each scored
        question, and finished at the end.
    """
    cancel = cancel or threading.Event()
    state = ProbeState(models=(left.name, right.name))
    threads: list[threading.Thread] = []
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
            threads = [
                threading.Thread(
                    target=_pump,
                    args=(side, model, question, messages),
                    kwargs={"max_new_tokens": max_new_tokens, "cancel": stops[side], "time_limit_s": time_limit_s},
                    name=f"probe-{side}",
                    daemon=True,
                )
                for side, model in enumerate((left, right))
            ]
            for t in threads:
                t.start()
            yield state
            last = time.monotonic()
            while not all(a.done for a in row.answers):
                if cancel.is_set():
                    for stop in stops:
                        stop.set()
                try:
                    side, kind, payload = messages.get(timeout=0.1)
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
                    answer.record = _score(question, answer.text) if kind != "error" else None
                now = time.monotonic()
                if kind != "chunk" or now - last >= min_interval_s:
                    last = now
                    yield state
            for t in threads:
                t.join(timeout=5)
        stopped = cancel.is_set()
        state.status = "Stopped." if stopped else f"Done: {len(state.rows)} question(s)."
        state.finished = True
        yield state
    finally:
        cancel.set()  # a closed iterator (stop button, client gone) stops both models at their next token
        for stop in stops:
            stop.set()
        for t in threads:
            t.join(timeout=5)


# --------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class ProbeRequest:
    """Everything a probe needs, as the UI and the API give it."""

    left: ModelChoice
    right: ModelChoice
    eval_set: EvalSet = EvalSet.FORGET
    person_id: str | None = None
    question_key: str = ALL_QUESTIONS
    modality: Modality | None = Modality.IMAGE_TEXT
    """image_text (with the portrait), text (by name) or None (both)."""
    free_text: str = ""
    """A free-form question; when given, it is asked instead of the person's questions."""
    free_image: bytes | None = None


class ProbeService:
    """The probe as the app uses it: the benchmark, a model pool and the answer limits."""

    def __init__(
        self,
        pool: ModelPool,
        *,
        data: str = "demo",
        data_revision: str | None = None,
        forget_ratio: int = 10,
        max_new_tokens: int = 50,
        time_limit_s: float = 60.0,
        default_left: str | None = None,
        default_right: str | None = None,
        benchmark: Benchmark | None = None,
    ) -> None:
        """Configure the service; the benchmark is read on first use (``benchmark`` injects one)."""
        self.pool = pool
        self.data = data
        self.data_revision = data_revision
        self.forget_ratio = forget_ratio
        self.max_new_tokens = max_new_tokens
        self.time_limit_s = time_limit_s
        self._defaults = (default_left, default_right)
        self._benchmark = benchmark

    @property
    def benchmark(self) -> Benchmark:
        """The benchmark (loaded and memoised on first use)."""
        if self._benchmark is None:
            from probes.data import load_benchmark_cached

            self._benchmark = load_benchmark_cached(self.data, self.data_revision)
        return self._benchmark

    def default_models(self) -> tuple[str, str]:
        """Registry names of the default left and right models."""
        return default_pair(self.pool.registry, *self._defaults)

    def people(self, eval_set: EvalSet) -> list[Person]:
        """The people of ``eval_set``."""
        return people(self.benchmark, eval_set, self.forget_ratio)

    def profile(self, eval_set: EvalSet, person_id: str) -> Profile:
        """One person's profile (:class:`ProbeInputError` if absent)."""
        return find_profile(self.benchmark, eval_set, self.forget_ratio, person_id)

    def question_choices(self, eval_set: EvalSet, person_id: str, modality: Modality | None) -> list[tuple[str, str]]:
        """The question picker's choices for one person."""
        return question_choices(self.profile(eval_set, person_id), eval_set, modality)

    def questions(self, request: ProbeRequest) -> list[ProbeQuestion]:
        """The questions a request asks (validated)."""
        if request.free_text.strip():
            return [free_question(request.free_text, request.free_image)]
        if not request.person_id:
            raise ProbeInputError("pick a person (or write a free-form question)")
        profile = self.profile(request.eval_set, request.person_id)
        return select_questions(profile, request.eval_set, request.modality, request.question_key)

    def run(self, request: ProbeRequest, cancel: threading.Event | None = None) -> Iterator[ProbeState]:
        """Validate, load both models (yielding loading states), then :func:`run_probe`.

        Raises:
            ProbeInputError: the request is invalid (raised before anything is loaded).
            backend.loading.ModelLoadError: a model cannot be loaded.
        """
        questions = self.questions(request)
        models = (request.left.label, request.right.label)
        for choice in (request.left, request.right):
            if not self.pool.is_loaded(choice):
                yield ProbeState(models, status=f"Loading {choice.label} (first use; later probes reuse it)…")
        left, right = self.pool.get_pair(request.left, request.right)
        yield from run_probe(
            left,
            right,
            questions,
            max_new_tokens=self.max_new_tokens,
            time_limit_s=self.time_limit_s,
            cancel=cancel,
        )

