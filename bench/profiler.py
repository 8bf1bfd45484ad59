"""Profiler benchmark: 1M task instances on real PostgreSQL and SQLite metadata DBs.

Usage: ``python bench/profiler.py [--backend sqlite|postgresql|both] [--rows N] [--reuse]``

For each backend: create and migrate a metadata DB with ``airflow db migrate``, fill it
with ``bench/gen_metadb.py`` (unless ``--reuse``), then measure in fresh child processes
(so peak RSS is the profiler's own): a bare ``SELECT`` of the task-instance columns the
profiler reads (the baseline), the full profile (writing the incremental state), and an
incremental profile after 10,000 new task instances. Prints wall and CPU seconds (the
machine is shared: CPU time is the steadier figure), the ratio to the bare select, and
peak memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/cp_profiler_bench"
BARE = ("SELECT dag_id, task_id, run_id, map_index, state, start_date, end_date, queued_dttm "
        "FROM task_instance")


def child(mode: str, url: str, state_path: str) -> None:
    """Run one measurement in this (fresh) process and print it as JSON.

    Imports happen before the clock starts: the nightly DAG task pays them once anyway.
    """
    import sqlalchemy as sa

    from airflow_cloudplan.profile import ProfileState, profile_metadb

    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "bare":
        engine = sa.create_engine(url)
        n = 0
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=20_000) \
                .exec_driver_sql(BARE)
            for part in result.partitions():
                n += len(part)
        detail = f"{n} rows"
    else:
        state = ProfileState.load(Path(state_path))
        profiles = profile_metadb(url, state=state)
        state.save(Path(state_path))
        detail = f"{len(profiles.profiles)} stages, {sum(p.n_runs for p in profiles.profiles)} runs"
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "detail": detail}))


def measure(mode: str, url: str, state_path: str) -> dict[str, float | str]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, url, state_path],
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, float | str] = json.loads(out.strip().splitlines()[-1])
    return result


def bench(backend: str, rows: int, reuse: bool, workdir: Path) -> None:
    from bench import gen_metadb

    url = PG_URL if backend == "postgresql" else f"sqlite:///{workdir / 'cp_profiler_bench.db'}"
    if not reuse:
        t = time.perf_counter()
        gen_metadb.migrate(url)
        counts = gen_metadb.load(url, rows, 50, 7, append=False)
        print(f"[{backend}] generated {counts} in {time.perf_counter() - t:.0f}s")
    state = workdir / f"state-{backend}.json"
    state.unlink(missing_ok=True)
    bare = measure("bare", url, str(state))
    full = measure("profile", url, str(state))
    gen_metadb.load(url, 10_000, 50, 7, append=True)
    incr = measure("profile", url, str(state))
    print(f"\n[{backend}] {bare['detail']} task instances; profile: {full['detail']}")
    print(f"{'measurement':<34}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}")
    for name, m in (("bare SELECT (baseline)", bare), ("full profile", full),
                    ("incremental (+10k TIs)", incr)):
        print(f"{name:<34}{m['wall']:>9.2f}{m['cpu']:>9.2f}{m['rss_mb']:>9.0f}")
    print(f"ratio profile/bare: wall {float(full['wall']) / float(bare['wall']):.2f}x, "
          f"cpu {float(full['cpu']) / float(bare['cpu']):.2f}x  (target ≤ 1.5x; ≤ 10 s; "
          f"≤ 1 GB; incremental ≤ 1 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the DBs already filled")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "cp_profiler_bench"))
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "STATE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average at start: {load} (2 shared cores)")
    for backend in (["postgresql", "sqlite"] if args.backend == "both" else [args.backend]):
        bench(backend, args.rows, args.reuse, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
