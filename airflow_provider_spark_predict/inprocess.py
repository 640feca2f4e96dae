"""``engine="local"``: score a small partition inside the Airflow task, without Spark or a JVM.

For inputs that fit comfortably in the worker's memory (thousands to a few million rows), a Spark job
costs more in start-up (a JVM, an application, a metastore connection: ~15-30 s) than the scoring
itself. This engine reads the input partition with pyarrow, scores it with the same model flavors (a
Spark ML ``PipelineModel`` through the JVM-free :mod:`airflow_provider_spark_predict.local` scorer),
computes the same checks and report, and publishes the output partition folder the same way the job
does (a version folder, renamed into place only when no ``fail`` check failed). It reads ``input_path``
and writes ``output_path`` only: Hive tables need a metastore, so they need Spark.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from airflow_provider_spark_predict.checks.evaluate import evaluate_checks, failed_checks
from airflow_provider_spark_predict.checks.psi import psi
from airflow_provider_spark_predict.exceptions import InputError, SpecError
from airflow_provider_spark_predict.report import CHECKED_MARKER, report_folder
from airflow_provider_spark_predict.spec import ScoringSpec

VERSIONS_DIR = "_spark_predict"


def _part(partition: dict[str, str]) -> str:
    return "/".join(f"{k}={v}" for k, v in partition.items())


def _read_partition(fs: Any, root: str, partition: dict[str, str], fmt: str) -> Any:
    import pyarrow.dataset as ds

    path = f"{root.rstrip('/')}/{_part(partition)}" if partition else root
    if not fs.exists(path):
        return None
    return ds.dataset(path, format=fmt, filesystem=fs).to_table().to_pandas()


def _score(spec: ScoringSpec, pdf: Any, model_path: str) -> tuple[Any, list[Any] | None, dict[str, Any]]:
    """Return (output frame of keys + outputs, classes, model facts)."""
    import numpy as np
    import pandas as pd

    from airflow_provider_spark_predict.job.scoring import OutputPlan, to_matrix
    from airflow_provider_spark_predict.models.base import Prediction, detect_flavor, load_model

    flavor = spec.model.flavor if spec.model.flavor != "auto" else detect_flavor(model_path)
    out = pdf[spec.keys].reset_index(drop=True).copy()
    if flavor == "spark_pipeline":
        from airflow_provider_spark_predict.local import load_pipeline

        model = load_pipeline(model_path)
        missing = [c for c in model.input_columns if c not in pdf.columns]
        if missing:
            raise InputError(f"input {spec.input.describe()} is missing column(s) {missing}")
        scored = model.transform(pdf.reset_index(drop=True))
        predictors = [s for s in model.stages if hasattr(s, "pred_col")]
        if not predictors:
            raise SpecError(f"pipeline {model_path} has no predictor stage")
        last = predictors[-1]
        prob_col = getattr(last, "prob_col", "")
        classes = None
        if prob_col:
            probs = np.stack(scored[prob_col].to_numpy())
            classes = list(range(probs.shape[1]))
            pred = Prediction(probabilities=probs)
        else:
            pred_col: str = last.pred_col  # type: ignore[attr-defined]
            pred = Prediction(values=scored[pred_col].to_numpy(dtype=np.float64))
        keys = scored[spec.keys].reset_index(drop=True)
        out = keys.copy()
        # Spark's own prediction column (it applies ``thresholds``), not a plain argmax
        spark_prediction = scored[last.pred_col].to_numpy()  # type: ignore[attr-defined]
        facts = {"flavor": flavor, "n_features": len(model.input_columns), "classes": classes}
    else:
        adapter = load_model(model_path, flavor)
        features = spec.features or adapter.feature_names or []
        missing = [c for c in spec.keys + features if c not in pdf.columns]
        if missing:
            raise InputError(f"input {spec.input.describe()} is missing column(s) {missing}")
        cols = []
        for f in features:
            col = pd.to_numeric(pdf[f], errors="coerce")
            bad = int((col.isna() & pdf[f].notna()).sum())
            if bad and spec.on_invalid == "fail":
                raise InputError(f"input {spec.input.describe()}: feature column {f} holds {bad} non-numbers")
            cols.append(col.to_numpy(dtype=np.float64))
        pred = adapter.predict(to_matrix(cols, len(pdf), np.float64, spec.fill_value))
        classes = adapter.classes
        facts = {"flavor": flavor, "n_features": len(features), "classes": classes,
                 "library": adapter.library_version}
    plan = OutputPlan(spec.outputs, classes)
    for name, (values, mask) in plan.columns(pred).items():
        column = list(values) if values.ndim == 2 else values
        out[name] = pd.Series(column, dtype=object).where(~mask, None) if mask is not None else column
    if flavor == "spark_pipeline" and classes is not None:
        o = spec.outputs
        out[o.prediction_column] = spark_prediction.astype(np.int32)
        if o.label_column:
            out[o.label_column] = [(o.label_mapping or {}).get(str(int(c))) for c in spark_prediction]
    return out, classes, facts


def _stats(out: Any, spec: ScoringSpec, classifier: bool) -> dict[str, Any]:
    import numpy as np

    pred = out[spec.outputs.prediction_column]
    nulls = int(pred.isna().sum())
    facts: dict[str, Any] = {
        "rows_out": len(out),
        "duplicate_keys": int(out.duplicated(subset=spec.keys).sum()),
        "null_predictions": nulls,
    }
    score_col = spec.outputs.score_column
    if score_col and len(out):
        values = out[score_col].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            q = np.quantile(values, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
            facts["score_summary"] = {"min": float(values.min()), "mean": float(values.mean()),
                                      "max": float(values.max()),
                                      **{f"p{p}": float(v) for p, v in zip((1, 5, 25, 50, 75, 95, 99), q, strict=True)}}
    if classifier:
        facts["class_counts"] = {str(k): int(v) for k, v in pred.dropna().astype(str).value_counts().sort_index().items()}
    return facts


def _distribution(df: Any, spec: ScoringSpec, classifier: bool, edges: list[float] | None) -> dict[str, float]:
    import numpy as np

    if classifier:
        return {str(k): float(v) for k, v in df[spec.outputs.prediction_column].dropna().astype(str).value_counts().items()}
    values = df[spec.outputs.score_column or spec.outputs.prediction_column].to_numpy(dtype=np.float64)
    bins = np.searchsorted(np.asarray(edges or []), values[np.isfinite(values)], side="left")
    return {str(k): float(v) for k, v in zip(*np.unique(bins, return_counts=True), strict=True)}


def score_in_process(spec: ScoringSpec, model_path: str, store_uri: str, fs: Any,
                     log: logging.Logger | None = None) -> dict[str, Any]:
    """Score ``spec`` in this process and return the run report (the same shape as the Spark job's).

    :param spec: the validated spec; ``input.path`` and ``output.path`` are required
    :param model_path: local path of the (staged) model file or Spark ML folder
    :param store_uri: report store
    :param fs: fsspec filesystem of the input and output paths
    :param log: logger
    """
    import numpy as np

    log = log or logging.getLogger(__name__)
    if not (spec.input.path and spec.output.path):
        raise SpecError("engine='local' reads input_path and writes output_path; Hive tables need Spark")
    if spec.input.filter or spec.strategy.name != "map":
        raise SpecError("engine='local' supports neither input_filter nor the grouped strategy")
    started = time.monotonic()
    report: dict[str, Any] = {"run_id": spec.run_id, "engine": "local", "input": spec.input.describe(),
                              "output": spec.output.describe(), "output_partition": spec.output.partition,
                              "started_at": datetime.now(UTC).isoformat(), "spec": spec.to_dict()}
    pdf = _read_partition(fs, fs._strip_protocol(spec.input.path), spec.input.partition, spec.input.format)
    rows_in = 0 if pdf is None else len(pdf)
    report["rows_in"] = rows_in
    log.info("input %s: %s rows", spec.input.describe(), rows_in)
    if rows_in == 0 and not spec.allow_empty_input:
        raise InputError(f"input {spec.input.describe()} is empty or missing (0 rows); the output partition "
                         f"{spec.output.describe()} was left as it was")
    out, classes, facts = _score(spec, pdf, model_path)
    report["model"] = {"uri": spec.model.uri, **facts}
    classifier = classes is not None
    stats = _stats(out, spec, classifier)
    stats["rows_in"] = rows_in

    root = fs._strip_protocol(spec.output.path).rstrip("/")
    name = _part(spec.output.partition)
    earlier = sorted(d.rsplit("/", 1)[-1] for d in (fs.ls(root, detail=False) if fs.exists(root) else [])
                     if d.rsplit("/", 1)[-1].startswith(f"{next(iter(spec.output.partition))}=")
                     and d.rsplit("/", 1)[-1] < name.split("/")[0])
    stats["previous_partition"] = None
    stats["psi"] = None
    if earlier and len(out):
        prev_name = earlier[-1]
        prev = _read_partition(fs, f"{root}/{prev_name}", {}, "parquet")
        stats["previous_partition"] = dict([prev_name.split("=", 1)])
        if prev is not None and len(prev):
            edges = None
            if not classifier:
                col = spec.outputs.score_column or spec.outputs.prediction_column
                edges = sorted(set(np.quantile(prev[col].to_numpy(dtype=np.float64), np.arange(1, 10) / 10)))
            stats["psi"] = psi(_distribution(prev, spec, classifier, edges), _distribution(out, spec, classifier, edges))
    report.update(stats)
    results = evaluate_checks(stats, {k: v.__dict__ for k, v in spec.checks.items()})
    report["checks"] = [r.to_dict() for r in results]
    for r in results:
        log.info("%s", r.message)

    version = f"{root}/{VERSIONS_DIR}/{name}/{spec.run_id}"
    fs.makedirs(version, exist_ok=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), f"{version}/part-00000.parquet", filesystem=fs)
    report["version_path"] = version
    if failed_checks(results):
        report.update(status="failed_checks", published=False)
    else:
        final = f"{root}/{name}"
        previous = None
        if fs.exists(final):
            previous = f"{root}/{VERSIONS_DIR}/{name}/superseded-{spec.run_id}"
            fs.mv(final, previous, recursive=True)
        fs.mv(version, final, recursive=True)
        report.update(status="succeeded", published=True, published_location=final, replaced_location=previous)
    report["wall_s"] = round(time.monotonic() - started, 3)
    text = json.dumps(report, sort_keys=True, indent=1, default=str)
    folder = report_folder(store_uri, spec.output)
    import fsspec

    store_fs, store_path = fsspec.core.url_to_fs(folder)
    store_fs.makedirs(store_path, exist_ok=True)
    with store_fs.open(f"{store_path}/{spec.run_id}.json", "w") as fh:
        fh.write(text)
    if report["status"] == "succeeded":
        with store_fs.open(f"{store_path}/{CHECKED_MARKER}", "w") as fh:
            fh.write(text)
    report["report_uri"] = f"{folder}/{spec.run_id}.json"
    return report
