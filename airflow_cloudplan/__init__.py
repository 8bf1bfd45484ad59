"""airflow_cloudplan: plan, gate and instrument cloud deployments of Airflow pipelines.

Importing this package is cheap: subpackages are imported on demand.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airflow-cloudplan")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
