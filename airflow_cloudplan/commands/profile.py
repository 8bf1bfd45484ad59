"""``cloudplan profile``: measure stage profiles from run history and write them as JSON.

Exactly one source: ``--db URL`` (the metadata DB over read-only SQL; ``--state FILE``
makes nightly runs incremental), ``--rest URL`` with ``--token`` (or ``--user`` and
``--password``) for the REST fallback, or ``--trace FILE`` for a CSV/JSONL trace.
Progress goes to stderr; the profiles go to ``--out`` (or stdout).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, ProfileError

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(subparsers: Any) -> None:
    """Wire ``profile`` into the CLI."""
    p = subparsers.add_parser("profile", help="measure stage profiles from run history")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", metavar="URL", help="metadata DB URL (sqlite:///… or postgresql…)")
    src.add_argument("--rest", metavar="URL", help="Airflow API server root URL")
    src.add_argument("--trace", metavar="FILE", help="CSV or JSONL trace file")
    p.add_argument("--since", metavar="SPAN", help="only history newer than e.g. 30d, 12h, or "
                   "an ISO date")
    p.add_argument("--dag", action="append", dest="dag_ids", metavar="ID",
                   help="only this DAG (repeatable)")
    p.add_argument("--out", metavar="FILE", help="write profiles JSON here (default: stdout)")
    p.add_argument("--state", metavar="FILE", help="incremental state file (--db only)")
    p.add_argument("--token", help="JWT for --rest (from POST /auth/token)")
    p.add_argument("--user", help="username for --rest (exchanged for a token)")
    p.add_argument("--password", help="password for --rest")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run)


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``/``12h``/``90m``/``2w`` back from now, or an ISO 8601 date/time (UTC if naive)."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    match = _SPAN.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ProfileError("cannot read --since", [Problem(
            f"{text!r} is neither a span nor a date", path="--since",
            hint="use e.g. 30d, 12h, 2w or 2024-06-01")]) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    """Profile the chosen source and write the ProfileSet."""
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr)

    since = parse_since(args.since)
    if args.state and not args.db:
        raise ProfileError("--state needs --db", [Problem(
            "incremental state is kept for metadata-DB reads only", path="--state",
            hint="drop --state, or profile with --db")])
    if args.db:
        from airflow_cloudplan.profile.metadb import profile_metadb
        from airflow_cloudplan.profile.state import ProfileState

        state = ProfileState.load(Path(args.state)) if args.state else None
        profiles = profile_metadb(args.db, since=since, dag_ids=args.dag_ids,
                                  progress=progress, state=state)
        if state is not None:
            state.save(Path(args.state))
            progress(f"state saved to {args.state}")
    elif args.rest:
        from airflow_cloudplan.profile.rest import profile_rest

        profiles = profile_rest(args.rest, args.token, username=args.user,
                                password=args.password, since=since, dag_ids=args.dag_ids,
                                progress=progress)
    else:
        from airflow_cloudplan.profile.trace import profile_trace

        profiles = profile_trace(args.trace)
    text = profiles.model_dump_json(indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        progress(f"{len(profiles.profiles)} profiles written to {args.out}")
    else:
        print(text)
    return 0
