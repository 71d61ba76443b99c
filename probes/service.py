"""The live probe as the app uses it: a request in, loading states and then the growing answers out.

:class:`ProbeService` holds the benchmark (read on first use), the model pool
and the answer limits; :meth:`ProbeService.run` validates a
:class:`ProbeRequest` before anything is loaded, loads both models, and
streams the probe (:func:`probes.session.run_probe`). The tab and the API call
only this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmark.dataset import Benchmark, Profile
from benchmark.vocabulary import EvalSet, Modality, PromptStyle, retain_split
from probes.attacked import attack_label, attack_questions, find_attack
from probes.attacks import Attack, AttackContext, retain_primers
from probes.models import ModelChoice, ModelPool, default_pair, prompt_style
from probes.questions import (
    ALL_QUESTIONS,
    Person,
    ProbeInputError,
    ProbeQuestion,
    Templates,
    find_profile,
    free_question,
    people,
    question_choices,
    select_questions,
    slot_templates,
)
from probes.session import POLL_S, ProbeAttack, ProbeState, run_probe

if TYPE_CHECKING:
    from backend.model import Model

GPU_MARGIN_S = 10.0
"""Seconds a ZeroGPU call asks for beyond the answers' time limits (moving the weights onto the lent GPU)."""


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
    attack: str = "none"
    """An attack of the probe's panel (:func:`probes.attacked.probe_attacks`) both models answer under."""


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
        self._templates: Templates | None = None
        self._primers: tuple[tuple[str, str], ...] | None = None
        self._run_probe: Callable[..., Iterator[ProbeState]] | None = None

    @property
    def benchmark(self) -> Benchmark:
        """The benchmark (loaded and memoised on first use)."""
        if self._benchmark is None:
            from benchmark.reader import load_benchmark_cached

            self._benchmark = load_benchmark_cached(self.data, self.data_revision)
        return self._benchmark

    def default_models(self) -> tuple[str, str]:
        """Registry names of the default left and right models (demo ones when the pool offers only those)."""
        pair = default_pair(self.pool.registry, *self._defaults)
        if self.pool.demo_only and not all(self.pool.is_demo(n) for n in pair):
            pair = default_pair(self.pool.registry)  # the configured ones are not offered: the local defaults
        return pair

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
        return select_questions(profile, request.eval_set, request.modality, request.question_key,
                                self.templates(request.eval_set))

    def templates(self, eval_set: EvalSet) -> Templates:
        """The shared template of each question slot, from every person of the benchmark (computed once).

        Every split counts, not only ``eval_set``'s people: in a small set two people may share a fact
        (a hobby), which must not pass for template.
        """
        if self._templates is None:
            people = {p.id: p for split in self.benchmark.splits.values() for p in split}
            self._templates = slot_templates(list(people.values()))
        return self._templates

    def attack_context(self) -> AttackContext:
        """What question attacks draw on: few-shot primers about the retain people (drawn once, seed 0)."""
        if self._primers is None:
            retain_ids = [p.id for p in self.benchmark.splits.get(retain_split(self.forget_ratio), ())]
            self._primers = retain_primers(self.benchmark, retain_ids)
        return AttackContext(primers=self._primers)

    def attacked_questions(self, request: ProbeRequest, attack: Attack) -> list[ProbeQuestion]:
        """The request's questions as the question attack ``attack`` asks them (validated, nothing loaded).

        Raises:
            ProbeInputError: the request is invalid, or an attack rewrote a prompt for a chat-template model.
        """
        questions = self.questions(request)
        free = bool(request.free_text.strip())
        profile = None if free or not request.person_id else self.profile(request.eval_set, request.person_id)
        attacked = attack_questions(attack, questions, profile, self.attack_context())
        if any(q.attack and q.attack.changed for q in attacked):
            for choice in (request.left, request.right):
                if prompt_style(self.pool.spec(choice)) is PromptStyle.CHAT_TEMPLATE:
                    raise ProbeInputError(f"{choice.label} uses a chat template; question attacks rewrite "
                                          "upstream's raw prompts (pick no attack or a precision attack)")
        return attacked

    def gpu_seconds(self, left: Model, right: Model, questions: list[ProbeQuestion], **_: object) -> float:
        """The GPU time one probe may need: every question's answers cut at the time limit, plus a margin."""
        return GPU_MARGIN_S + len(questions) * self.time_limit_s

    def _gpu_probe(self) -> Callable[..., Iterator[ProbeState]]:
        """:func:`probes.session.run_probe`, inside ``spaces.GPU`` on a ZeroGPU Space (:mod:`backend.zerogpu`)."""
        if self._run_probe is None:
            from backend.zerogpu import gpu_call

            self._run_probe = gpu_call(run_probe, duration=self.gpu_seconds)
        return self._run_probe

    def run(self, request: ProbeRequest, cancel: threading.Event | None = None) -> Iterator[ProbeState]:
        """Validate, load both models (yielding loading states), then :func:`run_probe`.

        Under a question attack both models get the attacked questions; under a precision attack both are
        loaded at that precision (:mod:`probes.attacked`).

        Raises:
            ProbeInputError: the request is invalid (raised before anything is loaded).
            backend.loading.ModelLoadError: a model cannot be loaded.
        """
        self.pool.spec(request.left)  # refuses a model this server does not offer, before anything is fetched
        self.pool.spec(request.right)
        attack = find_attack(request.attack)
        if attack is not None and attack.rewrite is not None:
            questions = self.attacked_questions(request, attack)
        else:
            questions = self.questions(request)
        quantize = attack.quantize if attack is not None else None
        models = (request.left.label, request.right.label)
        cancel = cancel or threading.Event()
        for choice in (request.left, request.right):
            if not self.pool.is_loaded(choice, quantize):
                at = f" in {attack.label}" if attack is not None and quantize else ""
                yield ProbeState(models, status=f"Loading {choice.label}{at} (first use; later probes reuse it)…")
        # Loading cannot be interrupted: it runs in a thread (and finishes for the next probe) while Stop
        # ends this probe at once.
        loaded: list[tuple[Model, Model]] = []
        failed: list[BaseException] = []

        def load() -> None:
            try:
                pair = (self.pool.get_pair(request.left, request.right, quantize) if quantize
                        else self.pool.get_pair(request.left, request.right))
                loaded.append(pair)
            except BaseException as exc:  # noqa: BLE001 - handed to the probe's thread below
                failed.append(exc)

        loader = threading.Thread(target=load, name="probe-load", daemon=True)
        loader.start()
        while loader.is_alive():
            if cancel.is_set():
                yield ProbeState(models, status="Stopped.", finished=True)
                return
            loader.join(timeout=POLL_S)
        if failed:
            raise failed[0]
        left, right = loaded[0]
        shown = None
        if attack is not None:
            precision = (left.info.quantization, right.info.quantization) if quantize else None
            shown = ProbeAttack(attack.name, attack_label(attack), attack.description, precision)
        yield from self._gpu_probe()(
            left,
            right,
            questions,
            max_new_tokens=self.max_new_tokens,
            time_limit_s=self.time_limit_s,
            cancel=cancel,
            attack=shown,
        )
