"""The scoring job: ``spark-submit main.py --spec <uri of spec.json>``.

Reads the input partition, validates it against the model, scores it on the executors, writes a new
version folder, re-reads it to compute the checks, publishes the partition only when no ``fail`` check
failed, and writes the run report (JSON) to ``spec.report_uri`` in every outcome, errors included.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_spark_predict.checks.evaluate import evaluate_checks, failed_checks
from airflow_provider_spark_predict.exceptions import InputError, ModelError, SparkPredictError
from airflow_provider_spark_predict.job import (
    arrow_reader,
    pipeline,
    progress,
    reader,
    scoring,
    stats,
    writer,
)
from airflow_provider_spark_predict.job.hadoopfs import HadoopFS
from airflow_provider_spark_predict.report import CHECKED_MARKER
from airflow_provider_spark_predict.spec import ScoringSpec

REPORT_VERSION = 1


def log(msg: str) -> None:
    """Progress line; spark-submit's output is streamed into the Airflow task log."""
    print(f"[spark-predict] {msg}", flush=True)


class Timer:
    """Collect named durations in seconds."""

    def __init__(self) -> None:
        self.durations: dict[str, float] = {}
        self._start = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.durations[name] = round(now - self._start, 3)
        self._start = now


def load_driver_model(spark: Any, spec: ScoringSpec) -> tuple[Any, str, str]:
    """Ship the model file to executors (addFile) and load it once on the driver to validate it.

    Returns (adapter, file name for SparkFiles.get, resolved flavor).
    """
    from pyspark import SparkFiles

    from airflow_provider_spark_predict.models.base import detect_flavor, load_model

    uri = spec.model.uri
    try:
        spark.sparkContext.addFile(uri)
    except Exception as err:
        raise ModelError(f"model file {uri} cannot be read: {str(err).splitlines()[0]}") from None
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    local = SparkFiles.get(name)
    flavor = spec.model.flavor if spec.model.flavor != "auto" else detect_flavor(local)
    adapter = load_model(local, flavor)
    return adapter, name, flavor


def is_spark_pipeline(spec: ScoringSpec, fs: HadoopFS) -> bool:
    """Whether the model is a saved Spark ML PipelineModel folder (flavor given, or a ``metadata/`` inside)."""
    if spec.model.flavor == "spark_pipeline":
        return True
    return spec.model.flavor == "auto" and fs.exists(spec.model.uri.rstrip("/") + "/metadata")


def resolve_features(spec: ScoringSpec, adapter: Any) -> list[str]:
    """The feature list: the spec's, else the model's; check it against the model's feature count."""
    features = spec.features or adapter.feature_names
    if not features:
        raise ModelError(
            f"model {spec.model.uri} does not record feature names; pass features=[...] explicitly"
        )
    n = adapter.n_features
    if n is not None and n != len(features):
        raise ModelError(
            f"model {spec.model.uri} expects {n} features but {len(features)} feature columns were given"
        )
    recorded = adapter.feature_names
    if spec.features and recorded and list(recorded) != list(spec.features):
        diff = [f"{a}!={b}" for a, b in zip(recorded, spec.features, strict=False) if a != b][:5]
        raise ModelError(
            f"feature columns differ from the names recorded in model {spec.model.uri} (first: {diff}); "
            "the order must be the training order"
        )
    return list(features)


