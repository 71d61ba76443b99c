"""The evaluation CLI on the real tiny demo model: files, determinism, kill-and-resume, data-parallel."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.submission import read_submission
from probes.evaluate import build_parser

ROOT = Path(__file__).resolve().parents[2]
MODEL = "demo-base"
ENV = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def evaluate(out: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "probes.evaluate", "--model", MODEL, "--data", "demo", "--forget-ratio", "10",
           "--protocol", "official", "--out", str(out), "--name", "run", "--no-progress", *extra]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_cli_writes_the_three_files_and_is_deterministic(tmp_path):
    evaluate(tmp_path / "a", "--limit", "3")
    evaluate(tmp_path / "b", "--limit", "3", "--batch-size", "3")
    a = outputs(tmp_path / "a")
    assert {"run.samples.jsonl", "run_final_evaluation_results.json", "run.submission.json"} <= set(a)
    assert a == outputs(tmp_path / "b"), "same arguments (any batch size) must give identical files"
    results = json.loads(a["run_final_evaluation_results.json"])
    assert set(results) == {"Forget Set Results", "Test Set Results", "Retain Set (shared dataset) Results",
                            "Retain Set (real person) Results"}
    sub = read_submission(tmp_path / "a" / "run.submission.json")
    assert sub.provenance.model_id.endswith("demo-base") and sub.provenance.quantization == "none"
    assert sub.metadata.base_model == "demo-base" and sub.metadata.method == "none"
    samples = [json.loads(line) for line in a["run.samples.jsonl"].decode().splitlines()]
    assert all("ASSISTANT:" not in s["raw_output"] for s in samples)


def test_killed_run_resumes_without_recomputing(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "probes.evaluate", "--model", MODEL, "--data", "demo", "--forget-ratio", "10",
           "--protocol", "official", "--out", str(out), "--name", "run", "--no-progress", "--batch-size", "2",
           "--limit", "6", "--sets", "retain"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = out / "run.samples.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not samples.exists() or samples.read_text().count("\n") < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    written = samples.read_text().count("\n")
    assert written >= 10, "the run should have written some records before being killed"
    resumed = evaluate(out, "--batch-size", "2", "--limit", "6", "--sets", "retain")
    counts = re.search(r"(\d+) questions \((\d+) computed", resumed.stdout)
    assert counts, resumed.stdout
    total, computed = int(counts[1]), int(counts[2])
    assert computed <= total - written + 2  # at most a torn line recomputed
    assert computed < total
    evaluate(tmp_path / "straight", "--batch-size", "2", "--limit", "6", "--sets", "retain")
    assert outputs(out) == outputs(tmp_path / "straight")


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["official", "strict"])
def test_two_processes_under_accelerate_give_the_single_process_result(tmp_path, protocol):
    args = ["--limit", "3", "--sets", "forget,retain", "--protocol", protocol]
    evaluate(tmp_path / "one", *args)
    cmd = ["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "probes.evaluate", "--model", MODEL, "--data", "demo", "--forget-ratio",
           "10", "--out", str(tmp_path / "two"), "--name", "run", "--no-progress", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = outputs(tmp_path / "one"), outputs(tmp_path / "two")
    assert sorted(two) == sorted(one)  # no rank files left behind
    for name in one:
        assert two[name] == one[name], f"{name} differs between one and two processes"
    total = re.search(r"(\d+) questions \((\d+) computed", done.stdout)
    assert total and total[1] == total[2], done.stdout  # the main process reports both ranks' work


def test_bad_inputs_exit_with_a_message(tmp_path):
    done = evaluate(tmp_path, "--model", "no/such-model-anywhere", check=False)
    assert done.returncode == 2 and "error:" in done.stderr
    done = evaluate(tmp_path, "--data", str(tmp_path), check=False)
    assert done.returncode == 2 and "no MLLMU-Bench folders" in done.stderr
    done = evaluate(tmp_path, "--sets", "forget,tset", check=False)
    assert done.returncode == 2 and "--sets takes" in done.stderr


def test_help_documents_every_flag():
    text = build_parser().format_help()
    for flag in ("--model", "--data", "--forget-ratio", "--protocol", "--out", "--sets", "--limit", "--batch-size",
                 "--seed", "--name", "--quantize", "--revision", "--submitter"):
        assert flag in text


def test_base_model_is_the_root_of_the_registry_chain():
    from backend.registry import parse_registry
    from probes.models import root_model

    reg = parse_registry({"version": 1, "models": [
        {"name": "b", "repo_id": "org/base", "revision": "main"},
        {"name": "v", "repo_id": "org/vanilla", "revision": "main", "base": "b", "method": "vanilla"},
        {"name": "u", "path": "x", "base": "v", "method": "npo", "forget_ratio": 10},
    ]})
    assert [root_model(reg, reg.get(n)) for n in ("b", "v", "u")] == ["org/base"] * 3


def test_first_char_stopping_keeps_the_scored_character():
    from backend.generation import GenerationRequest, generate_batch
    from backend.loading import load_model
    from backend.model import decode_images
    from backend.registry import load_registry
    from benchmark.extraction import first_char_decided, official_answer, official_letter
    from benchmark.protocols import plan
    from benchmark.reader import load_benchmark

    assert not first_char_decided("  ") and not first_char_decided(" A") and not first_char_decided(" ASSIST")
    assert first_char_decided(" B") and first_char_decided(" An") and first_char_decided("ASSISTANT: x")
    reg = load_registry()
    loaded = load_model(reg.get(MODEL), quantize="none", registry=reg)
    items = [i for i in plan(load_benchmark("demo"), 10, "official") if i.task.value == "classification"][:12]
    requests = [GenerationRequest(i.prompt, tuple(decode_images(i.images))) for i in items]
    full = generate_batch(loaded, requests, max_new_tokens=50, stop=("ASSISTANT:",))
    short = generate_batch(loaded, requests, max_new_tokens=50, stop=("ASSISTANT:",), stop_when=first_char_decided)
    for f, s in zip(full, short, strict=True):
        assert f.startswith(s)
        assert official_letter(official_answer(f)) == official_letter(official_answer(s))
    assert sum(map(len, short)) < sum(map(len, full))


def test_the_official_protocol_loads_at_upstream_precision_unless_told_otherwise():
    from probes.evaluate import build_parser, default_precision

    assert default_precision("official") == "upstream" and default_precision("strict") == "auto"
    assert build_parser().parse_args(["--model", "m", "--forget-ratio", "5", "--out", "o"]).quantize is None


def test_threads_are_set_and_checked():
    import torch

    from probes.evaluate import set_threads

    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)  # leaves it alone
        assert torch.get_num_threads() == 1
        with pytest.raises(SystemExit, match="--threads must be at least 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)
