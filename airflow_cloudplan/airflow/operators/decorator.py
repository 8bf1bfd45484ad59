"""The TaskFlow form: ``@task.stage(kind=..., reads=..., writes=...)`` (or ``@stage_task``).

The decorated function receives the stage's
:class:`~airflow_cloudplan.runtime.stage.StageContext` as its first argument; the rest
works as with ``@task``: call it with its other arguments (values, templates or XComArgs
of upstream tasks), ask for Airflow context values by parameter name (``ti``, ``ds``,
``params``, …, default ``None``), return a value to push it to XCom (a dict unrolls with
``multiple_outputs``), map it with ``.expand()``::

    @task.stage(kind="transform", reads={"raw": "s3://lake/raw/"},
                writes={"clean": "s3://lake/clean/"})
    def clean(stage, day: str, ti=None) -> int:
        frame = stage.data.read_frame("raw", f"{day}.csv")
        stage.data.write_frame("clean", "data.csv", frame.dropna())
        return len(frame)

    clean("{{ ds }}")

``@task.stage`` is registered through the provider's ``task-decorators`` entry in
``get_provider_info`` (as Airflow's own providers register ``@task.bash``);
``from airflow_cloudplan.airflow.operators import stage_task`` is the same decorator.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory

from airflow_cloudplan.airflow.operators.base import StageOperator


def _without_stage_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in with ``fn``'s signature minus its first parameter (the StageContext).

    ``@task`` checks the call's arguments against the function's signature when the DAG
    is parsed; the StageContext is supplied at run time, so it is left out of that check.
    """

    @functools.wraps(fn)
    def view(*args: Any, **kwargs: Any) -> Any:  # never called
        return fn(*args, **kwargs)

    signature = inspect.signature(fn)
    view.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:])
    return view


class StageDecoratedOperator(DecoratedOperator, StageOperator):  # type: ignore[misc]
    """The operator behind ``@task.stage``: a TaskFlow function run as a stage."""

    custom_operator_name: str = "@task.stage"
    template_fields: Sequence[str] = StageOperator.template_fields
    template_fields_renderers: ClassVar[dict[str, str]] = StageOperator.template_fields_renderers
    shallow_copy_attrs: Sequence[str] = ("python_callable",)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs_to_upstream = {"python_callable": python_callable, "op_args": op_args,
                              "op_kwargs": op_kwargs}
        super().__init__(
            python_callable=_without_stage_context(python_callable),
            op_args=op_args,
            op_kwargs=op_kwargs,
            kwargs_to_upstream=kwargs_to_upstream,
            **kwargs,
        )


def stage_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Make a function a stage task: ``@stage_task(kind=..., reads=..., writes=...)``.

    Takes every argument :class:`StageOperator` takes (``kind``, ``pipeline``, ``reads``,
    ``writes``, ``slo``, …) and every task argument (``retries``, ``pool``, …).
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=StageDecoratedOperator,
        **kwargs,
    )
