"""MLLMU-Bench Arena: the leaderboard, submissions, a side-by-side unlearning probe, and the About page.

``build_app(settings)`` builds the Gradio app from an :class:`~settings.AppSettings` and launches
nothing; ``python app.py [flags]`` (see ``python app.py --help``) builds it from flags and ``MLLMU_*``
environment variables and launches it. Importing this module does no work: the store is opened, the
registry read and the benchmark loaded when the app is built, and models load on first use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from settings import AppSettings, load_settings

if TYPE_CHECKING:
    import gradio as gr

    from leaderboard.service import Leaderboard
    from probes.service import ProbeService

TITLE = "MLLMU-Bench Arena"


@dataclass
class Services:
    """What the app's tabs talk to; tests build it with fakes (a fake model loader, a temp store)."""

    board: Leaderboard
    probe: ProbeService


def make_services(settings: AppSettings) -> Services:
    """Open the store and prepare the probe service (models and benchmark load lazily) from ``settings``."""
    from leaderboard.service import Leaderboard, LeaderboardSettings
    from probes.models import ModelPool
    from probes.service import ProbeService

    settings.db.parent.mkdir(parents=True, exist_ok=True)
    board = Leaderboard.open(LeaderboardSettings(db_path=settings.db))
    pool = ModelPool(
        settings.models,
        quantize=settings.quantize,
        device=settings.device,
        memory_budget_bytes=int(settings.model_memory_gb * 2**30),
        allow_custom=settings.allow_custom_models,
    )
    probe = ProbeService(
        pool,
        data=settings.data,
        data_revision=settings.data_revision,
        forget_ratio=settings.forget_ratio,
        max_new_tokens=settings.max_new_tokens,
        time_limit_s=settings.answer_time_limit,
        default_left=settings.probe_left,
        default_right=settings.probe_right,
    )
    return Services(board, probe)


def _api(blocks: gr.Blocks, services: Services, settings: AppSettings) -> None:
    """The named API endpoints: ``leaderboard``, ``submit``, ``moderate`` and ``probe``."""
    import gradio as gr

    from benchmark.vocabulary import Protocol
    from leaderboard import submissions
    from leaderboard.tab import ALL, TableQuery, table_json
    from probes.tab import probe_api

    board = services.board

    def leaderboard(
        protocol: str = "official", search: str = "", base_model: str = ALL, forget_ratio: str = ALL,
        method: str = ALL, sort_by: str = "rank", show_references: bool = True,
    ) -> dict[str, Any]:
        """The ranked table as JSON: ``columns`` (id, label, unit, direction) and ``rows`` (raw values)."""
        query = TableQuery(protocol=Protocol(protocol), search=search, base_model=base_model,
                           forget_ratio=str(forget_ratio), method=method, sort_by=sort_by,
                           show_references=show_references)
        return table_json(board, query)

    def submit(results: str, metadata: dict[str, Any], samples: str = "", filename: str = "results.json",
               accuracy_unit: str = "percent") -> dict[str, Any]:
        """Validate and store a result file given as JSON text (pending); returns the id or every problem."""
        outcome = submissions.submit(board, results.encode(), metadata=metadata, samples=samples.encode() or None,
                                     filename=filename, accuracy_unit=accuracy_unit)
        return {"ok": outcome.ok, "id": outcome.submission_id, "message": outcome.message,
                "problems": [{"field": p.field, "message": p.message} for p in outcome.problems]}

    def moderate_api(token: str, submission_id: int, action: str, reason: str = "") -> dict[str, Any]:
        """Approve or reject a submission; needs the admin token."""
        if not submissions.authorized(settings.admin_secret, token):
            return {"ok": False, "message": "wrong admin token"}
        outcome = submissions.moderate(board, submission_id, action, reason)
        return {"ok": outcome.ok, "message": outcome.message}

    gr.api(leaderboard, api_name="leaderboard")
    gr.api(submit, api_name="submit")
    gr.api(moderate_api, api_name="moderate")
    gr.api(probe_api(services.probe), api_name="probe", concurrency_limit=settings.probe_concurrency,
           concurrency_id="probe")


def build_app(settings: AppSettings, services: Services | None = None) -> gr.Blocks:
    """Build the four-tab app from ``settings``; launches nothing.

    Args:
        settings: Where the store, registry and data are, and the probe's limits.
        services: Ready services (tests inject a temp store and fake models); default: :func:`make_services`.
    """
    import gradio as gr

    from about import about_markdown
    from leaderboard.submit_tab import build_submit_tab
    from leaderboard.tab import build_leaderboard_tab
    from probes.tab import build_probe_tab

    services = services or make_services(settings)
    on_space = bool(os.environ.get("SPACE_ID"))
    bases = sorted(set(services.board.table().frame["base_model"]) | {"llava-hf/llava-1.5-7b-hf",
                                                                       "HuggingFaceM4/idefics2-8b"})
    with gr.Blocks(title=TITLE) as blocks:
        gr.Markdown(f"# {TITLE}\nA leaderboard and a live probe for multimodal machine unlearning "
                    "([MLLMU-Bench](https://arxiv.org/abs/2410.22108)).")
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="leaderboard"):
                build_leaderboard_tab(services.board, blocks)
            with gr.Tab("Submit", id="submit"):
                build_submit_tab(services.board, admin_token=settings.admin_secret, admin_users=settings.admin_users,
                                 oauth=on_space and bool(settings.admin_users), known_bases=bases)
            with gr.Tab("Probe", id="probe"):
                build_probe_tab(services.probe, blocks, concurrency_limit=settings.probe_concurrency)
            with gr.Tab("About", id="about"):
                gr.Markdown(about_markdown(), elem_id="about-text")
        _api(blocks, services, settings)
    blocks.queue(max_size=settings.queue_size, default_concurrency_limit=4)
    return blocks


def launch_kwargs(settings: AppSettings) -> dict[str, Any]:
    """Arguments of ``Blocks.launch`` for ``settings`` (theme and css go here in Gradio 6)."""
    import gradio as gr

    from probes.tab import CSS

    # System fonts: the default theme fetches Google Fonts, which an offline machine cannot reach.
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                           font_mono=["ui-monospace", "SFMono-Regular", "monospace"])
    return {"server_name": settings.host, "server_port": settings.port or None, "theme": theme,
            "css": CSS, "footer_links": ["api", "settings"]}


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, build the app and serve it until interrupted."""
    settings = load_settings(argv)
    build_app(settings).launch(**launch_kwargs(settings))


if __name__ == "__main__":
    main()
