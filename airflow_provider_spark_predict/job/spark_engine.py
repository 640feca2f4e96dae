"""The Spark engine: the steps of :mod:`airflow_provider_spark_predict.run.sequence` on a SparkSession.

The driver reads the input partition (Hive table, SQL or parquet/ORC path), validates it, scores it on the
executors (:mod:`.scoring`: model shipped with ``addFile``, loaded once per Python worker, Arrow batches),
writes the version folder with Spark's commit protocol while observing the facts of the written rows
(Spark ``observe``; one aggregation re-reads the written keys: :mod:`.stats`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_spark_predict.exceptions import InputError, ModelError
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
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.run import facts as run_facts
from airflow_provider_spark_predict.run.engine import LoadedModel, check_columns, resolve_features
from airflow_provider_spark_predict.spec import OutputsSpec, ScoringSpec, TargetSpec


def log(msg: str) -> None:
    """Progress line; spark-submit's output is streamed into the Airflow task log."""
    print(f"[spark-predict] {msg}", flush=True)


def load_driver_model(spark: Any, spec: ScoringSpec) -> tuple[Any, str, str]:
    """Ship the model file to executors (addFile) and load it once on the driver to validate it.

    Returns (adapter, file name for SparkFiles.get, resolved flavor).
    """
    from pyspark import SparkFiles

    from airflow_provider_spark_predict.models.base import load_model

    uri = spec.model.uri
    try:
        spark.sparkContext.addFile(uri)
    except Exception as err:
        raise ModelError(f"model file {uri} cannot be read: {str(err).splitlines()[0]}") from None
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    local = SparkFiles.get(name)
    adapter = load_model(local, spec.model.flavor)
    # executors load by the same rule (``auto``: by what the file holds), or the user's explicit flavor
    return adapter, name, spec.model.flavor


def is_spark_pipeline(spec: ScoringSpec, fs: HadoopFS) -> bool:
    """Whether the model is a saved Spark ML PipelineModel folder (flavor given, or a ``metadata/`` inside)."""
    if spec.model.flavor == "spark_pipeline":
        return True
    return spec.model.flavor == "auto" and fs.exists(spec.model.uri.rstrip("/") + "/metadata")


def pyarrow_inputs(spark: Any, spec: ScoringSpec, df: Any, features: list[str],
                   input_kind: str = "matrix") -> tuple[list[str], str, str | None]:
    """The parquet or ORC files of the input partition for the ``pyarrow`` reader, their format and
    ``None``; or ``[]``, the format and the reason why the Python workers cannot read them with the same
    result as Spark."""
    fmt = spec.input.format if spec.input.path else "parquet"
    if spec.input.sql or spec.input.filter:
        return [], fmt, "the input is a query or has a filter"
    location = None
    if spec.input.table:
        location, stored_as = writer.partition_storage(spark, spec.input.table, spec.input.partition)
        if location is None:
            return [], fmt, f"no single partition location for {spec.input.describe()}"
        fmt = str(stored_as)
    if fmt not in arrow_reader.FORMATS:
        return [], fmt, f"the input is stored as {fmt}, not parquet or orc"
    reason = arrow_reader.unsupported_reason(dict(df.dtypes), spec.keys, features, input_kind, fmt)
    if reason is not None:
        return [], fmt, reason
    partition_cols = {c.lower() for c in spec.input.partition}
    in_folder_names = [c for c in [*spec.keys, *features] if c.lower() in partition_cols]
    if in_folder_names:
        return [], fmt, f"column(s) {in_folder_names} are partition columns (folder names), not in the files"
    if location is None:
        return sorted(df.inputFiles()), fmt, None
    try:
        return sorted(spark.read.format(fmt).load(location).inputFiles()), fmt, None
    except Exception as err:  # noqa: BLE001 - unreadable: Spark's reader decides
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        return [], fmt, f"the partition folder is not readable as {fmt} ({first})"


class _PrintLog:
    """``logger.info`` onto :func:`log` (spark-submit's output)."""

    def info(self, msg: str, *args: Any) -> None:
        log(msg % args if args else msg)


