from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.__main__ import main
from backend.registry import (
    DEFAULT_REGISTRY,
    REPO_ROOT,
    ModelKind,
    ModelSpec,
    RegistryError,
    UnknownModelError,
    load_registry,
    parse_registry,
)


def test_default_registry_lists_demo_and_hub_models() -> None:
    registry = load_registry()
    assert registry.path == DEFAULT_REGISTRY
    for name, source in [
        ("demo-base", "demo/models/demo-base"),
        ("llava-vanilla", "MLLMMU/LLaVA_Vanilla"),
        ("idefics2-vanilla", "MLLMMU/Idefics2_Vanilla"),
        ("llava-1.5-7b", "llava-hf/llava-1.5-7b-hf"),
        ("idefics2-8b", "HuggingFaceM4/idefics2-8b"),
    ]:
        assert registry.get(name).source == source
    assert registry.base_of(registry.get("llava-vanilla")) == registry.get("llava-1.5-7b")
    assert registry.get("idefics2-vanilla").prompt_style == "idefics2"
    # every local entry of the shipped registry exists and holds safetensors weights
    for spec in registry.models:
        if spec.is_local:
            assert (registry.local_path(spec) / "model.safetensors").is_file() or spec.kind is ModelKind.ADAPTER


def test_cli_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    lines: list[str] = []
    assert main(["models", "--json"], out=lines.append) == 0
    listed = json.loads(lines[0])
    assert [m["name"] for m in listed] == list(load_registry().names)
    assert listed[0] == {
        "name": "demo-base",
        "repo_id": None,
        "path": "demo/models/demo-base",
        "revision": None,
        "base": None,
        "kind": "full",
        "method": None,
        "forget_ratio": None,
        "prompt_style": "llava",
        "behaviour": None,
        "instruction": None,
        "description": listed[0]["description"],
    }
    lines.clear()
    assert main(["models"], out=lines.append) == 0
    assert lines[0].startswith("demo-base") and len(lines) == len(listed)


def test_cli_reports_a_bad_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("version: 1\nmodels:\n  - name: x\n    path: a\n    kind: merged\n")
    assert main(["models", "--registry", str(bad)], out=print) == 2
    assert "models.yaml: entry 1 'x': field 'kind'" in capsys.readouterr().err


def _entries(*models: dict[str, object]) -> dict[str, object]:
    return {"version": 1, "models": list(models)}


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            [{"name": "a", "path": "x", "kind": "merged"}],
            "entry 1 'a': field 'kind': Input should be 'full', 'adapter', 'fake' or 'prompt'",
        ),
        ([{"name": "a", "repo_id": "o/n"}], "entry 1 'a': field 'revision': required for a Hub model"),
        (
            [{"name": "a", "path": "x", "repo_id": "o/n", "revision": "main"}],
            "entry 1 'a': fields 'repo_id'/'path': give exactly one",
        ),
        ([{"name": "a", "path": "x"}, {"name": "b", "path": "y", "colour": 1}], "entry 2 'b': field 'colour': Extra"),
        ([{"name": "a", "path": "x"}, {"name": "a", "path": "y"}], "entry 2 'a': field 'name': duplicate of entry 1"),
        ([{"name": "a", "path": "x", "kind": "adapter"}], "entry 1 'a': field 'base': an adapter needs base"),
        ([{"name": "a", "path": "x", "base": "zz"}], "entry 1 'a': field 'base': no entry named 'zz'"),
        (
            [
                {"name": "a", "path": "x"},
                {"name": "b", "path": "y", "kind": "adapter", "base": "a"},
                {"name": "c", "path": "z", "kind": "adapter", "base": "b"},
            ],
            "entry 3 'c': field 'base': 'b' is itself an adapter",
        ),
        ([{"name": "a", "path": "x", "forget_ratio": 7}], "entry 1 'a': field 'forget_ratio': must be 5, 10 or 15"),
        ([{"name": "a b", "path": "x"}], "entry 1 'a b': field 'name': 'a b' must be"),
        ([{"path": "x"}], "entry 1: field 'name': Field required"),
        (["just a string"], "entry 1: expected a mapping of fields"),
        (
            [{"name": "a", "repo_id": "o/n--x", "revision": "main"}],
            "entry 1 'a': field 'repo_id': 'o/n--x' is not a Hub model id of the form",
        ),
        ([{"name": "a", "kind": "fake"}], "entry 1 'a': kind 'fake': give 'behaviour'"),
        ([{"name": "a", "kind": "fake", "behaviour": "hash", "path": "x"}], "entry 1 'a': kind 'fake': give"),
        ([{"name": "a", "path": "x", "behaviour": "hash"}], "entry 1 'a': field 'behaviour': only for kind 'fake'"),
        (
            [{"name": "a", "kind": "fake", "behaviour": "hash", "forget_ratio": 7}],
            "entry 1 'a': field 'forget_ratio': must be 5, 10 or 15",
        ),
    ],
)
def test_invalid_entries_name_entry_and_field(models: list[object], message: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_registry({"version": 1, "models": models}, source="models.yaml")
    assert f"models.yaml: {message}" in str(info.value)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read model registry"):
        load_registry(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("models: [unclosed")
    with pytest.raises(RegistryError, match="bad.yaml: not valid YAML"):
        load_registry(tmp_path / "bad.yaml")
    with pytest.raises(RegistryError, match="registry version 2 is not supported"):
        parse_registry({"version": 2, "models": []})
    with pytest.raises(RegistryError, match="'models' must be a list"):
        parse_registry({"version": 1})


def test_paths_resolve_against_root_and_unknown_names_list_known(tmp_path: Path) -> None:
    registry = parse_registry(
        _entries({"name": "a", "path": "models/a"}, {"name": "b", "path": "/abs/b"}), root=tmp_path
    )
    assert registry.local_path(registry.get("a")) == tmp_path / "models/a"
    assert registry.local_path(registry.get("b")) == Path("/abs/b")
    assert registry.get("a").local_path() == REPO_ROOT / "models/a"
    with pytest.raises(UnknownModelError, match="no model named 'c'; known models: a, b"):
        registry.get("c")


def test_adhoc_specs(tmp_path: Path) -> None:
    local = ModelSpec.adhoc(tmp_path)
    assert local.is_local and local.path == str(tmp_path.resolve())
    hub = ModelSpec.adhoc("MLLMMU/LLaVA_Vanilla")
    assert (hub.repo_id, hub.revision, hub.name) == ("MLLMMU/LLaVA_Vanilla", "main", "LLaVA_Vanilla")


def test_fake_entries_load_as_models_through_the_seam() -> None:
    from backend.cache import open_model
    from backend.fakes import FakeModel
    from backend.model import Request

    registry = parse_registry(_entries({"name": "echo", "kind": "fake", "behaviour": "hash"}))
    spec = registry.get("echo")
    assert spec.source == "fake:hash" and not spec.is_local
    model = open_model(spec, registry=registry)
    assert isinstance(model, FakeModel) and model.name == "echo" and model.info.footprint_bytes == 0
    first = model.generate([Request("USER: hi\nASSISTANT:")], max_new_tokens=50)
    assert first == model.generate([Request("USER: hi\nASSISTANT:")], max_new_tokens=50) and first[0]
    with pytest.raises(ValueError, match="no fake behaviour 'nope'"):
        open_model(parse_registry(_entries({"name": "x", "kind": "fake", "behaviour": "nope"})).get("x"))
