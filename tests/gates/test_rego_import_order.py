"""Regression: a Rego rule evaluated before the optimizer must not crash the process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def test_rego_then_solver_in_one_process() -> None:
    if importlib.util.find_spec("regopy") is None:  # importing it here would break highspy
        pytest.skip("the optional 'regopy' package is not installed")
    code = (
        "from airflow_cloudplan.gates.rego import _import_regopy\n"
        "_import_regopy()\n"
        "import pulp\n"
        "print(sorted(pulp.listSolvers(onlyAvailable=True)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert "PULP_CBC_CMD" in done.stdout
