"""The in-process engine: the steps of :mod:`airflow_provider_spark_predict.run.sequence` with pyarrow in
this process (see :mod:`airflow_provider_spark_predict.in_process`)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_spark_predict.exceptions import InputError, ModelError, SpecError
from airflow_provider_spark_predict.in_process.files import FsspecFiles
from airflow_provider_spark_predict.in_process.frame import ArrowFrame
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.run.engine import LoadedModel, check_columns, resolve_features
from airflow_provider_spark_predict.run.layout import partition_folder
from airflow_provider_spark_predict.spec import ScoringSpec, TargetSpec

NUMERIC = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float", "double",
           "halffloat", "bool")


class _Sum:
    """An accumulator of this process (the ``add``/``value`` of Spark's)."""

    def __init__(self, value: float = 0) -> None:
        self.value = value

    def add(self, n: float) -> None:
        self.value += n


class _Counts:
    """A ``{name: count}`` accumulator of this process (Spark's, with its ``AccumulatorParam``)."""

    def __init__(self, param: Any) -> None:
        self.param = param
        self.value: dict[str, int] = {}

    def add(self, counts: dict[str, int]) -> None:
        self.value = self.param.addInPlace(self.value, counts)


class InProcessEngine:
    """Read, score, write and check one partition with pyarrow in this process.

    :param model_path: local path of the model file or Spark ML folder
    :param storage_options: fsspec options for every URI of the run
    :param logger: where progress lines go
    """

    name = "in_process"

    def __init__(self, model_path: str, storage_options: dict[str, Any] | None, logger: logging.Logger) -> None:
        from airflow_provider_spark_predict.job.scoring import CountsParam, WorkerCounters

        self.model_path = model_path
        self.files = FsspecFiles(storage_options)
        self.logger = logger
        self.counters = WorkerCounters(_Sum(0), _Sum(0.0), unseen=_Counts(CountsParam()))
        self._input: Any = None
        self._scored: Any = None

    def log(self, message: str) -> None:
        self.logger.info("%s", message)

    def describe(self, report: RunReport) -> None:
        """Nothing to add: no application, no master."""

    def load_model(self, spec: ScoringSpec) -> LoadedModel:
        from airflow_provider_spark_predict.models.base import detect_flavor, load_model

        check_supported(spec)
        flavor = spec.model.flavor if spec.model.flavor != "auto" else detect_flavor(self.model_path)
        if flavor == "spark_pipeline":
            from airflow_provider_spark_predict.sparkml import load_pipeline

            pipeline = load_pipeline(self.model_path)
            predictor = self._predictor(pipeline)
            classes = list(range(class_count(predictor))) if getattr(predictor, "prob_col", "") else None
            return LoadedModel(flavor, "airflow_provider_spark_predict.local", list(pipeline.input_columns),
                               classes, pipeline)
        adapter = load_model(self.model_path, spec.model.flavor)
        self.counters.loads.add(1)
        self.log(f"model {spec.model.uri}: {adapter.describe()}")
        return LoadedModel(adapter.flavor, adapter.library_version, resolve_features(spec, adapter), adapter.classes,
                           adapter, adapter.has_probabilities, adapter.input_kind)

    def _predictor(self, pipeline: Any) -> Any:
        predictors = [s for s in pipeline.stages if hasattr(s, "pred_col")]
        if not predictors:
            raise ModelError(f"pipeline {self.model_path} has no predictor stage")
        return predictors[-1]

    def read_input(self, spec: ScoringSpec, model: LoadedModel) -> int:
        import pyarrow.dataset as ds

        assert spec.input.path
        folder = partition_folder(spec.input.path, spec.input.partition)
        if not self.files.exists(folder):
            raise InputError(f"input partition {spec.input.describe()} does not exist ({folder})")
        fs, path = self.files.resolve(folder)
        dataset = ds.dataset(path, format=spec.input.format, filesystem=fs)
        check_columns(dataset.schema.names, spec.keys, model.features, f"input {spec.input.describe()}")
        self._input = dataset.to_table(columns=list(dict.fromkeys([*spec.keys, *model.features])))
        if not model.is_spark_pipeline:
            from airflow_provider_spark_predict.models.frames import cast_rules

            model.cast_rules = cast_rules(model.handle, self._input.schema, model.features)
        rows = int(self._input.num_rows)
        self.log(f"input {spec.input.describe()}: {rows} rows")
        return rows

    def score(self, spec: ScoringSpec, model: LoadedModel) -> dict[str, Any]:
        if model.is_spark_pipeline:
            self._scored = score_pipeline(model, self._input, spec)
            return {"strategy": "transform"}
        import pyarrow as pa

        from airflow_provider_spark_predict.job import scoring

        table = self._input
        if model.input_kind == "frame":  # strings stay strings, numeric types kept (adapter.prepare)
            dtype = "frame"
            feats = [table.column(f) for f in model.features]
        else:
            dtype = scoring.matrix_type(str(table.schema.field(f).type) for f in model.features)
            feats = [numeric_feature(table.column(f), f, spec) for f in model.features]
        batch_rows = scoring.batch_rows_for(len(model.features), spec.strategy.batch_rows)
        plan = scoring.OutputPlan(spec.outputs, model.classes, model.has_probabilities)
        names = [*spec.keys, *spec.outputs.columns()]
        data = pa.Table.from_arrays([*(table.column(k) for k in spec.keys), *feats],
                                    names=[*spec.keys, *model.features])
        batches = [scoring.score_batch(model.handle, b, n_keys=len(spec.keys), names=names, plan=plan,
                                       fill_value=spec.fill_value, counters=self.counters,
                                       dtype=scoring.numpy_dtype(dtype), features=model.features)
                   for b in data.to_batches(max_chunksize=batch_rows) if b.num_rows]
        output_schema = pa.schema([*(table.schema.field(k) for k in spec.keys), *plan.arrow_fields()])
        self._scored = pa.Table.from_batches(batches, schema=output_schema)
        return {"strategy": "map", "reader": "pyarrow", "batch_rows": batch_rows, "feature_dtype": dtype}

    def output_base(self, spec: ScoringSpec) -> str:
        assert spec.output.path
        return spec.output.path.rstrip("/")

    def write_version(self, path: str) -> None:
        import pyarrow.parquet as pq

        self.files.makedirs(path)
        fs, folder = self.files.resolve(path)
        pq.write_table(self._scored, f"{folder}/part-00000.parquet", filesystem=fs)

    def worker_counters(self) -> tuple[int, float]:
        return int(self.counters.loads.value), round(float(self.counters.predict_s.value), 3)

    def unseen_categories(self) -> dict[str, int]:
        return dict(self.counters.unseen.value)

    def read_version(self, path: str) -> ArrowFrame:
        import pyarrow.dataset as ds

        fs, folder = self.files.resolve(path)
        return ArrowFrame(ds.dataset(folder, format="parquet", filesystem=fs).to_table())

    def previous_table_partition(self, target: TargetSpec) -> dict[str, str] | None:
        raise SpecError("engine='in_process' writes output_path only")

    def read_table_partition(self, target: TargetSpec, partition: dict[str, str]) -> ArrowFrame:
        raise SpecError("engine='in_process' writes output_path only")

    def publish_table(self, target: TargetSpec, version: str) -> str | None:
        raise SpecError("engine='in_process' writes output_path only")


def numeric_feature(column: Any, name: str, spec: ScoringSpec) -> Any:
    """A feature column as Arrow numbers: numeric and boolean columns as they are (the matrix casts them),
    others parsed as numbers (a value that is not a number is missing, or fails with ``on_invalid="fail"``,
    like Spark's ``try_cast``)."""
    if str(column.type) in NUMERIC:
        return column
    import pandas as pd
    import pyarrow as pa

    raw = column.to_pandas()
    parsed = pd.to_numeric(raw, errors="coerce")
    bad = int((parsed.isna() & raw.notna()).sum())
    if bad and spec.on_invalid == "fail":
        raise InputError(f"input {spec.input.describe()}: feature column {name} holds {bad} values that are not "
                         "numbers; on_invalid='fail'")
    return pa.array(parsed.to_numpy(dtype="float64", na_value=float("nan")), type=pa.float64(),
                    mask=parsed.isna().to_numpy())


def check_supported(spec: ScoringSpec) -> None:
    """Refuse what needs Spark: Hive tables, SQL input, an input filter, the grouped strategy."""
    if not (spec.input.path and spec.output.path):
        raise SpecError("engine='in_process' reads input_path and writes output_path; Hive tables need Spark")
    if spec.input.filter or spec.strategy.name != "map":
        raise SpecError("engine='in_process' supports neither input_filter nor the grouped strategy")


def class_count(predictor: Any) -> int:
    """Number of classes of a JVM-free pipeline's probabilistic predictor."""
    n = getattr(predictor, "num_classes", None)
    if n:
        return int(n)
    raise ModelError("the pipeline's probabilistic predictor does not record its number of classes")


def score_pipeline(model: LoadedModel, table: Any, spec: ScoringSpec) -> Any:
    """Keys + outputs of a Spark ML PipelineModel scored by the JVM-free scorer, with Spark's own prediction
    column (it applies ``thresholds``, not a plain argmax)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from airflow_provider_spark_predict.job.scoring import OutputPlan
    from airflow_provider_spark_predict.labels import label_for
    from airflow_provider_spark_predict.models.base import Prediction

    scored = model.handle.transform(table.to_pandas())
    predictor = [s for s in model.handle.stages if hasattr(s, "pred_col")][-1]
    o = spec.outputs
    out = scored[spec.keys].reset_index(drop=True).copy()
    spark_prediction = scored[predictor.pred_col].to_numpy()
    if model.classes is not None:
        pred = Prediction(probabilities=np.stack(scored[predictor.prob_col].to_numpy()))
    else:
        pred = Prediction(values=spark_prediction.astype(np.float64))
    for name, (values, mask) in OutputPlan(o, model.classes).columns(pred).items():
        column = list(values) if values.ndim == 2 else values
        out[name] = pd.Series(column, dtype=object).where(~mask, None) if mask is not None else column
    if model.classes is not None:
        out[o.prediction_column] = spark_prediction.astype(np.int32)
        if o.label_column:
            out[o.label_column] = [label_for(o.label_mapping, int(c)) for c in spark_prediction]
    return pa.Table.from_pandas(out, preserve_index=False)
