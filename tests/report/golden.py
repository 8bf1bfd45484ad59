"""Golden pictures under docs/img: compared in tests, rewritten with CLOUDPLAN_UPDATE_DOCS=1."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import REPO

DOCS_IMG = REPO / "docs" / "img"


def check_golden(name: str, rendered: str) -> Path:
    """Assert docs/img/<name> equals ``rendered`` (or rewrite it when asked to)."""
    path = DOCS_IMG / name
    if os.environ.get("CLOUDPLAN_UPDATE_DOCS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert path.is_file(), f"{path} is missing: run with CLOUDPLAN_UPDATE_DOCS=1"
    assert path.read_text() == rendered, (
        f"{path} differs from the rendering: review the change, then regenerate it with "
        "CLOUDPLAN_UPDATE_DOCS=1")
    return path
