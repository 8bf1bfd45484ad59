from __future__ import annotations

import pytest

from airflow_cloudplan.runtime.drift import population_stability_index
from airflow_cloudplan.runtime.validation import (
    DataValidationError,
    check_thresholds,
    run_expectation_suite,
    summary_error,
)


@pytest.mark.slow
def test_gx_suite_passes_and_fails_with_a_readable_summary() -> None:
    import pandas as pd

    frame = pd.DataFrame({"label": [0, 1, 1, None], "x": [0.5, 2.0, 99.0, 1.0]})
    suite = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "x", "min_value": 0, "max_value": 10}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    ]
    summary = run_expectation_suite(frame, suite, suite_name="inputs")
    assert not summary.success and summary.evaluated == 3
    assert [f.type for f in summary.failed] == [
        "expect_column_values_to_not_be_null", "expect_column_values_to_be_between"]
    text = str(summary_error(summary, where="validate.features"))
    assert text.startswith("2 of 3 expectations failed in suite 'inputs'")
    assert "expect_column_values_to_be_between(column='x', min_value=0" in text
    assert "1 of 4 values unexpected (25.00%), e.g. [99.0]" in text

    ok = run_expectation_suite(frame.dropna(), suite[:1], suite_name="ok")
    assert ok.success and ok.failed == ()


@pytest.mark.parametrize(
    ("suite", "needle"),
    [([], "no expectations"), ([{"kwargs": {}}], "no valid 'type'"),
     ([{"type": "expect_x", "kwargs": 3}], "'kwargs' must be a mapping")],
)
def test_malformed_suites_are_rejected_before_importing_gx(suite, needle) -> None:
    with pytest.raises(DataValidationError, match="malformed") as err:
        run_expectation_suite(None, suite, suite_name="s")  # type: ignore[arg-type]
    assert needle in str(err.value)


def test_thresholds() -> None:
    measured = {"accuracy": 0.8, "roc_auc": 0.99, "psi_max": 0.4}
    problems = check_thresholds(measured, minimum={"accuracy": 0.9, "roc_auc": 0.95, "f1": 0.5},
                                maximum={"psi_max": 0.25})
    text = [p.render() for p in problems]
    assert text[0].startswith("model_metrics.accuracy: accuracy = 0.8 < minimum 0.9")
    assert "metric 'f1' is missing" in text[1]
    assert "psi_max = 0.4 > maximum 0.25" in text[2]
    assert check_thresholds(measured, minimum={"roc_auc": 0.95}) == []


def test_psi_is_zero_for_the_same_population_and_large_for_a_shift() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 5000)
    assert population_stability_index(ref, ref) == pytest.approx(0.0, abs=1e-9)
    assert population_stability_index(ref, rng.normal(0, 1, 5000)) < 0.02
    assert population_stability_index(ref, rng.normal(1.5, 1, 5000)) > 0.5
    with pytest.raises(ValueError, match="non-empty"):
        population_stability_index([], [1.0])