def pyarrow_inputs(spark: Any, spec: ScoringSpec, df: Any, features: list[str]) -> tuple[list[str], str | None]:
    """The parquet files of the input partition for the ``pyarrow`` reader, and ``None``; or ``[]`` and the
    reason why the Python workers cannot read them with the same result as Spark."""
    if spec.input.sql or spec.input.filter:
        return [], "the input is a query or has a filter"
    if spec.input.path and spec.input.format != "parquet":
        return [], f"the input format is {spec.input.format}, not parquet"
    reason = arrow_reader.unsupported_reason(dict(df.dtypes), spec.keys, features)
    if reason is not None:
        return [], reason
    partition_cols = {c.lower() for c in spec.input.partition}
    in_folder_names = [c for c in [*spec.keys, *features] if c.lower() in partition_cols]
    if in_folder_names:
        return [], f"column(s) {in_folder_names} are partition columns (folder names), not in the files"
    if not spec.input.table:
        return sorted(df.inputFiles()), None
    location = writer.partition_location(spark, spec.input.table, spec.input.partition)
    if location is None:
        return [], f"no single partition location for {spec.input.describe()}"
    try:
        return sorted(spark.read.parquet(location).inputFiles()), None
    except Exception as err:  # noqa: BLE001 - not parquet, or unreadable: Spark's reader decides
        return [], f"the partition folder is not readable as parquet ({str(err).splitlines()[0][:200]})"


