"""Progress of a long command on stderr, from its first phase to its last.

Each phase starts a new line ``[  12.3 s] gates: stage 3/8 features: 2592 options``; its
steps follow (in place on a terminal). Frequent updates (every MILP solve, every poll of a
run) rewrite the line in place on a terminal; into a file or a pipe they are written at
most every ``log_every_s`` seconds, so logs stay short. The time spent
in each phase is kept, so a command can say where its time went.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from airflow_cloudplan.report.units import fmt_elapsed


class Progress:
    """Phase lines and in-place updates on a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 log_every_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.log_every_s = log_every_s
        self.started = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._phases: list[tuple[str, float]] = []
        self._open_line = False
        self._last_write = 0.0

    @property
    def elapsed_s(self) -> float:
        """Seconds since the command started."""
        return time.monotonic() - self.started

    def phase(self, name: str, detail: str = "") -> None:
        """Enter (or move on within) phase ``name``; always shown (steps are few)."""
        entering = not self._phases or self._phases[-1][0] != name
        if entering:
            self._phases.append((name, time.monotonic()))
        self._write(f"{name}: {detail}" if detail else name, new_line=entering or not self._tty)

    def update(self, text: str) -> None:
        """Show ``text`` in place of the current line (rate-limited off a terminal)."""
        if self._tty or time.monotonic() - self._last_write >= self.log_every_s:
            self._write(text, new_line=not self._tty)

    def _write(self, text: str, *, new_line: bool) -> None:
        if self.quiet:
            return
        line = f"[{fmt_elapsed(self.elapsed_s):>9}] {text}"
        if self._tty:
            prefix = "\n" if new_line and self._open_line else "\r"
            self.stream.write(f"{prefix}{line}\033[K")
            self._open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_write = time.monotonic()

    def timings(self) -> dict[str, float]:
        """Seconds spent in each phase so far (a phase entered twice adds up)."""
        out: dict[str, float] = {}
        now = time.monotonic()
        for i, (name, start) in enumerate(self._phases):
            end = self._phases[i + 1][1] if i + 1 < len(self._phases) else now
            out[name] = out.get(name, 0.0) + end - start
        return out

    def done(self) -> None:
        """End the in-place line (if any)."""
        if self._open_line and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
        self._open_line = False
