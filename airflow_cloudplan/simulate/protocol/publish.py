"""Keeping an evaluation next to the plan version it evaluated, in the plan store.

An evaluation of version V is stored, immutably, under
``versions/<V>/evaluations/<E>/`` where E is the first 16 hex digits of the sha256 of its
``evaluation.json`` (so the same evaluation is stored once and a different one — other
seeds, another arrival file — gets its own folder). The files are those
:func:`~airflow_cloudplan.simulate.protocol.render_outputs` writes: ``evaluation.md``,
``evaluation.json`` and ``img/evaluation/*.svg``. A review page lists
:func:`stored_evaluations` to link them.
"""

from __future__ import annotations

import hashlib

from airflow_cloudplan.store.base import PlanStore

EVALUATIONS = "evaluations"


def evaluation_id(files: dict[str, bytes]) -> str:
    """The content address of an evaluation (its JSON's sha256, 16 hex digits)."""
    return hashlib.sha256(files["evaluation.json"]).hexdigest()[:16]


def store_evaluation(store: PlanStore, version: str, files: dict[str, bytes]) -> str:
    """Store the files under the version; returns the key prefix (idempotent)."""
    full = store.resolve(version)
    prefix = f"versions/{full}/{EVALUATIONS}/{evaluation_id(files)}/"
    for rel, data in sorted(files.items()):
        store.backend.write_new(prefix + rel, data)
    return prefix


def stored_evaluations(store: PlanStore, version: str) -> list[str]:
    """Key prefixes of every evaluation stored for a version (sorted)."""
    full = store.resolve(version)
    base = f"versions/{full}/{EVALUATIONS}/"
    return sorted({base + k[len(base):].split("/", 1)[0] + "/"
                   for k in store.backend.list(base) if k.endswith("/evaluation.json")})


__all__ = ["EVALUATIONS", "evaluation_id", "store_evaluation", "stored_evaluations"]
