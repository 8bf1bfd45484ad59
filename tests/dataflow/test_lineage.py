"""Lineage: derived data keeps its classes, declassification is the policy's decision.

The first tests are the issue's own scenario on the shipped regulated example: a stage
that reads restricted data writes a 'public' dataset homed in the US.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.cli import main
from airflow_cloudplan.dataflow.lineage import compute_lineage
from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.model import (
    Dataset,
    DeclassificationAllowance,
    GovernancePolicy,
    Stage,
)
from airflow_cloudplan.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
REGULATED = REPO / "docs" / "examples" / "regulated_pipeline.yaml"
PUBLIC_DUMP = {"name": "public_dump", "uri": "s3://acme-public-us/dump/", "size": "5GB",
               "home_region": "us-east-1", "sensitivity": "public"}


def _regulated(tmp_path: Path, mutate: Any) -> Path:
    data = yaml.safe_load(REGULATED.read_text())
    data["datasets"].append(dict(PUBLIC_DUMP))
    mutate(data)
    out = tmp_path / "regulated.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _stage(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in data["stages"] if s["name"] == name)


def _writes_dump(data: dict[str, Any]) -> None:
    _stage(data, "batch_inference")["writes"].append("public_dump")


def _publish(declassifies: bool, allowance: dict[str, Any] | None) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        stage: dict[str, Any] = {"name": "publish", "kind": "transform",
                                 "reads": ["credit_features"], "writes": ["public_dump"],
                                 "compute": {"vcpu_seconds": 600, "memory_gib": 4}}
        if declassifies:
            stage["declassifies"] = {"from": "restricted", "to": "public",
                                     "justification": "default rates per region, k >= 50"}
        data["stages"].append(stage)
        if allowance is not None:
            data["policy"]["governance"]["declassifications"] = [allowance]
    return mutate


def test_restricted_data_written_to_a_us_dataset_is_refused_with_its_path(
    tmp_path: Path,
) -> None:
    spec = _regulated(tmp_path, _writes_dump)
    with pytest.raises(SpecError) as err:
        load_spec(spec, load_catalog())
    text = err.value.render()
    assert ("credit_features (restricted) → batch_inference → public_dump (us-east-1): "
            "restricted data written outside eu") in text
    assert "datasets[6].home_region" in text  # located at the dataset's home, with a line
    assert "regulated.yaml:" in text


@pytest.mark.parametrize("command", ["validate", "gate", "plan"])
def test_every_command_refuses_the_leaking_spec(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _regulated(tmp_path, _writes_dump)
    args = [command, str(spec)] + (["--out", str(tmp_path / "out")] if command == "plan" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "credit_features (restricted) → batch_inference → public_dump" in err
    assert "Traceback" not in err


def test_a_declassification_the_policy_allows_admits_the_write(tmp_path: Path) -> None:
    allowance = {"from": "restricted", "to": "public", "stages": ["publish"],
                 "approved_by": "dpo", "reference": "DPIA-2026-14"}
    spec = load_spec(_regulated(tmp_path, _publish(True, allowance)), load_catalog())
    lineage = compute_lineage(spec.pipeline.stages, spec.pipeline.datasets,
                              spec.pipeline.edges, spec.policy.governance)
    assert lineage.dataset("public_dump") == {"public"}
    assert lineage.applied == {"publish": ("restricted", "public")}


def test_a_declassification_without_allowance_names_the_policy_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_regulated(tmp_path, _publish(True, None)), load_catalog())
    text = err.value.render()
    assert "stages[7].declassifies" in text
    assert "no policy allowance covers it" in text
    assert ("policy.governance.declassifications: {from: restricted, to: public, "
            "stages: [publish]}") in text
    # fail-closed: the unallowed claim changes nothing, so the write is refused too
    assert "credit_features (restricted) → publish → public_dump (us-east-1)" in text


def test_an_allowance_for_another_stage_does_not_cover(tmp_path: Path) -> None:
    allowance = {"from": "restricted", "to": "public", "stages": ["monitor"]}
    with pytest.raises(SpecError) as err:
        load_spec(_regulated(tmp_path, _publish(True, allowance)), load_catalog())
    assert "no policy allowance covers it" in err.value.render()


def test_the_shipped_examples_load_and_declassify_as_documented() -> None:
    spec = load_spec(REPO / "docs" / "examples" / "ml_pipeline.yaml", load_catalog())
    lineage = compute_lineage(spec.pipeline.stages, spec.pipeline.datasets,
                              spec.pipeline.edges, spec.policy.governance)
    assert lineage.applied == {"features": ("confidential", "internal")}
    assert lineage.dataset("features") == {"internal"}
    # the predictions batch_inference writes stay confidential; serve gets only the model
    assert "confidential" in lineage.handled("batch_inference")
    assert lineage.handled("serve") == {"internal"}


# --- lineage mechanics on hand-made pipelines --------------------------------------

def _ds(name: str, cls: str, home: str = "eu-west-1") -> Dataset:
    return Dataset(name=name, uri=f"s3://b/{name}/", size_gb=1, home_region=home,
                   sensitivity=cls)


def _st(name: str, reads: tuple[str, ...] = (), writes: tuple[str, ...] = (),
        **kw: Any) -> Stage:
    return Stage.model_validate({"name": name, "kind": kw.pop("kind", "transform"),
                                 "reads": reads, "writes": writes, **kw})


def test_classes_flow_through_writes_reads_and_edges_and_upstream_reads() -> None:
    datasets = [_ds("pii", "restricted"), _ds("mid", "internal"), _ds("out", "public"),
                _ds("loop", "public")]
    stages = [
        _st("a", reads=("pii", "loop"), writes=("mid",)),
        _st("b", reads=("mid",), writes=("loop",)),  # written downstream, read by 'a'
        _st("c"),
        _st("d", writes=("out",)),
    ]
    edges = [("b", "c"), ("c", "d")]
    lineage = compute_lineage(stages, datasets, edges, GovernancePolicy())
    assert lineage.dataset("mid") == {"internal", "restricted", "public"}  # a also read loop
    assert lineage.dataset("loop") == {"public", "restricted", "internal"}
    assert "restricted" in lineage.inputs["c"]  # handed along the edge b -> c
    assert lineage.dataset("out") == {"public", "restricted", "internal"}
    assert lineage.path("out", "restricted") == "pii (restricted) → a → mid → b → c → d → out"


def test_an_edge_that_carries_named_datasets_hands_over_only_their_classes() -> None:
    from airflow_cloudplan.model import DataEdge

    datasets = [_ds("pii", "restricted"), _ds("model", "internal")]
    stages = [_st("train", reads=("pii",), writes=("model",)), _st("serve")]
    both = compute_lineage(stages, datasets, [DataEdge(src="train", dst="serve")],
                           GovernancePolicy())
    assert both.inputs["serve"] == {"internal", "restricted"}  # fail-closed default
    model_only = compute_lineage(
        stages, datasets, [DataEdge(src="train", dst="serve", carries=("model",))],
        GovernancePolicy())
    # the model itself was trained on restricted data: lineage still says so
    assert model_only.inputs["serve"] == {"internal", "restricted"}
    declass = [_st("train", reads=("pii",), writes=("model",),
                   declassifies={"from": "restricted", "to": "internal",
                                 "justification": "DP-SGD, epsilon 1"}), _st("serve")]
    gov = GovernancePolicy(declassifications=(DeclassificationAllowance.model_validate(
        {"from": "restricted", "to": "internal", "kinds": ["transform"]}),))
    lineage = compute_lineage(declass, datasets,
                              [DataEdge(src="train", dst="serve", carries=("model",))], gov)
    assert lineage.inputs["serve"] == {"internal"}
    assert lineage.path("model", "internal") == "model (internal)"
    assert lineage.stage_path("serve", "internal") == "model (internal) → serve"


@pytest.mark.parametrize(("decl", "kind"), [
    ({"from": "secret", "to": "public"}, "unknown_class"),
    ({"from": "internal", "to": "restricted"}, "not_lower"),
    ({"from": "restricted", "to": "internal"}, "not_allowed"),
])
def test_bad_declassifications_are_reported_and_change_nothing(
    decl: dict[str, str], kind: str
) -> None:
    stages = [_st("s", reads=("pii",), writes=("out",),
                  declassifies={**decl, "justification": "why"})]
    lineage = compute_lineage(stages, [_ds("pii", "restricted"), _ds("out", "public")], [],
                              GovernancePolicy())
    assert [i.kind for i in lineage.issues] == [kind]
    assert "restricted" in lineage.dataset("out")


def test_a_declassification_of_a_class_the_stage_does_not_handle_is_reported() -> None:
    gov = GovernancePolicy(declassifications=(DeclassificationAllowance.model_validate(
        {"from": "restricted", "to": "internal"}),))
    stages = [_st("s", reads=("x",), writes=("y",), declassifies={
        "from": "restricted", "to": "internal", "justification": "why"})]
    lineage = compute_lineage(stages, [_ds("x", "public"), _ds("y", "public")], [], gov)
    assert [i.kind for i in lineage.issues] == ["no_effect"]


def test_a_stage_override_below_its_data_is_a_located_error(tmp_path: Path) -> None:
    def lower(data: dict[str, Any]) -> None:
        _stage(data, "monitor")["sensitivity"] = "internal"

    data = yaml.safe_load(REGULATED.read_text())
    lower(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecError) as err:
        load_spec(path, load_catalog())
    text = err.value.render()
    assert "stages[6].sensitivity" in text
    assert "declares sensitivity 'internal' but handles 'confidential', 'restricted'" in text
