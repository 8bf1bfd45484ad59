"""``python -m airflow_cloudplan.spec``: regenerate or check the published JSON Schemas.

``--write-schemas DIR`` writes ``pipeline-spec.schema.json`` and ``plan.schema.json``;
``--check-schemas DIR`` exits 1 (naming the files) when the committed ones are stale.
"""

from __future__ import annotations

import argparse
import sys

from airflow_cloudplan.spec.schema import stale_schemas, write_schemas


def main(argv: list[str] | None = None) -> int:
    """Run the schema tool; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m airflow_cloudplan.spec")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schemas", metavar="DIR", help="write the JSON Schemas to DIR")
    group.add_argument("--check-schemas", metavar="DIR", help="fail if DIR's schemas are stale")
    args = parser.parse_args(argv)
    if args.write_schemas:
        for path in write_schemas(args.write_schemas):
            print(f"wrote {path}")
        return 0
    stale = stale_schemas(args.check_schemas)
    for name in stale:
        print(f"stale: {args.check_schemas}/{name} (run --write-schemas)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
