"""``cloudplan evaluate SPEC ASSIGNMENT.json [--json] [--profiles FILE]``: score any plan.

ASSIGNMENT maps every stage to an option, either as the option's id string
(``region/zone/tier/instance_type[/spot]/rMIN-MAX/scaling/access/isolation``, as printed by
``cloudplan plan``) or as an object with the option's fields; a document with an
``assignment`` key (a frontier point from ``plan.json``) is accepted too. The plan is
scored with the optimizer's own models — (C, L, R), per-stage breakdown — and checked
against every constraint: the gates (governance, observability, SLO, user rules), the
end-to-end deadline and the monthly budget. Exit 0 when feasible, 1 when a constraint is
violated, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from airflow_cloudplan.errors import Problem, SpecError


def register(subparsers: Any) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a given assignment (stage -> option) with the planner's models",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("spec", metavar="SPEC", help="pipeline spec YAML file")
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="JSON file: stage -> option")
    parser.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    parser.add_argument("--profiles", metavar="FILE", help="measured profiles (JSON ProfileSet)")
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        default=None,
        help="catalog file (from 'cloudplan catalog refresh'); default: the bundled snapshot",
    )
    parser.set_defaults(run=run)


def _bad(path: str, where: str, message: str, hint: str) -> SpecError:
    return SpecError(
        f"{path}: invalid assignment", [Problem(message, file=path, path=where, hint=hint)]
    )


def parse_option_id(stage: str, text: str, path: str) -> dict[str, Any]:
    """The fields of a ``StageOption`` from its id string."""
    parts = text.split("/")
    spot = len(parts) == 9 and parts[4] == "spot"
    if spot:
        parts = parts[:4] + parts[5:]
    hint = "write region/zone/tier/instance_type[/spot]/rMIN-MAX/scaling/access/isolation"
    if len(parts) != 8 or not parts[4].startswith("r") or "-" not in parts[4]:
        raise _bad(path, stage, f"cannot read option id {text!r}", hint)
    lo, _, hi = parts[4][1:].partition("-")
    if not (lo.isdigit() and hi.isdigit()):
        raise _bad(path, stage, f"bad replica bounds {parts[4]!r} in {text!r}", hint)
    return {
        "stage": stage,
        "region": parts[0],
        "zone": parts[1],
        "tier": parts[2],
        "instance_type": parts[3],
        "spot": spot,
        "replicas_min": int(lo),
        "replicas_max": int(hi),
        "scaling": parts[5],
        "access": parts[6],
        "isolation": parts[7],
    }


def load_assignment(path: str, inp: Any) -> dict[str, Any]:
    """Read ASSIGNMENT and validate every option against the model and the catalog."""
    from pydantic import ValidationError

    from airflow_cloudplan.errors import did_you_mean
    from airflow_cloudplan.model import StageOption

    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise _bad(path, "", "no such file", "check the path") from None
    except json.JSONDecodeError as exc:
        raise _bad(path, f"line {exc.lineno}", f"not JSON: {exc.msg}", "fix the JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("assignment"), dict):
        doc = doc["assignment"]
    if not isinstance(doc, dict):
        raise _bad(path, "", "expected a JSON object stage -> option", "wrap it in {...}")
    stages = inp.pipeline.stage_by_name
    cat = inp.catalog
    problems: list[Problem] = []
    out: dict[str, StageOption] = {}
    for stage, raw in doc.items():
        if stage not in stages:
            hint = did_you_mean(stage, list(stages)) or "use a stage name of the spec"
            problems.append(Problem(f"unknown stage {stage!r}", file=path, path=stage, hint=hint))
            continue
        try:
            fields = parse_option_id(stage, raw, path) if isinstance(raw, str) else dict(raw)
            fields.pop("id", None)
            fields.setdefault("stage", stage)
            option = StageOption.model_validate(fields)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        except (ValidationError, TypeError, ValueError) as exc:
            problems.append(
                Problem(
                    f"invalid option: {exc}",
                    file=path,
                    path=stage,
                    hint="give the option's id string or its fields",
                )
            )
            continue
        for what, value, known in (
            ("region", option.region, [r.id for r in cat.regions]),
            ("tier", option.tier, [t.id for t in cat.tiers]),
            ("instance_type", option.instance_type, [t.name for t in cat.instance_types]),
        ):
            if value not in known:
                hint = did_you_mean(value, known) or f"one of the catalog's {what}s"
                problems.append(
                    Problem(
                        f"unknown {what} {value!r}", file=path, path=f"{stage}.{what}", hint=hint
                    )
                )
        out[stage] = option
    for stage in stages:
        if stage not in doc:
            problems.append(
                Problem(
                    f"no option for stage {stage!r}",
                    file=path,
                    path=stage,
                    hint="assign an option to every stage",
                )
            )
    if problems:
        raise SpecError(f"{path}: invalid assignment", problems)
    return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def evaluate(inp: Any, assignment: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Score the plan and check every constraint; a JSON-able report."""
    from airflow_cloudplan.gates import check_plan
    from airflow_cloudplan.optimize.scoring import evaluate_assignment

    plan = evaluate_assignment(inp, assignment)
    obj = plan.objectives
    constraints: list[dict[str, Any]] = []
    deadline = inp.pipeline.deadline_minutes
    if deadline is not None:
        bound = deadline * 60_000.0
        constraints.append(
            {
                "constraint": "deadline",
                "value": _finite(obj.latency_ms),
                "bound": bound,
                "ok": obj.latency_ms <= bound,
            }
        )
    budget = inp.pipeline.budget_usd_per_month
    if budget is not None:
        constraints.append(
            {
                "constraint": "budget",
                "value": obj.cost_usd_month,
                "bound": budget,
                "ok": obj.cost_usd_month <= budget,
            }
        )
    for s in plan.stages:
        if not math.isfinite(s.latency_ms):
            constraints.append(
                {
                    "constraint": f"capacity:{s.stage}",
                    "value": None,
                    "bound": None,
                    "ok": False,
                    "message": "peak load exceeds the option's capacity",
                }
            )
    violations = check_plan(inp, assignment, base_dir=base_dir)
    feasible = not violations and all(c["ok"] for c in constraints)
    return {
        "pipeline": inp.pipeline.name,
        "feasible": feasible,
        "objectives": {
            "cost_usd_month": obj.cost_usd_month,
            "latency_ms": _finite(obj.latency_ms),
            "risk": obj.risk,
        },
        "egress_usd_month": plan.egress_usd_month,
        "stages": [
            {
                "stage": s.stage,
                "option": s.option.id,
                "cost": s.cost.model_dump(mode="json"),
                "latency_ms": _finite(s.latency_ms),
                "exposure": s.exposure,
                "blast_radius": s.blast_radius,
                "risk": s.risk,
                "detail": {k: _finite(v) for k, v in s.detail.items()},
            }
            for s in plan.stages
        ],
        "constraints": constraints,
        "violations": [v.model_dump(mode="json") for v in violations],
    }


