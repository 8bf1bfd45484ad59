"""An example production ML pipeline built from cloudplan's stage operators.

ingest → transform → features → train → validate → batch_inference → serve → monitor, on
scikit-learn's bundled breast-cancer dataset (569 rows, 30 features; installed with the
package, no download). Every stage reads and writes its data through the stage's
data-access layer — audited, measured and placed by the active plan — so the run leaves
audit records, stage metrics (XCom ``cloudplan_stage_metrics``) and one span per stage.
It matches ``docs/examples/ml_pipeline.yaml`` (stage and dataset names).

Data root: the ``data_root`` DAG param (trigger with ``{"data_root": "s3://bucket/ml"}``
to run on S3 with the ``aws_default`` connection); its default comes from
``CLOUDPLAN_DATA_ROOT``, else ``[cloudplan] data_root``, else
``$AIRFLOW_HOME/cloudplan/data``. Heavy libraries (pandas, scikit-learn, Great
Expectations) are imported inside the stage functions only: parsing this file imports
nothing but Airflow's SDK and the operators.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param
from airflow.sdk.configuration import conf

from airflow_cloudplan.airflow.operators import (
    BatchInferenceOperator,
    FeaturesOperator,
    IngestOperator,
    MonitorOperator,
    ServeOperator,
    TrainOperator,
    TransformOperator,
    ValidateOperator,
)

PIPELINE = "example_ml_pipeline"
SENSITIVITY = {
    "raw_events": "confidential",
    "clean_events": "confidential",
    "features": "internal",
    "model": "internal",
    "predictions": "confidential",
    "monitoring_report": "internal",
}
FEATURES = ("mean_radius", "mean_texture", "mean_smoothness", "worst_area", "worst_concavity")


def default_data_root() -> str:
    """Where the example writes when no ``data_root`` param is given (no I/O here)."""
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return (
        os.environ.get("CLOUDPLAN_DATA_ROOT")
        or conf.get("cloudplan", "data_root", fallback=None)
        or os.path.join(home, "cloudplan", "data")
    )


def datasets(*names: str) -> list[dict[str, str]]:
    """Declarations for the named datasets under the run's data root (templated)."""
    return [
        {"name": n, "uri": "{{ params.data_root }}/" + n, "sensitivity": SENSITIVITY[n]}
        for n in names
    ]


# -- stage work (each receives a StageContext) -----------------------------------------
def ingest(ctx: Any) -> dict[str, int]:
    """Land the day's raw events: the dataset as an event stream, with real-world mess."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame = frame.rename(columns={"target": "label"})
    frame.insert(0, "event_id", [f"evt-{i:05d}" for i in range(len(frame))])
    # Upstream systems resend some events and drop some fields: 7 duplicates, 4 gaps.
    frame = pd.concat([frame, frame.iloc[:7]], ignore_index=True)
    frame.loc[[11, 42, 99, 300], "mean_texture"] = None
    ctx.data.write_frame("raw_events", "events.csv", frame)
    return {"rows": len(frame)}


def transform(ctx: Any) -> dict[str, int]:
    """Deduplicate events and fill gaps with the column median."""
    raw = ctx.data.read_frame("raw_events", key="events.csv")
    clean = raw.drop_duplicates(subset="event_id").reset_index(drop=True)
    numeric = clean.columns.drop(["event_id", "label"])
    clean[numeric] = clean[numeric].fillna(clean[numeric].median())
    ctx.data.write_frame("clean_events", "data.csv", clean)
    return {"rows_in": len(raw), "rows_out": len(clean)}


def features(ctx: Any) -> dict[str, int]:
    """Standardise with training-split statistics; a stable hash assigns the split."""
    import zlib

    clean = ctx.data.read_frame("clean_events")
    split = [
        "train" if zlib.crc32(e.encode()) % 10 < 7 else "score" for e in clean["event_id"]
    ]
    clean["split"] = split
    train = clean[clean["split"] == "train"]
    numeric = [c for c in clean.columns if c not in ("event_id", "label", "split")]
    mean, std = train[numeric].mean(), train[numeric].std().replace(0, 1)
    clean[numeric] = (clean[numeric] - mean) / std
    ctx.data.write_frame("features", "data.csv", clean)
    ctx.data.write_json("features", "scaler.json", {"mean": mean.to_dict(), "std": std.to_dict()})
    return {"train": int((clean["split"] == "train").sum()), "score": len(clean) - len(train)}


def _feature_columns(frame: Any) -> list[str]:
    return [c for c in frame.columns if c not in ("event_id", "label", "split")]


def train(ctx: Any) -> dict[str, Any]:
    """Fit a logistic regression; hold out 20 % of the training split for its metrics."""
    import hashlib
    import pickle

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    frame = ctx.data.read_frame("features")
    rows = frame[frame["split"] == "train"]
    cols = _feature_columns(rows)
    x_fit, x_hold, y_fit, y_hold = train_test_split(
        rows[cols].to_numpy(), rows["label"].to_numpy(),
        test_size=0.2, random_state=7, stratify=rows["label"],
    )
    model = LogisticRegression(max_iter=2000).fit(x_fit, y_fit)
    proba = model.predict_proba(x_hold)[:, 1]
    metrics = {
        "accuracy": float(accuracy_score(y_hold, proba >= 0.5)),
        "f1": float(f1_score(y_hold, proba >= 0.5)),
        "roc_auc": float(roc_auc_score(y_hold, proba)),
        "rows": len(rows),
    }
    blob = pickle.dumps({"model": model, "features": cols})
    version = hashlib.sha256(blob).hexdigest()[:12]
    ctx.data.write_bytes("model", "model.pkl", blob)
    ctx.data.write_json("model", "metrics.json", {**metrics, "version": version})
    for name, value in metrics.items():
        ctx.metrics.record(name, value)
    return {"version": version, **metrics}


def _load_model(ctx: Any) -> tuple[Any, list[str], str]:
    import hashlib
    import pickle

    blob = ctx.data.read_bytes("model", "model.pkl")
    bundle = pickle.loads(blob)  # our own artefact, written by `train`
    return bundle["model"], bundle["features"], hashlib.sha256(blob).hexdigest()[:12]


def batch_inference(ctx: Any) -> dict[str, int]:
    """Score every event; keep the inputs the monitor checks for drift."""
    model, cols, version = _load_model(ctx)
    frame = ctx.data.read_frame("features")
    out = frame[["event_id", "split", "label", *FEATURES]].copy()
    out["score"] = model.predict_proba(frame[cols].to_numpy())[:, 1]
    out["prediction"] = (out["score"] >= 0.5).astype(int)
    out["model_version"] = version
    ctx.data.write_frame("predictions", "data.csv", out)
    return {"scored": len(out)}


def serve(ctx: Any) -> dict[str, Any]:
    """Bring the model up behind a real HTTP endpoint and probe it like a client would."""
    import json
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    model, cols, version = _load_model(ctx)
    probes = ctx.data.read_frame("features").head(50)

    class Predict(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            row = [[float(body[c]) for c in cols]]
            score = float(model.predict_proba(row)[0, 1])
            payload = json.dumps({"score": score, "model_version": version}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Predict)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/predict"
    try:
        for _, row in probes.iterrows():
            req = urllib.request.Request(
                url, data=json.dumps({c: row[c] for c in cols}).encode(),
                headers={"Content-Type": "application/json",
                         "X-Request-Id": f"{ctx.request_id}-{row['event_id']}"},
            )
            with ctx.metrics.request() as status, urllib.request.urlopen(req, timeout=5) as r:
                status["code"] = str(r.status)
                json.loads(r.read())
    finally:
        server.shutdown()
        server.server_close()
    return {"model_version": version, "requests": len(probes),
            "p95_ms": ctx.metrics.p95_request_ms()}


def monitor(ctx: Any) -> dict[str, Any]:
    """Drift (PSI of inputs and scores, scored vs training population) and quality."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from airflow_cloudplan.runtime.drift import population_stability_index

    preds = ctx.data.read_frame("predictions")
    ref, cur = preds[preds["split"] == "train"], preds[preds["split"] == "score"]
    psi = {c: population_stability_index(ref[c], cur[c]) for c in (*FEATURES, "score")}
    report = {
        "psi": psi,
        "psi_max": max(psi.values()),
        "accuracy": float(accuracy_score(cur["label"], cur["prediction"])),
        "roc_auc": float(roc_auc_score(cur["label"], cur["score"])),
        "positive_rate": float(cur["prediction"].mean()),
        "rows": len(cur),
        "model_version": str(preds["model_version"].iloc[0]),
    }
    ctx.data.write_json("monitoring_report", "report.json", report)
    for name in ("psi_max", "accuracy", "roc_auc"):
        ctx.metrics.record(name, report[name])
    return report


