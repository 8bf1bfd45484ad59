"""A whole plan in simulation; and the simulator's independence from the planner."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.model import Pipeline
from airflow_cloudplan.simulate import BatchLoad, BatchRun, OnlineLoad, SimConfig, simulate_plan
from airflow_cloudplan.simulate.facts import link_mb_s

from .conftest import catalog, option

SIMULATE = Path(__file__).resolve().parents[2] / "airflow_cloudplan" / "simulate"


def chain() -> Pipeline:
    return Pipeline.model_validate({
        "name": "chain", "deadline_minutes": 60,
        "stages": [
            {"name": "a", "kind": "transform"},
            {"name": "b", "kind": "train", "slo": {"deadline_minutes": 30}},
            {"name": "s", "kind": "serve", "mode": "online", "slo": {"p95_ms": 500}},
        ],
        "edges": [{"src": "a", "dst": "b", "gb_per_run": 50},
                  {"src": "b", "dst": "s", "gb_per_run": 1}],
    })


def loads() -> dict[str, object]:
    day = 86400.0
    return {
        "a": BatchLoad(tuple(BatchRun(i * day, np.array([1200.0]), divisible=True)
                             for i in range(3)), 3 * day, "a"),
        "b": BatchLoad(tuple(BatchRun(0.0, np.array([600.0]), divisible=True)
                             for _ in range(3)), 3 * day, "b"),
        "s": OnlineLoad(np.arange(0.0, 3 * day, 10.0), np.full(25920, 0.1), 3 * day, "s"),
    }


def test_a_stage_starts_when_its_input_has_crossed_regions() -> None:
    cat = catalog()
    plan = {"a": option(stage="a", instance_type="m7i.large"),
            "b": option(stage="b", region="eu-west-1", zone="euw1-az1",
                        instance_type="m7i.large"),
            "s": option(stage="s", instance_type="m7i.large")}
    sim = simulate_plan(cat, chain(), plan, loads(), SimConfig(), seed=0)
    a, b, s = sim.stages
    transfer = 50 * 1000 / link_mb_s(cat, "us-east-1", "eu-west-1")
    # a: 1200 s on 2 vCPUs at 0.9 efficiency; b is submitted when a's 50 GB have crossed
    # the Atlantic, and its own completion is counted from there.
    a_s, b_s = 1200 / (2 * 0.9), 600 / (2 * 0.9)
    assert a.latency.mean_s == pytest.approx(a_s)
    assert b.latency.mean_s == pytest.approx(b_s)
    back = 1 * 1000 / link_mb_s(cat, "eu-west-1", "us-east-1")
    assert sim.latency_s == pytest.approx(a_s + transfer + b_s + back + s.latency.p95_s)
    per_month = 3 / (3 * 86400.0) * (30.4166 * 86400)
    assert sim.edge_egress_usd_month == pytest.approx(
        per_month * (50 * cat.egress.between("us-east-1", "eu-west-1")
                     + 1 * cat.egress.between("eu-west-1", "us-east-1")), rel=1e-3)
    assert sim.deadline_misses == 0 and sim.pipeline_runs == 3
    assert b.violations == 0


def test_missing_or_mismatched_workloads_are_named() -> None:
    plan = {k: option(stage=k) for k in ("a", "b", "s")}
    bad = loads()
    del bad["b"]
    bad["s"] = bad["a"]
    with pytest.raises(SpecError) as err:
        simulate_plan(catalog(), chain(), plan, bad, seed=0)  # type: ignore[arg-type]
    text = err.value.render()
    assert "no workload for stage 'b'" in text
    assert "stage 's' is online but its workload is runs" in text


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_simulator_imports_nothing_of_the_planner() -> None:
    core = [p for p in SIMULATE.glob("*.py")]
    assert len(core) >= 10
    for path in core:
        forbidden = {m for m in _imports(path)
                     if m.startswith(("airflow_cloudplan.optimize", "airflow_cloudplan.gates",
                                      "airflow_cloudplan.runops", "airflow."))
                     or m == "airflow"}
        assert not forbidden, f"{path.name} imports {forbidden}"


def test_running_a_simulation_loads_no_planner_module() -> None:
    code = (
        "import sys, numpy as np\n"
        "from airflow_cloudplan.catalog import load_catalog\n"
        "from airflow_cloudplan.model import Pipeline, StageOption\n"
        "from airflow_cloudplan.simulate import OnlineLoad, simulate_plan\n"
        "p = Pipeline.model_validate({'name': 'x', 'stages': [{'name': 's', 'kind': 'serve',"
        " 'mode': 'online'}]})\n"
        "o = StageOption(stage='s', region='us-east-1', zone='z', tier='aws-eks',"
        " instance_type='m7i.large', replicas_min=1, replicas_max=2, scaling='rule_based',"
        " access='direct', isolation='scoped')\n"
        "load = OnlineLoad(np.arange(0.0, 600.0), np.full(600, 0.1), 600.0, 't')\n"
        "simulate_plan(load_catalog('aws'), p, {'s': o}, {'s': load}, seed=0)\n"
        "bad = [m for m in sys.modules if m.startswith(('airflow_cloudplan.optimize',"
        " 'airflow_cloudplan.gates', 'airflow_cloudplan.runops', 'pulp'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