@dataclass
class ReaderChoice:
    """Who reads the input of the ``map`` strategy (see :class:`StrategySpec`).

    :param files: input files for the ``pyarrow`` reader (empty for Spark's reader)
    :param tasks: their splits packed into tasks
    :param facts: report facts (``reader``, ``reader_reason``, ``files``, ``tasks``)
    :param rows: the input's row count from the files' footers (``pyarrow``), else ``None``
    :param file_format: ``parquet`` or ``orc`` (``pyarrow``)
    """

    files: list[str] = field(default_factory=list)
    tasks: list[list[arrow_reader.Split]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None
    file_format: str = "parquet"


def choose_reader(spark: Any, spec: ScoringSpec, df: Any, features: list[str],
                  input_kind: str = "matrix") -> ReaderChoice:
    """Decide who reads the input of the ``map`` strategy; for ``pyarrow``, one Spark job opens every
    input file's footer on the executors, which also gives the row count (no ``df.count()``) and the
    file sizes the splits are planned on."""
    wanted = spec.strategy.reader
    if spec.strategy.name != "map":
        return ReaderChoice()
    if wanted == "spark":
        return ReaderChoice(facts={"reader": "spark"})
    files, fmt, reason = pyarrow_inputs(spark, spec, df, features, input_kind)
    footers = arrow_reader.Footers(reason)
    if reason is None:
        footers = arrow_reader.read_footers(spark, files, spec.keys, fmt)
        if footers.reason is not None:
            reason = f"pyarrow on an executor cannot read the input files ({footers.reason})"
    if reason is not None:
        if wanted == "pyarrow":
            raise InputError(f"reader='pyarrow' is not possible for {spec.input.describe()}: {reason}")
        log(f"reader: spark ({reason})")
        return ReaderChoice(facts={"reader": "spark", "reader_reason": reason})
    conf = spark.conf
    tasks = arrow_reader.plan_tasks(
        footers.sizes,
        max_partition_bytes=conf_bytes(conf.get("spark.sql.files.maxPartitionBytes", "128m")),
        open_cost=conf_bytes(conf.get("spark.sql.files.openCostInBytes", "4m")),
        parallelism=spark.sparkContext.defaultParallelism,
    ) if files else []
    log(f"reader: pyarrow in the Python workers, {len(files)} input {fmt} files in {len(tasks)} tasks")
    facts = {"reader": "pyarrow", "files": len(files), "tasks": len(tasks), "format": fmt}
    return ReaderChoice(files, tasks, facts, footers.rows, fmt)


def conf_bytes(value: str) -> int:
    """``134217728``, ``128m``, ``128MB``, ``4k`` -> bytes (Spark's byte-size conf syntax)."""
    text = str(value).strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class SparkEngine:
    """The steps of a run on ``spark`` (see :class:`airflow_provider_spark_predict.run.engine.Engine`).

    :param spark: the SparkSession (not stopped here)
    """

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.files = HadoopFS(spark)
        self.counters = scoring.WorkerCounters.create(spark.sparkContext)
        self._df: Any = None
        self._choice = ReaderChoice()
        self._scored: Any = None
        self._rows_in = 0
        self._progress_total: int | None = None
        self._adapter: Any = None
        self._outputs = OutputsSpec()
        self._classes: list[Any] | None = None
        self._observed: stats.WriteFacts | None = None
        self._version: str | None = None

    def log(self, message: str) -> None:
        log(message)

    def describe(self, report: RunReport) -> None:
        sc = self.spark.sparkContext
        report.update({"application_id": sc.applicationId, "tracking_url": sc.uiWebUrl, "master": sc.master})

    def load_model(self, spec: ScoringSpec) -> LoadedModel:
        if is_spark_pipeline(spec, self.files):
            import pyspark

            ml_model = pipeline.load_pipeline(spec.model.uri)
            return LoadedModel("spark_pipeline", f"pyspark=={pyspark.__version__}", pipeline.input_columns(ml_model),
                               pipeline.classes_of(ml_model), ml_model)
        adapter, name, flavor = load_driver_model(self.spark, spec)
        self._adapter = adapter
        log(f"model {spec.model.uri}: {adapter.describe()}")
        return LoadedModel(adapter.flavor, adapter.library_version, resolve_features(spec, adapter), adapter.classes,
                           (name, flavor), adapter.has_probabilities, adapter.input_kind)

    def read_input(self, spec: ScoringSpec, model: LoadedModel) -> int:
        what = f"input {spec.input.describe()}"
        df = reader.read_input(self.spark, spec.input)
        check_columns(df.columns, spec.keys, model.features, what)
        if not model.is_spark_pipeline:
            model.cast_rules = reader.cast_rules(self._adapter, df, model.features)
            self._choice = choose_reader(self.spark, spec, df, model.features, model.input_kind or "matrix")
        rows = self._choice.rows if self._choice.rows is not None else int(df.count())
        log(f"{what}: {rows} rows" + (" (from the file footers)" if self._choice.rows is not None else ""))
        self._df = df.where(spec.input.filter) if spec.input.filter else df
        self._rows_in = rows
        return rows

    def score(self, spec: ScoringSpec, model: LoadedModel) -> dict[str, Any]:
        df, choice = self._df, self._choice
        self._outputs, self._classes = spec.outputs, model.classes
        # progress fraction from tasks when the rows counter is not exact (filter) or not fed (Spark ML)
        self._progress_total = None if model.is_spark_pipeline or spec.input.filter else self._rows_in
        if model.is_spark_pipeline:
            # the pipeline's own stages read and cast their input columns
            self._scored = pipeline.transform(model.handle, df, spec.keys, spec.outputs, model.classes)
            return {"strategy": "transform"}
        what = f"input {spec.input.describe()}"
        features = model.features
        if model.input_kind == "frame":
            # strings stay strings, numeric types kept: the adapter's prepare builds the DataFrame
            dtype = "frame"
            feats = reader.select_features(df, spec.keys, features)
        else:
            dtype = reader.feature_dtype(df, features)
            feats = reader.cast_features(df, spec.keys, features, dtype, spec.on_invalid, spec.fill_value, what)
        self._predict_sample(spec, feats, features)
        batch_rows = scoring.batch_rows_for(len(features), spec.strategy.batch_rows)
        self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        plan = scoring.OutputPlan(spec.outputs, model.classes, model.has_probabilities)
        name, flavor = model.handle
        common = dict(model_name=name, flavor=flavor, features=features, fill_value=spec.fill_value,
                      plan=plan, counters=self.counters)
        if choice.facts.get("reader") == "pyarrow":
            self._scored = scoring.score_splits(
                self.spark, choice.files, choice.tasks, key_fields=[feats.schema[k] for k in spec.keys],
                feature_dtype=dtype, batch_rows=batch_rows, file_format=choice.file_format, **common,
            )
            facts: dict[str, Any] = {"strategy": "map"}
        else:
            self._scored, facts = scoring.score(
                feats, strategy=spec.strategy.name, keys=spec.keys, rows_in=self._rows_in,
                num_groups=spec.strategy.num_groups,
                target_group_rows=spec.strategy.target_group_rows, **common,
            )
        return {**facts, **choice.facts, "batch_rows": batch_rows, "feature_dtype": dtype}

    def _predict_sample(self, spec: ScoringSpec, feats: Any, features: list[str]) -> None:
        """The pre-flight sample predict on the driver, on a few rows of the real input as the executors
        get them (covers Hive and SQL inputs, whose schema the Airflow worker cannot see)."""
        from airflow_provider_spark_predict import preflight

        sample = feats.select(*[reader.quote(f) for f in dict.fromkeys(features)]).limit(preflight.SAMPLE_ROWS).toArrow()
        if sample.num_rows:
            preflight.predict_sample(self._adapter, sample, features, spec, _PrintLog())

    def output_base(self, spec: ScoringSpec) -> str:
        target = spec.output
        if target.table:
            writer.ensure_table(self.spark, target, list(self._scored.schema.fields))
            return writer.table_location(self.spark, target.table)
        assert target.path
        return self.files.qualify(target.path.rstrip("/"))

    def write_version(self, path: str) -> None:
        # the facts of the written rows are observed during the write (no re-read of the output for them)
        scored, self._observed, self._version = self._scored, None, path
        if self.spark.conf.get(stats.CONF_OBSERVE, "true").lower() != "false":
            classifier = self._classes is not None
            scored, self._observed = stats.observe_write(
                scored, self._outputs.prediction_column, run_facts.value_column(self._outputs, classifier),
                classifier, self._classes)
        with progress.watch_scoring(self.spark, self.counters.rows, self._progress_total, log):
            writer.write_version(scored, path)

    def worker_counters(self) -> tuple[int, float]:
        return int(self.counters.loads.value), round(float(self.counters.predict_s.value), 3)

    def unseen_categories(self) -> dict[str, int]:
        return dict(self.counters.unseen.value)

    def read_version(self, path: str) -> stats.SparkFrame:
        return stats.SparkFrame(self.spark.read.parquet(path), self._observed if path == self._version else None)

    def previous_table_partition(self, target: TargetSpec) -> dict[str, str] | None:
        return stats.previous_table_partition(self.spark, target)

    def read_table_partition(self, target: TargetSpec, partition: dict[str, str]) -> stats.SparkFrame:
        return stats.read_table_partition(self.spark, target, partition)

    def publish_table(self, target: TargetSpec, version: str) -> str | None:
        return writer.publish_table(self.spark, target, version, log)
