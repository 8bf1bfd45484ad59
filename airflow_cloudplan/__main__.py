"""``python -m airflow_cloudplan`` runs the CLI."""

import sys

from airflow_cloudplan.cli import main

sys.exit(main())
