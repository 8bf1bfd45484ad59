"""The smallest policy change that would admit an option for a stage with none left.

For every rejected option the set of *policy knobs* it violates is known (each violation
names the policy/spec field it broke). The smallest relaxation is the knob set of fewest
knobs that admits at least one option; ties go to the set admitting more options, then to
the lexicographically first (deterministic). It is rendered for people, e.g.::

    policy.governance.classes[3].allowed_regions: allow 'us-east-1' (now eu-west-1,...)
    — would admit 4 option(s), e.g. us-east-1/us-east-1a/...
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_cloudplan.model.plan import StageOption, Violation


def _knob(v: Violation) -> tuple[str, str]:
    return (v.rule_id, v.field or v.rule_id)


def smallest_relaxation(
    rejected: Sequence[tuple[StageOption, Sequence[Violation]]],
) -> str | None:
    """Describe the smallest change that admits one of ``rejected`` (None if none given)."""
    if not rejected:
        return None
    knob_sets = [frozenset(_knob(v) for v in vs) for _, vs in rejected]
    candidates = sorted(set(knob_sets), key=lambda s: (len(s), sorted(s)))
    best: frozenset[tuple[str, str]] | None = None
    best_count = -1
    for ks in candidates:
        if best is not None and len(ks) > len(best):
            break
        count = sum(1 for other in knob_sets if other <= ks)
        if count > best_count:
            best, best_count = ks, count
    assert best is not None
    example_idx = next(i for i, s in enumerate(knob_sets) if s <= best)
    example, violations = rejected[example_idx]
    parts: list[str] = []
    for v in sorted(violations, key=_knob):
        if _knob(v) not in best:
            continue
        text = f"{v.field or v.rule_id}: allow {v.measured!s} (now {v.allowed!s}) [{v.rule_id}]"
        if text not in parts:
            parts.append(text)
    return f"{'; '.join(parts)} — would admit {best_count} option(s), e.g. {example.id}"
