"""The incremental profiler's side state: watermark plus per-stage sufficient statistics.

A nightly run loads the state, reads only dag runs that finished after the watermark,
folds their partial statistics in (:meth:`StageState.merge`), and saves the state again.
The file is plain JSON (``cloudplan profile --state FILE``); deleting it forces a full
re-read. It records which database it came from so a state is never merged into the
history of another deployment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from airflow_cloudplan.errors import Problem, ProfileError
from airflow_cloudplan.profile.sketch import StageState

STATE_FORMAT = 1


class ProfileState(BaseModel):
    """Everything needed to continue profiling where the last run stopped."""

    format: int = STATE_FORMAT
    database: str = Field(default="", description="the source URL without its password")
    watermark: float | None = Field(
        default=None, description="largest dag_run.end_date folded in (epoch seconds)"
    )
    since: float | None = Field(default=None, description="oldest end_date considered")
    stages: list[StageState] = Field(default_factory=list)

    def by_key(self) -> dict[tuple[str, str], StageState]:
        """Stage states by (dag_id, task_id)."""
        return {s.key: s for s in self.stages}

    @classmethod
    def load(cls, path: Path) -> ProfileState:
        """Read a state file (a missing file is an empty state: the first, full run)."""
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise ProfileError("profiler state file is unreadable", [Problem(
                str(exc).splitlines()[0], file=str(path),
                hint="delete it to re-profile the full history")]) from exc

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a state."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.model_dump(mode="json"), handle, separators=(",", ":"))
        Path(tmp).replace(path)
