"""Helpers for simulator tests: a one-stage pipeline and options on the bundled catalog."""

from __future__ import annotations

from typing import Any

from airflow_cloudplan.catalog import load_catalog
from airflow_cloudplan.model import (
    AccessStrategy,
    Catalog,
    Isolation,
    Pipeline,
    ScalingPolicy,
    StageOption,
)


def catalog() -> Catalog:
    return load_catalog("aws")


def one_stage(mode: str = "online", **stage: Any) -> Pipeline:
    """A pipeline with one stage ``s`` (and the datasets named in ``datasets``)."""
    datasets = stage.pop("datasets", [])
    body: dict[str, Any] = {"name": "s", "kind": "serve" if mode == "online" else "train",
                            "mode": mode}
    body.update(stage)
    return Pipeline.model_validate({"name": "sim", "stages": [body], "datasets": datasets})


def option(**kw: Any) -> StageOption:
    base: dict[str, Any] = {
        "stage": "s", "region": "us-east-1", "zone": "use1-az1", "tier": "aws-ec2",
        "instance_type": "m7i.xlarge", "replicas_min": 1, "replicas_max": 1,
        "scaling": ScalingPolicy.STATIC, "access": AccessStrategy.DIRECT,
        "isolation": Isolation.SCOPED,
    }
    base.update(kw)
    return StageOption.model_validate(base)
