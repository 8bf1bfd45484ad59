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
           "write_outputs"]
