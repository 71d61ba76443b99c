"""The model registry: one human-edited YAML file listing the models the app knows.

The default registry is ``models.yaml`` at the repository root. Each entry is a
:class:`ModelSpec`; a file with a mistake is refused as a whole, with an error
that names the entry and the field (``models.yaml: entry 3 'demo-ga': field
'kind': ...``), because a half-loaded registry would silently hide a model.

Layout::

    version: 1
    models:
      - name: demo-base                      # short name, unique
        path: demo/models/demo-base          # a local folder (relative to the repository root) ...
        kind: full                           # full checkpoint, an adapter on `base`, or a fake
        prompt_style: llava
        description: Tiny untrained LLaVA.
      - name: llava-vanilla
        repo_id: MLLMMU/LLaVA_Vanilla        # ... or a Hub repository
        revision: main                       # required for Hub entries; pin a commit for reproducibility
        base: llava-1.5-7b                   # the model it was made from (an entry name)
        method: vanilla
      - name: echo
        kind: fake                           # no weights: a deterministic stand-in (backend.fakes)
        behaviour: hash                      # which registered fake behaviour answers
      - name: vanilla-prompting
        kind: prompt                         # no weights: `base` answers behind an instruction
        base: llava-vanilla
        method: prompting
        forget_ratio: 10
        instruction: "Do not reveal anything about ..."   # written by: python -m unlearning prompting
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REGISTRY_VERSION = 1
"""The registry file format version this code reads."""

REPO_ROOT = Path(__file__).resolve().parent.parent
"""Relative ``path`` entries are resolved against this folder (the repository root) by default."""

DEFAULT_REGISTRY = REPO_ROOT / "models.yaml"
"""The registry shipped with the project."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def repo_id_problem(repo_id: str) -> str | None:
    """What is wrong with ``repo_id`` as a Hub model id ``owner/name`` (huggingface_hub's rules), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    form = f"{repo_id!r} is not a Hub model id of the form 'owner/name' (e.g. MLLMMU/LLaVA_Vanilla)"
    if repo_id.count("/") != 1:
        return form
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return f"{form}: {exc}"
    return None


class RegistryError(ValueError):
    """The registry file is missing, unreadable or has an invalid entry; the message says where."""


class UnknownModelError(KeyError):
    """A model name is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown model"


class ModelKind(StrEnum):
    """What a registry entry's weights are."""

    FULL = "full"
    """A complete checkpoint (possibly a merged fine-tune)."""
    ADAPTER = "adapter"
    """A LoRA (peft) adapter that is applied on the entry named by ``base``."""
    FAKE = "fake"
    """No weights: a deterministic stand-in whose answers come from a registered behaviour (:mod:`backend.fakes`)."""
    PROMPT = "prompt"
    """No weights of its own: ``base`` answers with ``instruction`` put before every prompt (the prompting method)."""