@dataclass
class ReaderChoice:
    """Who reads the input of the ``map`` strategy (see :class:`StrategySpec`).

    :param files: input files for the ``pyarrow`` reader (empty for Spark's reader)
    :param tasks: their splits packed into tasks
    :param facts: report facts (``reader``, ``reader_reason``, ``files``, ``tasks``)
    :param rows: the input's row count from the parquet footers (``pyarrow``), else ``None``
    """

    files: list[str] = field(default_factory=list)
    tasks: list[list[arrow_reader.Split]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None


def choose_reader(spark: Any, spec: ScoringSpec, df: Any, features: list[str], fs: HadoopFS) -> ReaderChoice:
    """Decide who reads the input of the ``map`` strategy; for ``pyarrow``, one Spark job opens every
    input file's footer on the executors, which also gives the row count (no ``df.count()``)."""
    wanted = spec.strategy.reader
    if spec.strategy.name != "map":
        return ReaderChoice()
    if wanted == "spark":
        return ReaderChoice(facts={"reader": "spark"})
    files, reason = pyarrow_inputs(spark, spec, df, features)
    rows = 0
    if reason is None:
        reason, rows = arrow_reader.read_footers(spark, files, spec.keys)
        if reason is not None:
            reason = f"pyarrow on an executor cannot read the input files ({reason})"
    if reason is not None:
        if wanted == "pyarrow":
            raise InputError(f"reader='pyarrow' is not possible for {spec.input.describe()}: {reason}")
        log(f"reader: spark ({reason})")
        return ReaderChoice(facts={"reader": "spark", "reader_reason": reason})
    conf = spark.conf
    tasks = arrow_reader.plan_tasks(
        fs.file_sizes(files),
        max_partition_bytes=conf_bytes(conf.get("spark.sql.files.maxPartitionBytes", "128m")),
        open_cost=conf_bytes(conf.get("spark.sql.files.openCostInBytes", "4m")),
        parallelism=spark.sparkContext.defaultParallelism,
    ) if files else []
    log(f"reader: pyarrow in the Python workers, {len(files)} input files in {len(tasks)} tasks")
    return ReaderChoice(files, tasks, {"reader": "pyarrow", "files": len(files), "tasks": len(tasks)}, rows)


def conf_bytes(value: str) -> int:
    """``134217728``, ``128m``, ``128MB``, ``4k`` -> bytes (Spark's byte-size conf syntax)."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def run(spark: Any, spec: ScoringSpec, report: dict[str, Any]) -> dict[str, Any]:
    """Execute the scoring run; fills and returns ``report``."""
    timer = Timer()
    fs = HadoopFS(spark)
    sc = spark.sparkContext
    report.update(application_id=sc.applicationId, tracking_url=sc.uiWebUrl, master=sc.master)
    prog = progress.Progress(spark, log)

    native = is_spark_pipeline(spec, fs)
    if native:
        import pyspark

        ml_model = pipeline.load_pipeline(spec.model.uri)
        features, classes, flavor = pipeline.input_columns(ml_model), pipeline.classes_of(ml_model), "spark_pipeline"
        library = f"pyspark=={pyspark.__version__}"
    else:
        adapter, model_name, flavor = load_driver_model(spark, spec)
        features, classes, library = resolve_features(spec, adapter), adapter.classes, adapter.library_version
    report["model"] = {"uri": spec.model.uri, "flavor": flavor, "library": library,
                       "n_features": len(features), "classes": classes}
    log(f"model {spec.model.uri}: flavor {flavor}, {len(features)} input columns, {library}")
    timer.lap("load_model_s")

    what = f"input {spec.input.describe()}"
    df = reader.read_input(spark, spec.input)
    reader.check_columns(df, spec.keys, features, what)
    prog.phase("footer job")
    choice = ReaderChoice() if native else choose_reader(spark, spec, df, features, fs)
    rows_in = choice.rows if choice.rows is not None else df.count()
    report["rows_in"] = rows_in
    log(f"{what}: {rows_in} rows" + (" (from the parquet footers)" if choice.rows is not None else ""))
    if rows_in == 0 and not spec.allow_empty_input:
        raise InputError(
            f"{what} is empty or missing (0 rows); the output partition {spec.output.describe()} was left "
            "as it was. Pass allow_empty_input=True to write an empty partition."
        )
    if spec.input.filter:
        df = df.where(spec.input.filter)
        report["input_filter"] = spec.input.filter

    counters = scoring.WorkerCounters.create(sc)
    if native:
        # the pipeline's own stages read and cast their input columns
        scored = pipeline.transform(ml_model, df, spec.keys, spec.outputs, classes)
        report["strategy"] = {"strategy": "transform"}
        timer.lap("read_validate_s")
    else:
        dtype = reader.feature_dtype(df, features)
        feats = reader.cast_features(df, spec.keys, features, dtype, spec.on_invalid, spec.fill_value, what)
        timer.lap("read_validate_s")
        batch_rows = scoring.batch_rows_for(len(features), spec.strategy.batch_rows)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        plan = scoring.OutputPlan(spec.outputs, classes)
        if choice.facts.get("reader") == "pyarrow":
            scored = scoring.score_splits(
                spark, choice.files, choice.tasks, key_fields=[feats.schema[k] for k in spec.keys], model_name=model_name,
                flavor=flavor, features=features, feature_dtype=dtype, fill_value=spec.fill_value, plan=plan,
                counters=counters, batch_rows=batch_rows,
            )
            facts = {"strategy": "map"}
        else:
            scored, facts = scoring.score(
                feats, strategy=spec.strategy.name, model_name=model_name, flavor=flavor,
                keys=spec.keys, features=features, fill_value=spec.fill_value, plan=plan, counters=counters,
                rows_in=rows_in, num_groups=spec.strategy.num_groups,
                target_group_rows=spec.strategy.target_group_rows,
            )
        facts.update(choice.facts)
        report["strategy"] = {**facts, "batch_rows": batch_rows, "feature_dtype": dtype}

    if spec.output.table:
        data_fields = [f for f in scored.schema.fields]
        writer.ensure_table(spark, spec.output, data_fields)
    target = writer.resolve_target(spark, spec.output, fs)
    # the fraction comes from tasks when the rows counter is not exact (filter) or not fed (Spark ML pipeline)
    prog.phase("scoring", rows=counters.rows, total_rows=None if native or spec.input.filter else rows_in)
    version = writer.write_version(scored, target, spec.run_id)
    report["model_loads"] = counters.loads.value
    report["model_predict_s"] = round(counters.predict_s.value, 3)
    report["version_path"] = version
    log(f"wrote {version} ({counters.loads.value} model loads on executors, "
        f"{counters.predict_s.value:.1f} s inside the model's predict)")
    timer.lap("score_write_s")

    prog.phase("checks")
    written = spark.read.parquet(version)
    classifier = classes is not None
    facts = stats.written_stats(written, spec.keys, spec.outputs.prediction_column,
                                spec.outputs.score_column, classifier)
    facts["rows_in"] = rows_in
    prev = stats.previous_partition(spark, spec.output, fs)
    facts["previous_partition"] = prev
    if prev and facts["rows_out"]:
        prev_df = stats.read_partition(spark, spec.output, prev)
        facts.update(stats.drift(spark, written, prev_df, spec.outputs.prediction_column,
                                 spec.outputs.score_column, classifier))
    else:
        facts["psi"] = None
    report.update(facts)
    timer.lap("checks_s")

    prog.phase("publish")
    results = evaluate_checks(facts, {k: v.__dict__ for k, v in spec.checks.items()})
    report["checks"] = [r.to_dict() for r in results]
    for r in results:
        log(r.message)
    failed = failed_checks(results)
    if failed:
        report["status"] = "failed_checks"
        report["published"] = False
        log(f"NOT publishing {spec.output.describe()}: {len(failed)} check(s) failed; "
            f"the previous partition is unchanged; the rejected rows stay in {version}")
    else:
        if not fs.exists(version):
            raise SparkPredictError(f"version folder {version} vanished before publishing (concurrent cleanup?)")
        before = writer.publish(spark, target, version, fs, log)
        report["published"] = True
        report["published_location"] = version if spec.output.table else target.partition_location
        report["replaced_location"] = before
        report["status"] = "succeeded"
        writer.cleanup_versions(target, spec.output.keep_previous_versions, version, fs, log)
    timer.lap("publish_s")
    report["durations"] = timer.durations
    report.update(prog.finish())
    return report


_EXC_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")


def summarize_error(err: BaseException) -> str:
    """One useful line for an error: for a Python worker failure, the worker's own exception line
    (``ValueError: Input X contains NaN.``), not Spark's generic first line."""
    text = str(err)
    found = [m.group(0).strip() for line in text.splitlines() if (m := _EXC_LINE.match(line))]
    found = [f for f in found if not f.startswith(("org.apache.spark", "py4j", "pyspark.errors"))]
    first = text.splitlines()[0] if text else type(err).__name__
    return (f"{first.rstrip(':')}: {found[-1]}" if found else first)[:2000]


def report_dir(report_uri: str) -> str:
    return report_uri.rsplit("/", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="airflow-provider-spark-predict scoring job")
    parser.add_argument("--spec", required=True, help="URI of the scoring spec JSON")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("spark-predict")
    if os.environ.get("SPARK_PREDICT_NO_HIVE") != "1":
        builder = builder.enableHiveSupport()
    spark = builder.getOrCreate()
    fs = HadoopFS(spark)
    started = time.monotonic()
    spec = ScoringSpec.from_json(fs.read_text(args.spec)).validate()
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "run_id": spec.run_id,
        "started_at": datetime.now(UTC).isoformat(),
        "input": spec.input.describe(),
        "output": spec.output.describe(),
        "output_partition": spec.output.partition,
        "spec": spec.to_dict(),
        "status": "running",
    }
    code = 0
    try:
        run(spark, spec, report)
    except SparkPredictError as err:
        report.update(status="error", error_type=type(err).__name__, error=str(err))
        log(f"ERROR {type(err).__name__}: {err}")
        code = 2
    except Exception as err:  # noqa: BLE001 - anything else is still reported, with its traceback
        report.update(status="error", error_type=type(err).__name__, error=summarize_error(err),
                      traceback=traceback.format_exc()[-4000:])
        log(f"ERROR {type(err).__name__}: {err}")
        code = 3
    progress.stop_all()
    report["wall_s"] = round(time.monotonic() - started, 3)
    report["finished_at"] = datetime.now(UTC).isoformat()
    text = json.dumps(report, sort_keys=True, indent=1, default=str)
    fs.write_text(spec.report_uri, text)
    if report.get("status") == "succeeded":
        fs.write_text(f"{report_dir(spec.report_uri)}/{CHECKED_MARKER}", text)
    log(f"report written to {spec.report_uri} (status {report['status']})")
    spark.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