_DATA_COSTS = (
    ("write_egress_usd", "write egress"), ("read_egress_usd", "read egress"),
    ("sync_egress_usd", "copy sync egress"), ("copy_storage_usd", "copy storage"),
    ("request_usd", "requests"),
)


def _constraint_value(name: str, value: float | None) -> str:
    from airflow_cloudplan.report.units import fmt_cost, fmt_latency

    if value is None:
        return "-"
    if name == "deadline":
        return fmt_latency(value)
    if name == "budget":
        return f"{fmt_cost(value)}/month"
    return f"{value:,.4g}"


def _render(report: dict[str, Any]) -> str:
    from airflow_cloudplan.report.units import fmt_cost, fmt_latency, fmt_risk, latency_unit

    o = report["objectives"]
    lines = [
        f"pipeline {report['pipeline']}: C = {fmt_cost(o['cost_usd_month'])}/month, "
        f"L = {fmt_latency(o['latency_ms'])}, R = {fmt_risk(o['risk'])}",
        f"{'stage':<16} {'cost / month':>12} {'latency':>10} {'exposure':>8} {'radius':>7} "
        f"{'risk':>7}  option",
    ]
    finite = [s["latency_ms"] for s in report["stages"] if s["latency_ms"] is not None]
    unit = latency_unit(max(finite, default=0.0))
    for s in report["stages"]:
        lines.append(
            f"{s['stage']:<16} {fmt_cost(s['cost']['total_usd']):>12} "
            f"{fmt_latency(s['latency_ms'], unit):>10} {s['exposure']:>8.1f} "
            f"{s['blast_radius']:>7.1f} {fmt_risk(s['risk']):>7}  {s['option']}"
        )
        data = [(label, s["detail"].get(key) or 0.0) for key, label in _DATA_COSTS]
        if any(v > 0 for _, v in data):
            lines.append("    data: " + ", ".join(
                f"{label} {fmt_cost(v)}" for label, v in data if v > 0) + " per month")
    lines.append(f"edge egress: {fmt_cost(report['egress_usd_month'])}/month")
    for c in report["constraints"]:
        state = "ok" if c["ok"] else "VIOLATED"
        name = c["constraint"]
        lines.append(f"  {name}: {state} ({_constraint_value(name, c['value'])}, bound "
                     f"{_constraint_value(name, c['bound'])})"
                     + (f" — {c['message']}" if c.get("message") else ""))
    for v in report["violations"]:
        where = f" [{v['stage']}]" if v.get("stage") else ""
        lines.append(f"  {v['gate']}:{v['rule_id']}{where}: VIOLATED — {v['message']}")
    lines.append("feasible" if report["feasible"] else "NOT feasible")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load spec, catalog, profiles and assignment; print the evaluation."""
    from airflow_cloudplan.commands._inputs import load_inputs

    _sha, inp = load_inputs(args.spec, catalog_path=args.catalog, profiles_path=args.profiles)
    assignment = load_assignment(args.assignment, inp)
    report = evaluate(inp, assignment, Path(args.spec).parent)
    print(json.dumps(report, indent=2) if args.json else _render(report))
    return 0 if report["feasible"] else 1
