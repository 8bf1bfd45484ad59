"""What a stage run does at execution time, without Airflow.

The stage operators in :mod:`airflow_cloudplan.airflow.operators` are thin: they turn the
Airflow context into the plain objects here and call :func:`run_stage`. Everything a run
does — honour the plan's data-access strategy, refuse undeclared datasets, append audit
records, measure I/O and resources, emit OpenTelemetry spans and metrics — lives in this
package, so it is testable without a scheduler and usable from any runner.

Nothing here imports anything heavy at module level (boto3, pandas, the OTel SDK and
Great Expectations are imported inside the functions that need them).
"""
