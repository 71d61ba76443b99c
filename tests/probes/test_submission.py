"""The evaluator's submission file: every cell, full provenance, readable by the leaderboard."""

from __future__ import annotations

import json

from benchmark.reader import load_benchmark
from benchmark.submission import SCHEMA_VERSION, read_submission
from benchmark.upstream import UPSTREAM_SET_KEYS, upstream_metric_key
from benchmark.vocabulary import PROTOCOL_VERSIONS, EvalSet, Protocol
from probes import runner
from probes.submission import ModelInfo, submission_text

from ..conftest import hash_model


def test_submission_matches_the_official_results_and_records_provenance(tmp_path):
    bench = load_benchmark("demo")
    cfg = runner.RunConfig(name="r", model="fake", data="demo", dataset_fingerprint=bench.fingerprint, forget_ratio=10,
                           protocol="official", protocol_version=PROTOCOL_VERSIONS[Protocol.OFFICIAL],
                           sets=(EvalSet.FORGET, EvalSet.RETAIN), seed=7, prompt_style="llava")
    info = ModelInfo(model_name="fake <b>model</b>", model_id="fake", base_model="demo-base", method="GA",
                     unlearning_modality="multimodal", quantization="none")
    out = runner.run(cfg, bench, hash_model(), tmp_path, progress=False,
                     submission_builder=lambda c, r: submission_text(c, r, info, submitter="tester"))
    raw = out.files["submission"].read_text()
    assert next(iter(json.loads(raw))) == "schema_version"
    sub = read_submission(out.files["submission"])
    assert sub.schema_version == SCHEMA_VERSION
    assert sub.metadata.model_name == "fake <b>model</b>" and sub.metadata.forget_ratio == 10
    prov = sub.provenance
    assert prov.seed == 7 and prov.protocol == "official" and prov.protocol_version == Protocol.OFFICIAL.version
    assert prov.dataset_fingerprint == bench.fingerprint
    assert {"torch", "transformers", "rouge-score"} <= set(prov.package_versions)
    assert sum(prov.sample_counts.values()) == len(out.records)
    assert len(sub.cells) == 2 * 12
    official = json.loads(out.files["results"].read_text())
    for cell in sub.cells:
        key = upstream_metric_key(cell.task, cell.modality, cell.metric)
        task_key = {"cloze": "fill_in_the_blank"}.get(cell.task.value, cell.task.value)
        assert official[UPSTREAM_SET_KEYS[cell.set]][task_key][key] == cell.value
        assert cell.n == prov.sample_counts[f"{cell.set.value}/{cell.task.value}/{cell.modality.value}"]


def test_cells_without_questions_are_absent_not_zero(tmp_path):
    # Forget 5 % of the demo is two people; official cloze takes two demo profiles from the
    # evaluated set and skips their questions, so no forget-set cloze question is left.
    bench = load_benchmark("demo")
    cfg = runner.RunConfig(name="r", model="fake", data="demo", dataset_fingerprint=bench.fingerprint, forget_ratio=5,
                           protocol="official", protocol_version=PROTOCOL_VERSIONS[Protocol.OFFICIAL],
                           sets=(EvalSet.FORGET,), seed=0, prompt_style="llava")
    info = ModelInfo(model_name="m", model_id="m")
    out = runner.run(cfg, bench, hash_model(), tmp_path, progress=False,
                     submission_builder=lambda c, r: submission_text(c, r, info, submitter="t"))
    sub = read_submission(out.files["submission"])
    assert {c.task.value for c in sub.cells} == {"classification", "generation"}
    assert "fill_in_the_blank" not in json.loads(out.files["results"].read_text())["Forget Set Results"]


def test_upstreams_per_question_token_limits_are_recorded():
    from benchmark.records import make_record
    from benchmark.vocabulary import Modality, Task
    from probes.submission import build_submission

    record = make_record(key="k", eval_set=EvalSet.FORGET, task=Task.CLASSIFICATION, modality=Modality.TEXT,
                         profile_id="001", question_index=0, question="q", reference="A", image_index=None,
                         raw_output="A")
    info = ModelInfo(model_name="m", model_id="m", base_model="b", method="GA", quantization="none")

    def generation(protocol: str, style: str) -> dict:
        cfg = runner.RunConfig(name="r", model="m", data="demo", dataset_fingerprint="f", forget_ratio=10,
                               protocol=protocol, protocol_version=PROTOCOL_VERSIONS[Protocol(protocol)],
                               sets=(EvalSet.FORGET,), seed=0, prompt_style=style)
        return build_submission(cfg, [record], info, submitter="t").provenance.generation

    assert generation("official", "idefics2")["max_new_tokens.classification/text"] == 5
    assert generation("official", "idefics2")["max_new_tokens"] == 50
    assert "max_new_tokens.classification/text" not in generation("official", "llava")
    assert "max_new_tokens.classification/text" not in generation("strict", "idefics2")
