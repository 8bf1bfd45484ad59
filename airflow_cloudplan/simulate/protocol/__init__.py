"""The evaluation protocol: profile → plan → simulate → compare, on real traces or yours.

``cloudplan evaluate-protocol`` and ``bench/protocol.py`` both call :func:`run_builtin`
(the paper's scenarios on ``../shared/data``) or :func:`run_user` (a team's own spec,
profiles and arrival file), then :func:`write_outputs`. Unlike the simulator it drives,
this package imports the planner: it is where the two meet.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from airflow_cloudplan.model.catalog import Catalog
from airflow_cloudplan.model.context import PlanningInput
from airflow_cloudplan.model.plan import PlanResult
from airflow_cloudplan.simulate.config import SimConfig
from airflow_cloudplan.simulate.protocol.run import (
    DEFAULT_SEEDS,
    Evaluation,
    Progress,
    evaluate_scenario,
)

EVALUATION_MD = "evaluation.md"
EVALUATION_JSON = "evaluation.json"
IMG_DIR = "img/evaluation"


def _quiet(_: str) -> None:
    return None


def run_builtin(data_dir: Path, *, only: Sequence[str] = (), seeds: Sequence[int] = DEFAULT_SEEDS,
                window_s: float | None = None, cfg: SimConfig | None = None,
                catalog: Catalog | None = None, progress: Progress = _quiet,
                command: str = "") -> Evaluation:
    """The protocol on the built-in scenarios (traces under ``data_dir``)."""
    from airflow_cloudplan.catalog import load_catalog
    from airflow_cloudplan.simulate.protocol.scenarios import builtin_scenarios

    cfg = cfg or SimConfig()
    catalog = catalog or load_catalog("aws")
    scenarios = builtin_scenarios(data_dir, tuple(only), window_s)
    outcomes = tuple(evaluate_scenario(sc, catalog, cfg=cfg, seeds=seeds, progress=progress)
                     for sc in scenarios)
    return Evaluation(seeds=tuple(seeds), catalog_version=catalog.version, config=cfg,
                      scenarios=outcomes, command=command)


def run_user(inp: PlanningInput, spec_path: Path, *, arrivals: Path | None,
             column: str = "TIMESTAMP", service_column: str | None = None,
             stage: str | None = None, days: float = 7.0, plan: PlanResult | None = None,
             plan_path: str = "plan.json", seeds: Sequence[int] = DEFAULT_SEEDS,
             cfg: SimConfig | None = None, progress: Progress = _quiet, sha: str = "",
             command: str = "", plan_time_s: float = 120.0) -> Evaluation:
    """The protocol on a team's own pipeline (see :mod:`.user`); plans unless ``plan``."""
    from airflow_cloudplan.simulate.protocol.run import evaluate_planned, plan_or_relax
    from airflow_cloudplan.simulate.protocol.user import check_plan_matches, user_scenario

    cfg = cfg or SimConfig()
    scenario = user_scenario(inp, spec_path, arrivals=arrivals, column=column,
                             service_column=service_column, stage=stage, days=days)
    relaxed = None
    planned = inp
    if plan is None:
        progress(f"{scenario.key}: planning")
        planned, plan, relaxed = plan_or_relax(inp, scenario.stage, sha=sha,
                                               base_dir=spec_path.parent,
                                               plan_time_s=plan_time_s)
    else:
        check_plan_matches(plan, inp, plan_path)
    progress(f"{scenario.key}: simulating {len(plan.frontier)} frontier point(s) and "
             f"{len(plan.baselines)} baseline(s)")
    outcome = evaluate_planned(scenario, planned, plan, cfg=cfg, seeds=seeds,
                               base_dir=spec_path.parent, progress=progress,
                               declared=inp.pipeline, relaxed=relaxed)
    return Evaluation(seeds=tuple(seeds), catalog_version=inp.catalog.version, config=cfg,
                      scenarios=(outcome,), command=command)


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are documents
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_outputs(ev: Evaluation, *, command: str = "") -> dict[str, bytes]:
    """Relative path → bytes of every output file (rendered in memory first)."""
    from airflow_cloudplan.simulate.protocol.report import render_images, render_markdown

    files = {EVALUATION_MD: render_markdown(ev, img_dir=IMG_DIR, command=command).encode()}
    files.update({f"{IMG_DIR}/{name}": svg.encode()
                  for name, svg in render_images(ev).items()})
    files[EVALUATION_JSON] = (json.dumps(ev.model_dump(mode="json"), sort_keys=True,
                                         indent=1, allow_nan=True) + "\n").encode()
    return files


def write_outputs(ev: Evaluation, out_dir: Path, *, command: str = "") -> list[Path]:
    """Write ``evaluation.md``, ``evaluation.json`` and the SVGs under ``out_dir``.

    Everything is rendered before the first byte is written; each file is replaced
    atomically, and pictures of scenarios no longer in the evaluation are removed.
    """
    files = render_outputs(ev, command=command)
    written = []
    for rel, data in sorted(files.items()):
        _write(out_dir / rel, data)
        written.append(out_dir / rel)
    img = out_dir / IMG_DIR
    for stale in sorted(img.glob("*.svg")):
        if f"{IMG_DIR}/{stale.name}" not in files:
            stale.unlink()
    return written


__all__ = ["EVALUATION_JSON", "EVALUATION_MD", "IMG_DIR", "render_outputs", "run_builtin",
           "run_user", "write_outputs"]
