"""Every kind of broken spec gives exit 2 and a located, actionable message — no traceback.

Each case is a small spec with one thing wrong, the line and field path the message must
name, and words the message must contain. They run through the real CLI
(``airflow_cloudplan.cli.main``) with the bundled AWS catalog, and one runs through the
installed ``cloudplan`` console script in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airflow_cloudplan.cli import main

# Lines:  1 name, 2 stages:, 3 ingest, 4 train, 5 serve, 6 edges, 7 datasets:, 8 raw, 9 model
BASE = """\
name: tiny
stages:
  - {name: ingest, kind: ingest, writes: [raw]}
  - {name: train, kind: train, reads: [raw], writes: [model]}
  - {name: serve, kind: serve, mode: online, reads: [model], slo: {p95_ms: 100}}
edges: ["ingest -> train -> serve"]
datasets:
  - {name: raw, uri: "s3://b/raw/", size: 20GB, home_region: us-east-1}
  - {name: model, uri: "s3://b/model/", size_gb: 1, home_region: us-east-1}
"""

EU_ONLY = """\
policy:
  governance:
    classes:
      - {name: internal, rank: 1}
      - {name: restricted, rank: 3, allowed_jurisdictions: [eu]}
"""  # appended at line 10: classes[0] on line 13, classes[1] on line 14


def edit(old: str, new: str, extra: str = "") -> str:
    """BASE with one substring replaced (it must occur) and lines appended."""
    assert old in BASE, old
    return BASE.replace(old, new, 1) + extra


# (case id, spec text, expected line, expected field path or None, words in the message)
CASES: list[tuple[str, str, int, str | None, tuple[str, ...]]] = [
    ("bad_yaml", edit("name: tiny", "name: tiny: pipeline"), 1, None,
     ("invalid YAML", "column")),
    ("tab_indent", edit("  - {name: train", "\t- {name: train"), 4, None, ("invalid YAML",)),
    ("unclosed_bracket", edit('edges: ["ingest -> train -> serve"]',
                              'edges: ["ingest -> train -> serve"'), 7, None, ("invalid YAML",)),
    ("duplicate_key", BASE + "name: other\n", 10, "name", ("duplicate key 'name'", "line 1")),
    ("empty_file", "", 1, None, ("empty",)),
    ("comment_only_file", "# nothing yet\n", 1, None, ("empty",)),
    ("list_top_level", "- name: tiny\n- stages: []\n", 1, None, ("top level is a list",)),
    ("scalar_top_level", "just a string\n", 1, None, ("top level is a single value",)),
    ("unknown_top_field", BASE + "descripton: hi\n", 10, "descripton",
     ("unknown field", "did you mean 'description'")),
    ("non_string_key", BASE + "1: one\n", 10, "[1]", ("field names must be strings",)),
    ("unknown_stage_field", edit("reads: [raw], writes", "raeds: [raw], writes"), 4,
     "stages[1].raeds", ("did you mean 'reads'",)),
    ("missing_required", edit('uri: "s3://b/model/", ', ""), 9, "datasets[1].uri",
     ("required field is missing",)),
    ("wrong_type_number", BASE + "deadline_minutes: soon\n", 10, "deadline_minutes",
     ("must be a number", "'soon'")),
    ("wrong_type_list", BASE + "candidate_regions: us-east-1\n", 10, "candidate_regions",
     ("must be a list",)),
    ("wrong_type_mapping", edit("slo: {p95_ms: 100}", "slo: 100"), 5, "stages[2].slo",
     ("must be a mapping",)),
    ("bad_enum", edit("kind: train", "kind: trian"), 4, "stages[1].kind",
     ("must be one of", "'trian'")),
    ("bad_name", edit("name: tiny", "name: Tiny Pipeline"), 1, "name",
     ("lowercase letter",)),
    ("negative_slo", edit("p95_ms: 100", "p95_ms: -5"), 5, "stages[2].slo.p95_ms",
     ("must be > 0", "got -5")),
    ("availability_one", edit("slo: {p95_ms: 100}", "slo: {p95_ms: 100, availability: 1}"),
     5, "stages[2].slo.availability", ("must be < 1",)),
    ("zero_size", edit("size_gb: 1", "size_gb: 0"), 9, "datasets[1].size_gb",
     ("must be > 0",)),
    ("bad_size_unit", edit("size: 20GB", "size: 20 parsecs"), 8, "datasets[0].size",
     ("not a size", "20 parsecs")),
    ("empty_stages", "name: tiny\nstages: []\n", 2, "stages", ("must not be empty",)),
    ("dangling_edge", edit('"ingest -> train -> serve"]', '"ingest -> train -> serve",\n'
                           '        "train -> srve"]'), 7, "edges[1].dst",
     ("unknown stage 'srve'", "did you mean 'serve'")),
    ("malformed_edge", edit('"ingest -> train -> serve"', '"ingest -> train -> serve", "train"'),
     6, "edges[1]", ("is not an edge",)),
    ("cycle", edit('"ingest -> train -> serve"]', '"ingest -> train -> serve",\n'
                   '        "serve -> ingest"]'), 7, "edges[1]",
     ("cycle", "ingest -> train -> serve -> ingest")),
    ("self_loop", edit('"ingest -> train -> serve"',
                       '"ingest -> train -> serve", "train -> train"'), 6, "edges[1]",
     ("cycle", "train -> train")),
    ("duplicate_stage", edit("{name: serve,", "{name: train,"), 5, "stages[2].name",
     ("duplicate stage name 'train'",)),
    ("duplicate_dataset", edit("{name: model,", "{name: raw,"), 9, "datasets[1].name",
     ("duplicate dataset name 'raw'",)),
    ("unknown_dataset_read", edit("reads: [raw]", "reads: [rwa]"), 4, "stages[1].reads[0]",
     ("unknown dataset 'rwa'", "did you mean 'raw'")),
    ("unknown_sensitivity", edit("home_region: us-east-1}\n  - {name: model",
                                 "home_region: us-east-1, sensitivity: secret}\n  - {name: model"),
     8, "datasets[0].sensitivity", ("unknown sensitivity class 'secret'",)),
    ("online_without_p95", edit(", slo: {p95_ms: 100}", ""), 5, "stages[2].slo.p95_ms",
     ("online stage 'serve' has no latency SLO",)),
    ("unknown_region", edit("size: 20GB, home_region: us-east-1", "size: 20GB, home_region: "
                            "us-east-9"), 8, "datasets[0].home_region",
     ("unknown region 'us-east-9'", "did you mean")),
    ("unknown_candidate_region", BASE + "candidate_regions: [eu-west-1, eu-wset-2]\n", 10,
     "candidate_regions[1]", ("unknown region 'eu-wset-2'", "did you mean 'eu-west-2'")),
    ("unknown_instance_type", edit("writes: [model]}", "writes: [model], instance_types: "
                                   "[m7i.larg]}"), 4, "stages[1].instance_types[0]",
     ("unknown instance type 'm7i.larg'", "did you mean 'm7i.large'")),
    ("unknown_accelerator", edit("writes: [model]}", "writes: [model], compute: "
                                 "{accelerator: A10}}"), 4, "stages[1].compute.accelerator",
     ("unknown accelerator 'A10'",)),
    ("unknown_provider", BASE + "provider: azur\n", 10, "provider",
     ("unknown provider 'azur'",)),
    ("unknown_jurisdiction", BASE + EU_ONLY.replace("[eu]", "[europe]"), 14,
     "policy.governance.classes[1].allowed_jurisdictions[0]", ("unknown jurisdiction 'europe'",)),
    ("contradictory_residency", BASE + EU_ONLY.replace("[eu]", "[eu], allowed_regions: "
                                                       "[us-east-1]"), 14,
     "policy.governance.classes[1]", ("matches no region",)),
    ("home_region_violates_residency", edit("size: 20GB, home_region: us-east-1",
                                            "size: 20GB, home_region: us-east-1, "
                                            "sensitivity: restricted", EU_ONLY), 8,
     "datasets[0].home_region", ("'restricted' data", "us-east-1")),
    ("stage_can_run_nowhere", edit("kind: train,", "kind: train, sensitivity: restricted, "
                                   "allowed_regions: [us-east-1],", EU_ONLY), 4, "stages[1]",
     ("can run in no region",)),
    ("weights_all_zero", BASE + "policy:\n  weights: {cost: 0, latency: 0, risk: 0}\n", 11,
     "policy.weights", ("at least one objective weight",)),
    ("negative_exposure_budget", BASE + "policy:\n  governance:\n"
     "    exposure_budget: {per_stage: -1}\n", 12,
     "policy.governance.exposure_budget.per_stage", ("must be >= 0",)),
    ("unknown_policy_field", BASE + "policy:\n  weigths: {cost: 1}\n", 11, "policy.weigths",
     ("did you mean 'weights'",)),
    ("duplicate_airflow_binding", edit(
        "writes: [raw]}", "writes: [raw], airflow: {dag_id: d, task_id: t}}").replace(
        "writes: [model]}", "writes: [model], airflow: {dag_id: d, task_id: t}}"), 4,
     "stages[1].airflow", ("already bound",)),
    ("bucket_in_two_regions", edit("size_gb: 1, home_region: us-east-1",
                                   "size_gb: 1, home_region: us-west-2"), 9,
     "datasets[1].home_region", ("bucket 'b'", "an S3 bucket lives in one region")),
    ("edge_carries_unknown", edit('edges: ["ingest -> train -> serve"]',
                                  'edges: [{src: ingest, dst: train, carries: [modl]}]'), 6,
     "edges[0].carries[0]", ("unknown dataset 'modl'",)),
    ("edge_carries_foreign", edit('edges: ["ingest -> train -> serve"]',
                                  'edges: [{src: ingest, dst: train, carries: [model]}]'), 6,
     "edges[0].carries[0]", ("neither reads nor writes",)),
    ("declassify_unknown_class", edit("writes: [model]}",
                                      "writes: [model], declassifies: {from: secret, to: "
                                      "public, justification: x}}"), 4,
     "stages[1].declassifies", ("unknown class 'secret'",)),
]


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    code = main(["validate", str(spec)])
    out, err = capsys.readouterr()
    return code, out, err


def test_there_are_enough_kinds_of_broken_spec() -> None:
    assert len({case[0] for case in CASES}) == len(CASES) >= 22


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_spec_is_reported_with_location_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, int, str | None, tuple[str, ...]],
) -> None:
    _, text, line, path, words = case
    code, out, err = _run(tmp_path, text, capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    assert out == ""
    where = f"spec.yaml:{line}: " + (f"{path}: " if path else "")
    located = [ln for ln in err.splitlines() if where in ln]
    assert located, f"no problem located at {where!r} in:\n{err}"
    assert any(all(w in ln for w in words) for ln in located), err
    assert all(". Fix: " in ln for ln in located), err


def test_every_problem_line_has_file_line_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All problems of a spec with many mistakes are reported at once, each located."""
    text = edit("p95_ms: 100", "p95_ms: -5").replace("kind: train", "kind: trian").replace(
        "reads: [raw]", "reads: [rwa]")
    code, _, err = _run(tmp_path, text, capsys)
    problems = err.splitlines()[1:]
    assert code == 2
    assert "3 problems" in err.splitlines()[0]
    assert len(problems) == 3
    assert all(p.strip().startswith(f"{tmp_path}/spec.yaml:") and "Fix:" in p
               for p in problems)


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.yaml" in err and "does not exist" in err and "Fix:" in err


def test_non_utf8_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"name: tiny\ndescription: caf\xe9\n")
    code = main(["validate", str(spec)])
    err = capsys.readouterr().err
    assert code == 2
    assert "spec.yaml:2:" in err and "UTF-8" in err


def test_python_tags_are_refused_not_executed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n"
    code, _, err = _run(tmp_path, text, capsys)
    assert code == 2
    assert not marker.exists()
    assert "spec.yaml:1:" in err and "Fix:" in err


def test_console_script_reports_without_traceback(tmp_path: Path) -> None:
    """The installed ``cloudplan`` entry point, as a user runs it."""
    script = Path(sys.executable).parent / "cloudplan"
    assert script.is_file(), "the console script is installed with the package"
    spec = tmp_path / "spec.yaml"
    spec.write_text(edit("p95_ms: 100", "p95_ms: -5"), encoding="utf-8")
    done = subprocess.run([str(script), "validate", str(spec)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert "spec.yaml:5: stages[2].slo.p95_ms: must be > 0 (got -5). Fix:" in done.stderr
