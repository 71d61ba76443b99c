from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backend.generation import GenerationRequest, generate_batch
from backend.loading import (
    AdapterBaseMismatchError,
    ModelLoadError,
    ModelNotFoundError,
    ModelOutOfMemoryError,
    NoSafetensorsError,
    choose_precision,
    load_model,
)
from backend.registry import ModelSpec, Registry

from .conftest import HUB_REPO, HUB_SHA, make_adapter

PROMPT = GenerationRequest("USER: What is Wren Quintero's occupation?\nASSISTANT:")


def _last_logits(loaded, prompt: str = PROMPT.prompt) -> torch.Tensor:  # type: ignore[no-untyped-def]
    enc = loaded.processor(text=[prompt], return_tensors="pt")
    with loaded.activated() as model, torch.inference_mode():
        return model(**enc).logits[0, -1].float()


def test_full_precision_load_records_provenance(fp32_model, tiny_dir: Path) -> None:  # type: ignore[no-untyped-def]
    info = fp32_model.info
    assert (info.quantization, info.dtype, info.device, info.commit) == ("none", "float32", "cpu", None)
    assert info.source == str(tiny_dir) and "float32" in info.reason
    assert fp32_model.model.dtype == torch.float32
    assert fp32_model.context_length == 2048
    assert fp32_model.tokenizer.padding_side == "left"


def test_auto_is_full_precision_on_cpu_and_4bit_on_cuda() -> None:
    cpu = choose_precision("auto", "cpu")
    assert not cpu.quantize_4bit and cpu.dtype == torch.float32 and "CPU" in cpu.reason
    assert choose_precision("auto", "cuda").quantize_4bit
    assert choose_precision("4bit", "cpu").quantize_4bit
    int8 = choose_precision("8bit", "cpu")
    assert int8.quantize_8bit and not int8.quantize_4bit and int8.label == "8bit"
    with pytest.raises(ValueError, match="quantize must be"):
        choose_precision("2bit", "cpu")  # type: ignore[arg-type]
    # upstream eval.py loads float16 weights on CUDA; on CPU (where it never ran) float32, unquantized either way
    gpu, cpu_upstream = choose_precision("upstream", "cuda"), choose_precision("upstream", "cpu")
    assert gpu.dtype == torch.float16 and gpu.label == cpu_upstream.label == "none"
    assert cpu_upstream.dtype == torch.float32


def test_4bit_on_cpu_really_quantizes_and_generates(nf4_model, fp32_model) -> None:  # type: ignore[no-untyped-def]
    import bitsandbytes as bnb

    model = nf4_model.model
    assert model.is_loaded_in_4bit
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert any("language_model" in n for n in quantized) and any("vision_tower" in n for n in quantized)
    assert len(quantized) == 28  # every linear layer but the (tied) lm_head
    assert nf4_model.info.quantization == "4bit-nf4"
    assert nf4_model.info.footprint_bytes < 0.5 * fp32_model.info.footprint_bytes
    # nf4 weights are close to the fp32 ones: the logits agree roughly (unrelated logits: cosine ~ 0), not exactly.
    a, b = _last_logits(nf4_model), _last_logits(fp32_model)
    assert not torch.equal(a, b)
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.6
    (text,) = generate_batch(nf4_model, [PROMPT], max_new_tokens=6)
    assert text


def test_bitsandbytes_cpu_kernel_matches_dequantized_matmul() -> None:
    """Without the optional `kernels` package bitsandbytes uses its bundled CPU kernel; check it is right."""
    import bitsandbytes as bnb
    import bitsandbytes.functional as F

    torch.manual_seed(0)
    dense = torch.nn.Linear(128, 256)
    layer = bnb.nn.Linear4bit(128, 256, compute_dtype=torch.float32, quant_type="nf4")
    layer.load_state_dict(dense.state_dict())
    layer = layer.to("cpu").eval()
    dequantized = F.dequantize_4bit(layer.weight.data, layer.weight.quant_state)
    x = torch.randn(3, 5, 128)
    with torch.inference_mode():
        out = layer(x)
    expected = x @ dequantized.T + dense.bias
    assert (out - expected).abs().max() < 0.05  # the kernel computes in bfloat16
    assert (out - dense(x)).abs().max() > 1e-3  # and it really is quantized


