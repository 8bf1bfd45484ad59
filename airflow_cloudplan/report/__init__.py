"""Pictures of plans for people: the Pareto frontier and plan diffs as hand-written SVG.

Pure (no Airflow, no plotting library): used by the Airflow review page, the docs and the
CLI alike, and deterministic so the committed pictures double as golden files.
"""

from airflow_cloudplan.report.diff_svg import diff_svg
from airflow_cloudplan.report.frontier_svg import frontier_svg

__all__ = ["diff_svg", "frontier_svg"]
