"""The shipped example specs load, validate against the bundled catalog, and say what
the matching Airflow DAGs rely on (dag/task ids, stage names)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.cli import main
from airflow_cloudplan.model import ExecutionMode, StageKind
from airflow_cloudplan.spec import load_spec
from airflow_cloudplan.spec.schema import pipeline_spec_schema

REPO = Path(__file__).resolve().parents[2]
ML = REPO / "docs" / "examples" / "ml_pipeline.yaml"
REGULATED = REPO / "docs" / "examples" / "regulated_pipeline.yaml"


def test_ml_example_describes_the_example_pipeline() -> None:
    spec = load_spec(ML, load_catalog())
    p = spec.pipeline
    assert p.name == "example_ml_pipeline"
    assert [s.name for s in p.stages] == [
        "ingest", "transform", "features", "train", "validate", "batch_inference", "serve",
        "monitor",
    ]
    assert {s.kind for s in p.stages} == set(StageKind)
    assert all(s.airflow is not None and s.airflow.dag_id == "example_ml_pipeline"
               and s.airflow.task_id == s.name for s in p.stages)
    assert {d.name for d in p.datasets} == {
        "raw_events", "clean_events", "features", "model", "predictions", "monitoring_report"
    }
    train = p.stage_by_name["train"]
    assert train.compute.accelerator == "A10G" and train.epochs == 5
    serve = p.stage_by_name["serve"]
    assert serve.mode == ExecutionMode.ONLINE and serve.slo.p95_ms and serve.public_endpoint
    assert p.dataset_by_name["monitoring_report"].size_gb == pytest.approx(0.5)
    assert p.topological_order()[0] == "ingest" and p.topological_order()[-1] == "monitor"
    assert spec.sha256 == hashlib.sha256(ML.read_bytes()).hexdigest()
    jurisdictions = {load_catalog().region(r).jurisdiction for r in p.candidate_regions}
    assert {"us", "eu", "apac"} <= jurisdictions


def test_regulated_example_keeps_restricted_data_in_the_eu() -> None:
    catalog = load_catalog()
    spec = load_spec(REGULATED, catalog)
    restricted = spec.policy.governance.sensitivity_class("restricted")
    assert restricted.allowed_jurisdictions == ("eu",)
    assert restricted.require_audit and not restricted.allow_shared_identity
    assert not restricted.allow_public_endpoint
    assert spec.policy.governance.exposure_budget.total is not None
    restricted_data = [d for d in spec.pipeline.datasets if d.sensitivity == "restricted"]
    assert restricted_data
    assert all(catalog.region(d.home_region).jurisdiction == "eu" for d in restricted_data)
    assert not any(s.public_endpoint for s in spec.pipeline.stages)


@pytest.mark.parametrize("path", [ML, REGULATED], ids=["ml", "regulated"])
def test_example_builds_planning_input(path: Path) -> None:
    catalog = load_catalog()
    spec = load_spec(path, catalog)
    inp = spec.planning_input(catalog)
    assert inp.pipeline == spec.pipeline and inp.catalog is catalog


@pytest.mark.parametrize("path", [ML, REGULATED], ids=["ml", "regulated"])
def test_example_is_valid_against_the_published_json_schema(path: Path) -> None:
    """Editors validating with the JSON Schema accept the shorthands the loader accepts."""
    jsonschema.Draft202012Validator(pipeline_spec_schema()).validate(
        yaml.safe_load(path.read_text(encoding="utf-8"))
    )


def test_validate_cli_summarises_each_valid_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ML), str(REGULATED)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "example_ml_pipeline: 8 stages, 10 edges, 6 datasets, 4 sensitivity classes" in out[0]
    assert "regulated_credit_scoring" in out[1] and "catalog aws-" in out[1]


def test_validate_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nstages: []\n", encoding="utf-8")
    assert main(["validate", "--json", str(ML), str(broken)]) == 2
    results = json.loads(capsys.readouterr().out)
    assert [r["valid"] for r in results] == [True, False]
    assert results[0]["stages"] == 8 and results[0]["classes"] == 4
    problem = results[1]["problems"][0]
    assert (problem["line"], problem["path"]) == (2, "stages")
    assert problem["hint"] and problem["text"].startswith(f"{broken}:2: stages: ")


def test_validate_cli_lists_problems_of_every_invalid_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text("name: x\nstages: []\n", encoding="utf-8")
    two.write_text("- a\n", encoding="utf-8")
    assert main(["validate", str(ML), str(one), str(two)]) == 2
    captured = capsys.readouterr()
    assert "example_ml_pipeline" in captured.out
    assert "2 of 3 specs are invalid" in captured.err
    assert f"{one}:2: stages:" in captured.err and f"{two}:1:" in captured.err


def test_planning_input_rejects_a_catalog_without_the_spec_names() -> None:
    from airflow_cloudplan.errors import SpecError

    catalog = load_catalog()
    spec = load_spec(ML, catalog)
    smaller = catalog.model_copy(update={
        "regions": tuple(r for r in catalog.regions if r.id != "ap-northeast-1"),
        "prices": tuple(p for p in catalog.prices if p.region != "ap-northeast-1"),
    })
    with pytest.raises(SpecError) as err:
        spec.planning_input(smaller)
    assert "candidate_regions[4]: unknown region 'ap-northeast-1'" in err.value.render()


DOC = REPO / "docs" / "spec.md"


def _doc_block(heading: str, lang: str) -> str:
    section = DOC.read_text(encoding="utf-8").split(heading, 1)[1]
    return section.split(f"```{lang}\n", 1)[1].split("```", 1)[0]


def test_the_small_example_in_the_docs_is_valid() -> None:
    from airflow_cloudplan.spec import parse_spec

    text = _doc_block("## A small example", "yaml")
    spec = parse_spec(text, "doc.yaml", load_catalog())
    assert len(text.splitlines()) <= 16
    assert [s.name for s in spec.pipeline.stages] == ["ingest", "train", "serve"]


def test_the_error_format_in_the_docs_is_what_validate_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.spec.test_broken_specs import BASE

    text = (BASE.replace("kind: train", "kind: trian").replace("p95_ms: 100", "p95_ms: -5")
            .replace('"ingest -> train -> serve"]', '"ingest -> train -> serve",\n'
                     '        "serve -> ingest"]')
            .replace("size: 20GB, home_region: us-east-1", "size: 20GB, home_region: us-east-9"))
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "spec.yaml"]) == 2
    assert capsys.readouterr().err == _doc_block("## Error format", "text")
