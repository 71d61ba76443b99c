"""The app's settings: one object, from defaults, then ``MLLMU_*`` environment variables, then command-line flags.

Every setting has an embedded default, so ``python app.py`` on a fresh machine
runs on the demo benchmark, the demo models of ``models.yaml`` and a
local SQLite store at ``var/leaderboard.sqlite``. Each setting ``name`` can be
set with the environment variable ``MLLMU_<NAME>`` (upper case) and with the
flag ``--<name>`` (dashes for underscores); a flag wins over the environment::

    MLLMU_PORT=8000 python app.py --host 0.0.0.0 --db /data/leaderboard.sqlite
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.loading import Quantize
from leaderboard.store import DEFAULT_DB_PATH as DEFAULT_DB


class AppSettings(BaseSettings):
    """Everything the app is built from; see the module docstring for how values are given."""

    model_config = SettingsConfigDict(env_prefix="MLLMU_", extra="forbid", frozen=True)

    host: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("host", "MLLMU_HOST", "GRADIO_SERVER_NAME"),
        description="Interface to listen on (0.0.0.0 on a Space or container). Without MLLMU_HOST, Gradio's "
        "GRADIO_SERVER_NAME is followed (a Space sets it to 0.0.0.0).",
    )
    port: int = Field(
        default=7860, ge=0, le=65535, validation_alias=AliasChoices("port", "MLLMU_PORT", "GRADIO_SERVER_PORT"),
        description="Port to listen on (0 picks a free one). Without MLLMU_PORT, GRADIO_SERVER_PORT is followed.",
    )
    db: Path = Field(default=DEFAULT_DB, description="SQLite file of the leaderboard store (created if absent).")
    hub_dataset: str | None = Field(
        default=None,
        description="Hugging Face dataset (owner/name; a path: a folder) that keeps every submission; the store is "
        "rebuilt from it on start and --db is only a cache. Needs HF_TOKEN with write access. Default: none.",
    )
    models: Path | None = Field(
        default=None, description="Model registry YAML. Default: the project's registry, models.yaml."
    )
    data: str = Field(default="demo", description="Probe benchmark: 'demo', a folder in the Hub layout, or a Hub id.")
    data_revision: str | None = Field(
        default=None, description="Hub revision of --data when it is a Hub dataset id. Default: main."
    )
    forget_ratio: Literal[5, 10, 15] = Field(
        default=10, description="Forget split the probe's sets are drawn from: 5, 10 or 15."
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Token that unlocks moderation (approve / reject). Default: none, so moderation by token is off.",
    )
    admin_users: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated Hugging Face user names allowed to moderate when signed in on a Space. "
        "Default: none.",
    )
    probe_concurrency: int = Field(default=1, ge=1, description="Probes (and API probe calls) running at once.")
    queue_size: int = Field(
        default=128, ge=1,
        description="Requests allowed to wait in the queue; beyond it a caller is told 'Queue is full, try again'.",
    )
    answer_time_limit: float = Field(default=60.0, gt=0, description="Wall-clock limit of one answer, seconds.")
    max_new_tokens: int = Field(default=50, ge=1, le=512, description="Most tokens per answer (upstream uses 50).")
    quantize: Quantize = Field(default="auto", description="auto (4-bit nf4 on CUDA, full on CPU), 4bit, 8bit or none.")
    device: str | None = Field(
        default=None, description="Torch device for the probe's models. Default: cuda if any, else cpu."
    )
    probe_left: str | None = Field(
        default=None, description="Registry name of the probe's left model. Default: a vanilla one."
    )
    probe_right: str | None = Field(
        default=None, description="Registry name of the probe's right model. Default: an unlearned one."
    )
    allow_custom_models: bool = Field(default=True, description="Allow probing a pasted Hub model id and revision.")
    model_memory_gb: float = Field(
        default=16.0, gt=0, description="Memory budget of loaded models, GiB (least recently used ones are evicted)."
    )
    cpu_model_max_gb: float = Field(
        default=2.0, gt=0,
        description="Without a GPU, refuse to load a model larger than this, GiB (a 7B model would take minutes "
        "per answer on a CPU).",
    )

    @field_validator("admin_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @property
    def admin_secret(self) -> str | None:
        """The admin token as text, or None when moderation by token is off."""
        return self.admin_token.get_secret_value() if self.admin_token else None


def _flag_help(field: FieldInfo) -> str:
    """A setting's description with its embedded default, stated once, unless the description already says it."""
    text = (field.description or "").strip()
    if "default" not in text.lower():
        value = field.default
        if value is None or value == ():
            shown = "none"
        elif isinstance(value, bool):
            shown = "on" if value else "off"
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        text = f"{text} Default: {shown}." if text else f"Default: {shown}."
    return text.replace("%", "%%")  # argparse %-formats help strings


def build_parser() -> argparse.ArgumentParser:
    """The ``python app.py`` flags: one per setting, each defaulting to "not given" (environment, then default)."""
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="MLLMU-Bench Arena: leaderboard, submissions and a side-by-side unlearning probe.",
        epilog="Every flag can also be set as an environment variable MLLMU_<NAME>, e.g. MLLMU_PORT=8000; "
        "a flag wins over the environment, which wins over the default shown.",
    )
    for name, field in AppSettings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=_flag_help(field))
        else:
            parser.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=_flag_help(field))
    return parser


def load_settings(argv: Sequence[str] | None = None) -> AppSettings:
    """Settings from the environment with ``argv``'s flags on top (validation errors name the setting)."""
    args = build_parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None}
    if "forget_ratio" in given:
        given["forget_ratio"] = int(given["forget_ratio"])
    return AppSettings(**given)
