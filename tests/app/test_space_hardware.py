"""The Space's hardware: ZeroGPU runs the probe's model calls inside ``spaces.GPU``; a CPU Space offers demo models."""

from __future__ import annotations

import sys
import types

import pytest
from fakes import fake_registry

from backend import zerogpu
from probes.models import ModelChoice, ModelPool
from probes.questions import ProbeInputError
from probes.service import GPU_MARGIN_S, ProbeRequest, ProbeService

QUESTION = "Who is this person?"


def probe(service: ProbeService, left: str = "demo-vanilla", right: str = "demo-npo", **kw):
    return list(service.run(ProbeRequest(ModelChoice(left), ModelChoice(right), free_text=QUESTION, **kw)))


@pytest.fixture
def fake_spaces(monkeypatch):
    """A stand-in ``spaces`` package recording what ``spaces.GPU`` decorated and each call's duration."""
    module = types.ModuleType("spaces")
    module.decorated, module.calls = [], []

    def gpu(fn, *, duration):
        module.decorated.append(fn)

        def inside_gpu(*args, **kwargs):
            module.calls.append(duration(*args, **kwargs))
            yield from fn(*args, **kwargs)

        return inside_gpu

    module.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", module)
    return module


def test_on_zero_gpu_the_probes_model_calls_run_inside_spaces_gpu(monkeypatch, forget_ids, fake_spaces):
    from probes.session import run_probe

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert zerogpu.on_zero_gpu() and zerogpu.prepare()
    service = ProbeService(ModelPool(registry=fake_registry(forget_ids)), time_limit_s=20)
    first = probe(service)
    probe(service)
    assert fake_spaces.decorated == [run_probe]  # decorated once, called per probe
    assert fake_spaces.calls == [GPU_MARGIN_S + 20, GPU_MARGIN_S + 20]  # one question, each answer at most 20 s
    assert first[-1].finished and first[-1].rows[0].answers[0].done
    many = ProbeService(ModelPool(registry=fake_registry(forget_ids)), time_limit_s=60)
    monkeypatch.setattr(many, "questions", lambda request: service.questions(request) * 3)
    probe(many)
    assert fake_spaces.calls[-1] == zerogpu.MAX_DURATION_S  # 3 x 60 s + margin asked for: capped


def test_elsewhere_spaces_is_never_imported(monkeypatch, forget_ids):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)  # any `import spaces` would now raise ImportError
    assert not zerogpu.prepare()
    service = ProbeService(ModelPool(registry=fake_registry(forget_ids)), time_limit_s=20)
    final = probe(service)[-1]
    assert final.finished and all(a.done and not a.error for a in final.rows[0].answers)
    for off in ("", "false", "0"):
        monkeypatch.setenv("SPACES_ZERO_GPU", off)
        assert not zerogpu.on_zero_gpu()


def test_a_cpu_space_is_told_apart_from_gpu_and_zero_gpu_spaces(monkeypatch):
    import torch

    import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert app.cpu_space({"SPACE_ID": "someone/arena"})
    assert not app.cpu_space({})  # not a Space: a local CPU machine keeps every model
    assert not app.cpu_space({"SPACE_ID": "someone/arena", "SPACES_ZERO_GPU": "true"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not app.cpu_space({"SPACE_ID": "someone/arena"})


def test_the_app_on_a_cpu_space_builds_a_demo_only_probe(monkeypatch, tmp_path):
    import torch

    import app
    from settings import AppSettings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SPACE_ID", "someone/arena")
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    services = app.make_services(AppSettings(db=tmp_path / "lb.sqlite", probe_left="llava-vanilla",
                                             probe_right="llava-1.5-7b"))
    try:
        pool = services.probe.pool
        assert pool.demo_only and pool.offered() and all(n.startswith("demo") for n in pool.offered())
        assert set(pool.offered()) < set(pool.names())
        assert all(pool.is_demo(n) for n in services.probe.default_models())  # configured 7B defaults not offered
    finally:
        services.board.close()


def test_a_demo_only_probe_refuses_larger_models_before_loading_anything(forget_ids):
    loads = []
    pool = ModelPool(registry=fake_registry(forget_ids), demo_only=True)
    pool.get_pair = lambda *a, **k: loads.append(a)  # type: ignore[method-assign]
    service = ProbeService(pool, time_limit_s=5)
    with pytest.raises(ProbeInputError, match="llava-vanilla is not offered here: this server has no GPU"):
        probe(service, left="llava-vanilla")
    hub = ModelChoice("MLLMMU/LLaVA_Vanilla", "main", custom=True)
    with pytest.raises(ProbeInputError, match="no GPU.*GPU hardware"):
        list(service.run(ProbeRequest(ModelChoice("demo-vanilla"), hub, free_text=QUESTION)))
    assert loads == [] and pool._cache is None  # refused before any load (so before any download)
    assert probe(ProbeService(ModelPool(registry=fake_registry(forget_ids), demo_only=True)))[-1].finished


def test_a_demo_only_probe_tab_says_why_and_offers_only_demo_models(forget_ids):
    import gradio as gr

    from probes.tab import build_probe_tab

    service = ProbeService(ModelPool(registry=fake_registry(forget_ids), demo_only=True,
                                     cpu_limit_bytes=2 * 2**30))
    with gr.Blocks() as blocks:
        build_probe_tab(service, blocks)
    found = {getattr(b, "elem_id", None): b for b in blocks.blocks.values()}
    banner = found["probe-cpu-banner"].value
    assert "No GPU here, so the probe offers only the demo models" in banner and "ZeroGPU or a GPU" in banner
    assert "over 2 GiB" in banner
    choices = [value for _, value in found["probe-left"].choices]
    assert choices == service.pool.offered() and all(c.startswith("demo") for c in choices)
    hub_boxes = [b for b in blocks.blocks.values() if type(b).__name__ == "Accordion"
                 and b.label == "…or a Hub model"]
    assert len(hub_boxes) == 2 and not any(b.visible for b in hub_boxes)

    with gr.Blocks() as everywhere:
        build_probe_tab(ProbeService(ModelPool(registry=fake_registry(forget_ids))), everywhere)
    assert "probe-cpu-banner" not in {getattr(b, "elem_id", None) for b in everywhere.blocks.values()}