class ModelSpec(BaseModel):
    """One model the app can load: where its weights are and what it is."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    name: str = Field(description="Short unique name, used in the UI and on the command line (letters, digits, ._-).")
    repo_id: str | None = Field(default=None, description="Hub repository id ('owner/name'); exclusive with path.")
    path: str | None = Field(
        default=None,
        description="Local folder; relative paths are relative to the repository root. Exclusive with repo_id.",
    )
    revision: str | None = Field(
        default=None, description="Hub branch, tag or commit to load; required with repo_id (pin a commit sha)."
    )
    base: str | None = Field(
        default=None,
        description="Registry name of the model this one was made from; required for adapters (what they apply to).",
    )
    kind: ModelKind = Field(default=ModelKind.FULL, description="'full' checkpoint or LoRA 'adapter' on base.")
    method: str | None = Field(
        default=None,
        description="How it was made: 'vanilla' (fine-tuned on all profiles), 'ga', 'npo', ...; none for a base.",
    )
    forget_ratio: int | None = Field(
        default=None, description="Forget split percentage (5, 10 or 15) for unlearned models."
    )
    prompt_style: str = Field(
        default="llava",
        description="How prompts are written for it: llava, idefics2 or chat_template (the benchmark's prompt styles).",
    )
    behaviour: str | None = Field(default=None, description="For kind fake: the registered fake behaviour (e.g. hash).")
    instruction: str | None = Field(
        default=None, description="For kind prompt: the text put before every prompt (e.g. an instruction to refuse)."
    )
    description: str = Field(default="", description="One line for humans.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not _NAME.match(self.name):
            raise ValueError(f"field 'name': {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if (self.instruction is not None) != (self.kind is ModelKind.PROMPT):
            raise ValueError("kind 'prompt' needs 'instruction' (the text put before every prompt); other kinds "
                             "take none")
        if self.kind is ModelKind.PROMPT:
            has_weights = self.repo_id is not None or self.path is not None
            if has_weights or not self.base or not (self.instruction or "").strip():
                raise ValueError("kind 'prompt': give 'base' (the model that answers) and a non-empty "
                                 "'instruction', and neither 'repo_id' nor 'path'")
        elif self.kind is ModelKind.FAKE:
            if self.repo_id is not None or self.path is not None or not self.behaviour:
                raise ValueError("kind 'fake': give 'behaviour' (e.g. hash) and neither 'repo_id' nor 'path'")
        elif self.behaviour is not None:
            raise ValueError("field 'behaviour': only for kind 'fake'")
        elif (self.repo_id is None) == (self.path is None):
            raise ValueError("fields 'repo_id'/'path': give exactly one (a Hub repository or a local folder)")
        if self.repo_id is not None:
            problem = repo_id_problem(self.repo_id)
            if problem:
                raise ValueError(f"field 'repo_id': {problem}")
            if not self.revision:
                raise ValueError(
                    "field 'revision': required for a Hub model (a commit sha, or 'main' to follow the branch)"
                )
        if self.kind is ModelKind.ADAPTER and not self.base:
            raise ValueError("field 'base': an adapter needs base, the registry name of the model it applies to")
        if self.forget_ratio is not None and self.forget_ratio not in (5, 10, 15):
            raise ValueError(f"field 'forget_ratio': must be 5, 10 or 15, got {self.forget_ratio}")
        return self

    @property
    def source(self) -> str:
        """The Hub repository id or the local path, as written (``fake:BEHAVIOUR`` for a fake)."""
        if self.kind is ModelKind.FAKE:
            return f"fake:{self.behaviour}"
        if self.kind is ModelKind.PROMPT:
            return f"prompt:{self.base}"
        return self.repo_id if self.repo_id is not None else str(self.path)

    @property
    def is_local(self) -> bool:
        """True for a local folder, False for a Hub repository."""
        return self.path is not None

    def local_path(self, root: Path | None = None) -> Path:
        """The folder of a local entry; relative paths are resolved against ``root`` (default: the repository root)."""
        if self.path is None:
            raise ValueError(f"model {self.name!r} is a Hub repository ({self.repo_id}), not a local folder")
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else (root or REPO_ROOT) / path

    @classmethod
    def hub(cls, repo_id: str, *, revision: str | None = None) -> ModelSpec:
        """A Hub model pasted by a user: always the Hub, never a folder on this machine with the same name.

        Raises:
            ValueError: ``repo_id`` is not a valid Hub id (the message says why).
        """
        problem = repo_id_problem(repo_id)
        if problem:
            raise ValueError(problem)
        label = re.sub(r"[^A-Za-z0-9._-]", "-", repo_id)[:64].strip("-._") or "model"
        return cls(name=label, repo_id=repo_id, revision=revision or "main")

    @classmethod
    def adhoc(cls, source: str | Path, *, revision: str | None = None, name: str | None = None) -> ModelSpec:
        """A spec for a model outside the registry: an existing folder, else a Hub id (revision defaults to main)."""
        text = str(source)
        label = name or re.sub(r"[^A-Za-z0-9._-]", "-", Path(text).name or text)[:64].strip("-._") or "model"
        if Path(text).expanduser().exists() or repo_id_problem(text) is not None:
            return cls(name=label, path=str(Path(text).expanduser().resolve()))
        return cls(name=label, repo_id=text, revision=revision or "main")


class Registry(BaseModel):
    """A validated registry: its models in file order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[ModelSpec, ...] = Field(description="The entries, in file order; names are unique.")
    path: Path | None = Field(default=None, description="The file it was read from, if any.")
    root: Path = Field(default=REPO_ROOT, description="Folder relative local paths are resolved against.")

    @property
    def names(self) -> tuple[str, ...]:
        """Entry names in file order."""
        return tuple(spec.name for spec in self.models)

    def get(self, name: str) -> ModelSpec:
        """The entry called ``name``; :class:`UnknownModelError` lists the known names otherwise."""
        for spec in self.models:
            if spec.name == name:
                return spec
        known = ", ".join(self.names) or "none"
        where = f" in {self.path}" if self.path else ""
        raise UnknownModelError(f"no model named {name!r}{where}; known models: {known}")

    def base_of(self, spec: ModelSpec) -> ModelSpec | None:
        """The entry ``spec.base`` names, or None when it names none."""
        return self.get(spec.base) if spec.base else None

    def local_path(self, spec: ModelSpec) -> Path:
        """The folder of a local entry, resolved against this registry's root."""
        return spec.local_path(self.root)


