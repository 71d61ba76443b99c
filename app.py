"""Entry point of the MLLMU-Bench leaderboard and probe app (placeholder until the app issue lands)."""

from __future__ import annotations


def main() -> None:
    """Launch the app."""
    import gradio as gr

    with gr.Blocks(title="MLLMU-Bench") as demo:
        gr.Markdown("# MLLMU-Bench leaderboard\nThe app is being built.")
    demo.launch(server_name="127.0.0.1")


if __name__ == "__main__":
    main()
