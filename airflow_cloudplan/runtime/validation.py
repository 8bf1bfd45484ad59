"""Validation of a stage's input: a Great Expectations suite and model-metric thresholds.

Great Expectations (1.x) takes about ten seconds to import, so it is imported only inside
:func:`run_expectation_suite` — DAG parsing and every other stage never pay for it. The
suite runs on an *ephemeral* data context (nothing written to disk, analytics off,
progress bars off) against a pandas DataFrame.

Expectations are given as plain dicts, the way GX serialises them::

    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label"}}

A failed suite raises :class:`DataValidationError` with one line per failed expectation
(what was expected, of which column, and what was found).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from airflow_cloudplan.errors import CloudplanError, Problem
from airflow_cloudplan.model.catalog import Frozen

if TYPE_CHECKING:
    import pandas as pd


class DataValidationError(CloudplanError):
    """The stage's input or model failed its expectations; the task must fail."""


class ExpectationOutcome(Frozen):
    """The result of one expectation, reduced to what a person needs to read."""

    type: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    success: bool
    observed: str = ""


class ValidationSummary(Frozen):
    """What a suite run found."""

    suite: str
    success: bool
    evaluated: int
    failed: tuple[ExpectationOutcome, ...] = ()


def _observed(result: Mapping[str, Any]) -> str:
    """A short, readable account of what GX found."""
    if "unexpected_count" in result:
        sample = list(result.get("partial_unexpected_list") or [])[:5]
        return (
            f"{result['unexpected_count']} of {result.get('element_count', '?')} values "
            f"unexpected ({result.get('unexpected_percent', 0):.2f}%), e.g. {sample}"
        )
    if "observed_value" in result:
        return f"observed {result['observed_value']!r}"
    return ""


def run_expectation_suite(
    frame: pd.DataFrame, expectations: Sequence[Mapping[str, Any]], *, suite_name: str
) -> ValidationSummary:
    """Validate a DataFrame against a list of expectation dicts."""
    problems = _check_expectation_dicts(expectations, suite_name)
    if problems:
        raise DataValidationError(f"expectation suite {suite_name!r} is malformed", problems)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        # GX 1.24 imports deprecated stdlib/pydantic modules; that noise is not the stage's.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"cloudplan_{suite_name}")
    asset = source.add_dataframe_asset(name="stage_input")
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for e in expectations:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=str(e["type"]), kwargs=dict(e.get("kwargs", {})))
        )
    result = batch.validate(suite)
    failed = tuple(
        ExpectationOutcome(
            type=cfg.type,
            kwargs={k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
            success=False,
            observed=_observed(r.result or {}),
        )
        for r in result.results
        if not r.success and (cfg := r.expectation_config) is not None
    )
    return ValidationSummary(
        suite=suite_name, success=bool(result.success), evaluated=len(result.results),
        failed=failed,
    )


def _check_expectation_dicts(
    expectations: Sequence[Mapping[str, Any]], suite_name: str
) -> list[Problem]:
    problems: list[Problem] = []
    if not expectations:
        problems.append(Problem(message="the suite has no expectations", path=suite_name,
                                hint="give at least one {'type': ..., 'kwargs': {...}}"))
    for i, e in enumerate(expectations):
        t = e.get("type") if isinstance(e, Mapping) else None
        if not isinstance(t, str) or not t.startswith("expect_"):
            problems.append(Problem(
                message=f"expectation has no valid 'type' (got {t!r})",
                path=f"{suite_name}[{i}]",
                hint="use a GX expectation name such as 'expect_column_values_to_not_be_null'",
            ))
        elif not isinstance(e.get("kwargs", {}), Mapping):
            problems.append(Problem(message="'kwargs' must be a mapping",
                                    path=f"{suite_name}[{i}].kwargs"))
    return problems


def summary_error(summary: ValidationSummary, *, where: str) -> DataValidationError:
    """The readable error for a failed suite: one problem per failed expectation."""
    problems = [
        Problem(
            message=f"{f.type}({', '.join(f'{k}={v!r}' for k, v in f.kwargs.items())}) "
            f"failed: {f.observed}".rstrip(": "),
            path=where,
            hint="fix the upstream data or, if the expectation is wrong, the suite",
        )
        for f in summary.failed
    ]
    return DataValidationError(
        f"{len(summary.failed)} of {summary.evaluated} expectations failed in suite "
        f"{summary.suite!r}",
        problems,
    )


def check_thresholds(
    measured: Mapping[str, float],
    *,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    where: str = "model_metrics",
) -> list[Problem]:
    """Problems for every metric below its minimum, above its maximum, or missing."""
    problems: list[Problem] = []
    for bound, limits in (("minimum", minimum or {}), ("maximum", maximum or {})):
        for name, limit in limits.items():
            value = measured.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                problems.append(Problem(
                    message=f"metric {name!r} is missing (known: {sorted(measured)})",
                    path=f"{where}.{name}", hint="record it in the training stage's metrics"))
                continue
            bad = value < limit if bound == "minimum" else value > limit
            if bad:
                rel = "<" if bound == "minimum" else ">"
                problems.append(Problem(
                    message=f"{name} = {value:.4g} {rel} {bound} {limit:.4g}",
                    path=f"{where}.{name}",
                    hint="improve the model or revisit the threshold"))
    return problems