def _entry_label(index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"entry {index + 1}" + (f" {name!r}" if isinstance(name, str) else "")


def parse_registry(data: Any, *, source: str = "registry", root: Path | None = None) -> Registry:
    """Validate an already-parsed registry document (the YAML's top-level mapping).

    Raises:
        RegistryError: naming the entry (1-based index and name) and the field at fault.
    """
    if not isinstance(data, dict):
        raise RegistryError(f"{source}: expected a mapping with 'version' and 'models', got {type(data).__name__}")
    unknown = set(data) - {"version", "models"}
    if unknown:
        raise RegistryError(f"{source}: unknown top-level keys {sorted(unknown)}; expected 'version' and 'models'")
    version = data.get("version", REGISTRY_VERSION)
    if version != REGISTRY_VERSION:
        raise RegistryError(
            f"{source}: registry version {version!r} is not supported (this code reads {REGISTRY_VERSION})"
        )
    raw_models = data.get("models")
    if not isinstance(raw_models, list):
        raise RegistryError(f"{source}: 'models' must be a list of entries")
    specs: list[ModelSpec] = []
    for index, raw in enumerate(raw_models):
        label = _entry_label(index, raw)
        if not isinstance(raw, dict):
            raise RegistryError(f"{source}: {label}: expected a mapping of fields, got {type(raw).__name__}")
        try:
            specs.append(ModelSpec.model_validate(raw))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"])
                message = err["msg"].removeprefix("Value error, ")
                problems.append(f"field {field!r}: {message}" if field else message)
            raise RegistryError(f"{source}: {label}: " + "; ".join(problems)) from None
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        if spec.name in seen:
            raise RegistryError(
                f"{source}: entry {index + 1} {spec.name!r}: field 'name': duplicate of entry {seen[spec.name] + 1}"
            )
        seen[spec.name] = index
    for index, spec in enumerate(specs):
        if spec.base is None:
            continue
        if spec.base not in seen:
            raise RegistryError(
                f"{source}: entry {index + 1} {spec.name!r}: field 'base': no entry named {spec.base!r} "
                f"(known: {', '.join(seen)})"
            )
        base = specs[seen[spec.base]]
        if spec.base == spec.name:
            raise RegistryError(
                f"{source}: entry {index + 1} {spec.name!r}: field 'base': a model cannot be its own base"
            )
        if spec.kind is ModelKind.PROMPT and base.kind is ModelKind.PROMPT:
            raise RegistryError(
                f"{source}: entry {index + 1} {spec.name!r}: field 'base': {spec.base!r} is itself a prompt "
                "entry; point base at a model with weights and write both instructions into one"
            )
        if spec.kind is ModelKind.ADAPTER and base.kind is ModelKind.ADAPTER:
            raise RegistryError(
                f"{source}: entry {index + 1} {spec.name!r}: field 'base': {spec.base!r} is itself an adapter; "
                "merge it first or point base at a full checkpoint"
            )
    return Registry(models=tuple(specs), root=root or REPO_ROOT)


def load_registry(path: str | Path | None = None, *, root: Path | None = None) -> Registry:
    """Read and validate a registry YAML file (default: ``models.yaml`` at the repository root).

    Args:
        path: The YAML file; the app passes its settings value here.
        root: Folder relative local paths are resolved against (default: the repository root).

    Raises:
        RegistryError: the file is missing, is not YAML, or has an invalid entry.
    """
    import yaml

    file = Path(path) if path is not None else DEFAULT_REGISTRY
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read model registry {file}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{file.name}: not valid YAML: {exc}") from None
    registry = parse_registry(data, source=file.name, root=root)
    return registry.model_copy(update={"path": file})