EXPECTATIONS = [
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 500}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label"}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "label", "value_set": [0, 1]}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "event_id"}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "split", "value_set": ["train", "score"]}},
    *(
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": c, "min_value": -10, "max_value": 10}}
        for c in FEATURES
    ),
]

with DAG(
    dag_id="example_ml_pipeline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["cloudplan", "example"],
    params={"data_root": Param(default_data_root(), type="string",
                               description="local path, file:// or s3:// root of the data")},
    doc_md=__doc__,
) as dag:
    common: dict[str, Any] = {"pipeline": PIPELINE}
    t_ingest = IngestOperator(task_id="ingest", python_callable=ingest,
                              writes=datasets("raw_events"), slo={"deadline_minutes": 30},
                              **common)
    t_transform = TransformOperator(task_id="transform", python_callable=transform,
                                    reads=datasets("raw_events"),
                                    writes=datasets("clean_events"),
                                    slo={"deadline_minutes": 60}, **common)
    t_features = FeaturesOperator(task_id="features", python_callable=features,
                                  reads=datasets("clean_events"), writes=datasets("features"),
                                  **common)
    t_train = TrainOperator(task_id="train", python_callable=train,
                            reads=datasets("features"), writes=datasets("model"),
                            slo={"deadline_minutes": 150}, **common)
    t_validate = ValidateOperator(task_id="validate", reads=datasets("model", "features"),
                                  dataset="features", expectations=EXPECTATIONS,
                                  model_metrics=("model", "metrics.json"),
                                  min_metrics={"accuracy": 0.9, "roc_auc": 0.95}, **common)
    t_batch = BatchInferenceOperator(task_id="batch_inference", python_callable=batch_inference,
                                     reads=datasets("model", "features"),
                                     writes=datasets("predictions"),
                                     slo={"deadline_minutes": 45}, **common)
    t_serve = ServeOperator(task_id="serve", python_callable=serve,
                            reads=datasets("model", "features"),
                            slo={"p95_ms": 150, "availability": 0.999},
                            criticality="critical", enforce_slo=True, **common)
    t_monitor = MonitorOperator(task_id="monitor", python_callable=monitor,
                                reads=datasets("predictions"),
                                writes=datasets("monitoring_report"),
                                criticality="best_effort", max_metrics={"psi_max": 0.25},
                                min_metrics={"accuracy": 0.85}, **common)

    t_ingest >> t_transform >> t_features >> t_train >> t_validate >> t_batch >> t_serve
    t_batch >> t_monitor
    t_serve >> t_monitor