def test_adapter_changes_answers_and_base_view_is_the_base(  # type: ignore[no-untyped-def]
    adapter_spec: ModelSpec, registry: Registry, fp32_model
) -> None:
    loaded = load_model(adapter_spec, quantize="none", device="cpu", registry=registry)
    assert loaded.has_adapter and loaded.info.base is not None
    assert loaded.info.base.name == "tiny-base" and loaded.info.name == "tiny-adapter"
    with_adapter = _last_logits(loaded)
    base_view = loaded.base_view()
    assert base_view.spec.name == "tiny-base" and base_view.info == loaded.info.base
    assert base_view.model is loaded.model and base_view.lock is loaded.lock
    assert not torch.allclose(with_adapter, _last_logits(fp32_model), atol=1e-3)
    assert torch.allclose(_last_logits(base_view), _last_logits(fp32_model), atol=1e-5)
    assert torch.allclose(_last_logits(loaded), with_adapter, atol=1e-5)  # re-enabled after the base view
    with pytest.raises(ValueError, match="not an adapter"):
        fp32_model.base_view()


def test_adapter_on_4bit_base(adapter_spec: ModelSpec, registry: Registry) -> None:
    loaded = load_model(adapter_spec, quantize="4bit", device="cpu", registry=registry)
    assert loaded.model.base_model.model.is_loaded_in_4bit
    a, b = (
        generate_batch(loaded, [PROMPT], max_new_tokens=5),
        generate_batch(loaded.base_view(), [PROMPT], max_new_tokens=5),
    )
    assert a != b


def test_hub_id_from_offline_cache(offline_hub: Path, fp32_model) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(name="hub-tiny", repo_id=HUB_REPO, revision="main")
    loaded = load_model(spec, quantize="none", device="cpu")
    assert loaded.info.commit == HUB_SHA and loaded.info.source == HUB_REPO and loaded.info.revision == "main"
    assert torch.allclose(_last_logits(loaded), _last_logits(fp32_model))
    by_sha = load_model(spec.model_copy(update={"revision": HUB_SHA}), quantize="none", device="cpu")
    assert by_sha.info.commit == HUB_SHA


def test_hub_errors_offline(offline_hub: Path) -> None:
    with pytest.raises(
        ModelNotFoundError, match=r"tiny-llava@v9 is not in the local Hugging Face cache.*HF_HUB_OFFLINE"
    ):
        load_model(ModelSpec(name="x", repo_id=HUB_REPO, revision="v9"), device="cpu")
    with pytest.raises(ModelNotFoundError, match="other-org/missing@main is not in the local"):
        load_model(ModelSpec(name="x", repo_id="other-org/missing", revision="main"), device="cpu")


def test_hub_cache_via_environment_in_a_fresh_process(hub_cache: Path) -> None:
    code = (
        "from backend.registry import ModelSpec; from backend.loading import load_model; "
        f"m = load_model(ModelSpec(name='h', repo_id='{HUB_REPO}', revision='main'), device='cpu'); "
        "print(m.info.commit, m.info.quantization)"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == [HUB_SHA, "none"]


def test_missing_local_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"'ghost': folder .*ghost does not exist; fix 'path'"):
        load_model(ModelSpec(name="ghost", path=str(tmp_path / "ghost")), device="cpu")


