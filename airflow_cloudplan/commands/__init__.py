"""One module per ``cloudplan`` subcommand (see :mod:`airflow_cloudplan.cli`)."""
