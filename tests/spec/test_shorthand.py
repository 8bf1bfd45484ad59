"""Sizes with units and arrow edges expand to the plain model, with errors still located."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_cloudplan.errors import SpecError
from airflow_cloudplan.spec import parse_spec
from airflow_cloudplan.spec.shorthand import parse_size_gb

HEAD = """\
name: short
stages:
  - {name: a, kind: ingest}
  - {name: b, kind: transform}
  - {name: c, kind: train}
"""


@pytest.mark.parametrize(("text", "gb"), [
    ("20GB", 20.0), ("20 gb", 20.0), ("500MB", 0.5), ("1.5TB", 1500.0), ("2PB", 2e6),
    ("1GiB", 1.073741824), ("1KiB", 1.024e-6), (".5GB", 0.5), ("7B", 7e-9),
])
def test_sizes_with_units(text: str, gb: float) -> None:
    assert parse_size_gb(text) == pytest.approx(gb)


@pytest.mark.parametrize("text", ["20", "GB", "20 parsecs", "-5GB", "1e3GB", "20GBs", ""])
def test_not_sizes(text: str) -> None:
    assert parse_size_gb(text) is None


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["MB", "GB", "TB"]))
def test_size_units_scale_by_powers_of_1000(n: int, unit: str) -> None:
    factor = {"MB": 1e-3, "GB": 1.0, "TB": 1e3}[unit]
    assert parse_size_gb(f"{n}{unit}") == pytest.approx(n * factor)


def test_all_edge_forms_expand_to_the_same_model() -> None:
    forms = [
        'edges: ["a -> b -> c"]\n',
        "edges:\n  - a -> b\n  - {src: b, dst: c}\n",
        "edges:\n  - a -> b: 0\n  - {src: b, dst: c, gb_per_run: 0}\n",
    ]
    edges = {tuple((e.src, e.dst, e.gb_per_run) for e in parse_spec(HEAD + f, "s.yaml")
                   .pipeline.edges) for f in forms}
    assert edges == {(("a", "b", 0.0), ("b", "c", 0.0))}


def test_edge_sizes_with_units() -> None:
    spec = parse_spec(HEAD + "edges:\n  - a -> b -> c: 1.5TB\n  - {src: a, dst: c, "
                      "gb_per_run: 300MB}\n", "s.yaml")
    assert [(e.src, e.dst, e.gb_per_run) for e in spec.pipeline.edges] == [
        ("a", "b", 1500.0), ("b", "c", 1500.0), ("a", "c", pytest.approx(0.3))]


def test_errors_after_a_chain_point_at_the_written_edge() -> None:
    """A chain expands to several edges; a later edge's error keeps its written index."""
    text = HEAD + 'edges:\n  - "a -> b -> c"\n  - {src: c, dst: d, gb_per_run: 5XB}\n'
    with pytest.raises(SpecError) as err:
        parse_spec(text, "s.yaml")
    rendered = [p.render() for p in err.value.problems]
    assert "s.yaml:8: edges[1].gb_per_run: not a size: '5XB'." in rendered[0]
    assert any(r.startswith("s.yaml:8: edges[1].dst: unknown stage 'd'") for r in rendered)


def test_size_and_size_gb_together_are_refused() -> None:
    text = HEAD + "datasets:\n  - {name: x, uri: s3://b/x/, size: 1GB, size_gb: 1,\n" \
                  "     home_region: us-east-1}\n"
    with pytest.raises(SpecError) as err:
        parse_spec(text, "s.yaml")
    assert err.value.problems[0].render().startswith(
        "s.yaml:7: datasets[0].size: both 'size' and 'size_gb' are given.")


def test_yaml_merge_keys_are_not_duplicate_keys() -> None:
    text = ("name: merged\nstages:\n  - &base {name: a, kind: ingest, owner: team}\n"
            "  - {<<: *base, name: b}\n")
    spec = parse_spec(text, "s.yaml")
    assert [(s.name, s.owner) for s in spec.pipeline.stages] == [("a", "team"), ("b", "team")]


def test_a_small_spec_is_small() -> None:
    """Defaults keep a three-stage spec to a handful of lines."""
    spec = parse_spec(HEAD + 'edges: ["a -> b -> c"]\n', "s.yaml")
    assert len(spec.pipeline.stages) == 3 and spec.policy.governance.classes