def test_pickle_only_checkpoint_is_refused(tiny_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(NoSafetensorsError, match=r"only pytorch_model\.bin.*never loaded.*safe_serialization"):
        load_model(ModelSpec(name="pickled", path=str(folder)), device="cpu")


def test_adapter_without_safetensors_is_refused(tmp_path: Path, adapter_dir: Path, base_spec: ModelSpec) -> None:
    folder = tmp_path / "ad"
    shutil.copytree(adapter_dir, folder)
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    spec = ModelSpec(name="ad", path=str(folder), kind="adapter", base="tiny-base")
    with pytest.raises(NoSafetensorsError, match="adapter_model"):
        load_model(spec, base=base_spec, device="cpu")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a download cut off half way


def test_damaged_weights_say_so(tmp_path: Path, tiny_dir: Path, adapter_dir: Path, base_spec: ModelSpec) -> None:
    folder = tmp_path / "cut"
    shutil.copytree(tiny_dir, folder)
    _truncate(folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"'cut': the safetensors weights in .*cut cannot be read .*download it"):
        load_model(ModelSpec(name="cut", path=str(folder)), device="cpu")
    adapter = tmp_path / "cut-adapter"
    shutil.copytree(adapter_dir, adapter)
    _truncate(adapter / "adapter_model.safetensors")
    spec = ModelSpec(name="cut-adapter", path=str(adapter), kind="adapter", base="tiny-base")
    with pytest.raises(ModelLoadError, match=r"'cut-adapter': the safetensors weights .* cannot be read"):
        load_model(spec, base=base_spec, device="cpu")


def test_adapter_on_a_base_of_another_shape(adapter_dir: Path, tmp_path: Path, registry: Registry) -> None:
    # The adapter's recorded base name is made to match, so only the weight shapes disagree.
    folder = tmp_path / "ad"
    shutil.copytree(adapter_dir, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "narrow"
    (folder / "adapter_config.json").write_text(json.dumps(config))
    spec = ModelSpec(name="ad", path=str(folder), kind="adapter", base="narrow")
    with pytest.raises(AdapterBaseMismatchError, match=r"does not fit base 'narrow'.*set 'base'"):
        load_model(spec, registry=registry, device="cpu")


def test_adapter_recorded_for_another_base(narrow_dir: Path, tmp_path: Path, registry: Registry) -> None:
    folder = make_adapter(narrow_dir, tmp_path / "narrow-adapter")
    spec = ModelSpec(name="na", path=str(folder), kind="adapter", base="tiny-base")
    with pytest.raises(AdapterBaseMismatchError, match=r"trained on '.*narrow'.*applies it to 'tiny-base'"):
        load_model(spec, registry=registry, device="cpu")


def test_memory_limit_refuses_before_loading(base_spec: ModelSpec, registry: Registry) -> None:
    with pytest.raises(
        ModelOutOfMemoryError, match=r"need about \d\.\d MiB but the limit is 1\.0 MiB.*quantize='4bit'"
    ):
        load_model(base_spec, registry=registry, device="cpu", quantize="none", memory_limit_bytes=2**20)
    loaded = load_model(base_spec, registry=registry, device="cpu", quantize="4bit", memory_limit_bytes=2**20)
    assert loaded.info.quantization == "4bit-nf4"


def test_memory_check_counts_the_dtype_the_model_loads_in(tiny_dir: Path, tmp_path: Path) -> None:
    """A float16 checkpoint loads as float32 on a CPU: twice its file size, which the check must count."""
    import shutil

    from safetensors.torch import load_file, save_file

    from backend.loading import estimate_load_bytes, estimate_weight_bytes

    half = tmp_path / "half"
    shutil.copytree(tiny_dir, half)
    weights = half / "model.safetensors"
    save_file({k: v.half() for k, v in load_file(weights).items()}, weights, metadata={"format": "pt"})
    on_disk = estimate_weight_bytes(half)
    fp32 = estimate_load_bytes(half, choose_precision("none", "cpu"))
    assert fp32 == pytest.approx(2 * on_disk, rel=0.02)
    spec = ModelSpec(name="half", path=str(half))
    with pytest.raises(ModelOutOfMemoryError, match="need about"):  # the file fits the limit; the loaded model not
        load_model(spec, device="cpu", quantize="none", memory_limit_bytes=int(1.5 * on_disk))
    loaded = load_model(spec, device="cpu", quantize="none")
    assert loaded.info.footprint_bytes == pytest.approx(fp32, rel=0.01)  # the estimate is what loading takes
    nf4 = estimate_load_bytes(half, choose_precision("4bit", "cpu"))
    assert nf4 < fp32 / 2


def test_cuda_requested_without_cuda(base_spec: ModelSpec) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelLoadError, match="CUDA is not available; use device='cpu'"):
        load_model(base_spec, device="cuda")


def test_each_data_parallel_process_gets_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from backend import loading

    monkeypatch.setattr(loading, "_has_cuda", lambda: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert loading.pick_device(None) == "cuda"
    monkeypatch.setenv("LOCAL_RANK", "3")  # set by accelerate launch / torchrun for the fourth process
    assert loading.pick_device("auto") == "cuda:3" and loading.pick_device("cuda:0") == "cuda:0"
    monkeypatch.setattr(loading, "_has_cuda", lambda: False)
    assert loading.pick_device(None) == "cpu"


def test_a_cpu_refuses_models_too_large_to_answer_in_time(base_spec: ModelSpec, registry: Registry) -> None:
    from backend.cache import ModelCache
    from backend.loading import ModelTooLargeForCpuError

    with pytest.raises(ModelTooLargeForCpuError, match=r"this machine has no GPU.*pick a demo model"):
        load_model(base_spec, registry=registry, device="cpu", quantize="none", cpu_limit_bytes=2**20)
    assert load_model(base_spec, registry=registry, device="cpu", quantize="none", cpu_limit_bytes=2**30)
    # The probe's cache passes its budget and the CPU limit to every load, so nothing too large is ever loaded.
    with pytest.raises(ModelTooLargeForCpuError):
        ModelCache(2**30, registry=registry, cpu_limit_bytes=2**20).get(base_spec, quantize="none", device="cpu")
    with pytest.raises(ModelOutOfMemoryError, match="need about"):
        ModelCache(2**20, registry=registry).get(base_spec, quantize="none", device="cpu")
