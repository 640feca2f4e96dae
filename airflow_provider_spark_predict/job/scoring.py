"""Score rows on the executors.

Strategies:

* ``map`` with Spark's reader (:func:`score`): ``mapInArrow`` over the input DataFrame; the JVM reads the
  parquet pages and converts the rows to Arrow.
* ``grouped`` (:func:`score`): ``applyInPandas`` over ``xxhash64(keys) % N`` groups.
* ``map`` with the ``pyarrow`` reader (:func:`score_splits`): Spark only distributes splits of the input
  parquet files; each Python worker reads its row groups with pyarrow (see
  :mod:`airflow_provider_spark_predict.job.arrow_reader`), predicts, and hands back keys + outputs.

The functions shipped to executors only capture plain values (paths, names, lists); the model comes
from :mod:`airflow_provider_spark_predict.models.cache`, so each Python worker loads it once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from airflow_provider_spark_predict.labels import labels_of
from airflow_provider_spark_predict.models.base import Prediction
from airflow_provider_spark_predict.models.frames import (  # noqa: F401 - arrow_to_matrix: re-exported
    MATRIX,
    arrow_to_matrix,
    matrix_type,
    numpy_dtype,
)
from airflow_provider_spark_predict.spec import OutputsSpec

#: target bytes of one Arrow batch of features: bounds Python worker memory, whatever the partition size
BATCH_TARGET_BYTES = 32 * 1024 * 1024
GROUP_COLUMN = "__spark_predict_group"


@dataclass
class OutputPlan:
    """The output columns and their types, decided on the driver from the loaded model.

    :param outputs: the spec's output columns (without a score column for a classifier without
        probabilities: :func:`airflow_provider_spark_predict.run.engine.resolve_outputs`)
    :param classes: class labels (index -> label) for classifiers, ``None`` for regressors
    :param has_probabilities: ``False`` for a classifier whose predictions are labels only (``LinearSVC``)
    """

    outputs: OutputsSpec
    classes: list[Any] | None
    has_probabilities: bool = True

    @property
    def prediction_type(self) -> str:
        if self.classes is None:
            return "double"
        if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in self.classes):
            return "int"
        return "string"

    def spark_fields(self) -> list[Any]:
        from pyspark.sql import types as T

        kinds = {"int": T.IntegerType(), "double": T.DoubleType(), "string": T.StringType()}
        o = self.outputs
        fields = [T.StructField(o.prediction_column, kinds[self.prediction_type], True)]
        if o.score_column:
            fields.append(T.StructField(o.score_column, T.DoubleType(), True))
        if o.probability_column:
            fields.append(T.StructField(o.probability_column, T.ArrayType(T.DoubleType(), True), True))
        if o.label_column:
            fields.append(T.StructField(o.label_column, T.StringType(), True))
        return fields

    def arrow_fields(self) -> list[Any]:
        """The output columns as pyarrow fields (the same types as :meth:`spark_fields`)."""
        import pyarrow as pa

        kinds = {"int": pa.int32(), "double": pa.float64(), "string": pa.string()}
        o = self.outputs
        fields = [pa.field(o.prediction_column, kinds[self.prediction_type])]
        if o.score_column:
            fields.append(pa.field(o.score_column, pa.float64()))
        if o.probability_column:
            fields.append(pa.field(o.probability_column, pa.list_(pa.float64())))
        if o.label_column:
            fields.append(pa.field(o.label_column, pa.string()))
        return fields

    def columns(self, pred: Prediction) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Turn a prediction into output columns: name -> (values, null mask or None)."""
        o = self.outputs
        cols: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        if pred.labels is not None:
            if self.classes is None:
                raise ValueError("a classifier output needs classes")
            if o.score_column or o.probability_column:
                raise ValueError("the model gives no class probabilities: no score/probability column")
            classes = np.asarray(self.classes, dtype=object if self.prediction_type == "string" else None)
            order = np.argsort(classes, kind="stable")
            predicted = np.asarray(pred.labels)
            pos = np.clip(np.searchsorted(classes[order], predicted), 0, len(classes) - 1)
            idx = order[pos]
            if not np.array_equal(classes[idx].astype(object), predicted.astype(object)):
                raise ValueError(f"model predicted labels outside its classes {self.classes[:20]}")
            values = classes[idx].astype(np.int32) if self.prediction_type == "int" else classes[idx]
            cols[o.prediction_column] = (values, None)
            if o.label_column:
                cols[o.label_column] = self._labels(idx, None)
        elif pred.probabilities is not None:
            if self.classes is None:
                raise ValueError("a classifier output needs classes")
            probs = pred.probabilities
            if probs.shape[1] != len(self.classes):
                raise ValueError(f"model returned {probs.shape[1]} probabilities for {len(self.classes)} classes")
            bad = np.isnan(probs).any(axis=1)
            idx = np.argmax(np.where(np.isnan(probs), -np.inf, probs), axis=1)
            labels = np.asarray(self.classes, dtype=object if self.prediction_type == "string" else None)
            predicted = labels[idx]
            if self.prediction_type == "int":
                predicted = predicted.astype(np.int32)
            cols[o.prediction_column] = (predicted, bad if bad.any() else None)
            if o.score_column:
                score = probs[np.arange(len(idx)), idx]
                cols[o.score_column] = (np.where(bad, np.nan, score), None)
            if o.probability_column:
                cols[o.probability_column] = (probs, None)
            if o.label_column:
                cols[o.label_column] = self._labels(idx, bad)
        else:
            values = np.asarray(pred.values, dtype=np.float64)
            cols[o.prediction_column] = (values, None)
            if o.score_column:
                cols[o.score_column] = (values, None)
            if o.probability_column or o.label_column:
                raise ValueError("probability/label columns need a classifier")
        return cols

    def _labels(self, idx: np.ndarray, bad: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The label column: ``label_mapping`` of each row's class (:func:`labels_of`); null where the row
        has no prediction (``bad``) or the mapping has no label for the class."""
        assert self.classes is not None
        labels = labels_of(self.outputs.label_mapping, self.classes)
        names = np.asarray(labels, dtype=object)[idx]
        mask = np.asarray([label is None for label in labels], dtype=bool)[idx]  # per class, not per row
        if bad is not None:
            mask |= bad
        return names, mask if mask.any() else None


@dataclass
class WorkerCounters:
    """Accumulators the executor functions add to: model loads and seconds spent inside the model's
    ``predict`` (summed over workers), so the report can say how many loads happened and how much of
    the job was the model itself rather than the data path.

    :param loads: int accumulator
    :param predict_s: float accumulator
    :param rows: int accumulator of rows scored (the driver's progress lines read it); ``None``: not counted
    :param unseen: ``{column: count}`` accumulator of categorical values not seen in training
        (:attr:`airflow_provider_spark_predict.models.frames.ModelInput.unseen`); ``None``: not counted
    """

    loads: Any
    predict_s: Any
    rows: Any = None
    unseen: Any = None

    @classmethod
    def create(cls, sc: Any) -> WorkerCounters:
        return cls(sc.accumulator(0), sc.accumulator(0.0), sc.accumulator(0), sc.accumulator({}, CountsParam()))

    def predict(self, model: Any, x: Any) -> Prediction:
        """``model.predict(x)``, timed; the unseen categorical values of ``x`` (a ``ModelInput``) counted."""
        t0 = time.perf_counter()
        pred = model.predict(x)
        self.predict_s.add(time.perf_counter() - t0)
        if self.rows is not None:
            n_rows = getattr(x, "n_rows", None)
            self.rows.add(len(x) if n_rows is None else n_rows)
        unseen = getattr(x, "unseen", None)
        if unseen and self.unseen is not None:
            self.unseen.add(dict(unseen))
        return pred


class CountsParam:
    """Spark ``AccumulatorParam`` (and the in-process engine's adder) of ``{name: count}`` dicts."""

    def zero(self, value: dict[str, int]) -> dict[str, int]:
        return {}

    def addInPlace(self, a: dict[str, int], b: dict[str, int]) -> dict[str, int]:  # noqa: N802 - Spark's name
        for k, n in b.items():
            a[k] = a.get(k, 0) + int(n)
        return a


def worker_model(model_name: str, flavor: str, counters: WorkerCounters) -> Any:
    """The model shipped as ``model_name`` (SparkFiles), from this Python worker's cache; a real load
    adds one to ``counters.loads``."""
    from pyspark import SparkFiles

    from airflow_provider_spark_predict.models import cache

    before = cache.load_count()
    model = cache.get_model(SparkFiles.get(model_name), flavor)
    if cache.load_count() > before:
        counters.loads.add(1)
    return model


def batch_rows_for(n_features: int, requested: int | None) -> int:
    """Arrow batch size: ``requested``, or ~32 MB of float64 features, between 1,000 and 100,000 rows."""
    if requested:
        return requested
    return max(1_000, min(100_000, BATCH_TARGET_BYTES // max(1, 8 * n_features)))


def score_batch(
    model: Any,
    batch: Any,
    *,
    n_keys: int,
    names: list[str],
    plan: OutputPlan,
    fill_value: float | None,
    counters: WorkerCounters | None = None,
    dtype: Any = None,
    key_types: list[Any] | None = None,
    buffer: np.ndarray | None = None,
    features: list[str] | None = None,
) -> Any:
    """Score one Arrow RecordBatch of keys + features into a RecordBatch of keys + outputs.

    Every engine and reader scores through this function: ``model.prepare`` builds the model's input
    (:mod:`airflow_provider_spark_predict.models.frames`: a float matrix -- float32 when every feature is
    float32, else float64, or ``dtype`` decided for the whole input; nulls -> NaN -> ``fill_value`` -- or a
    DataFrame for ``frame`` models), then ``model.predict``.

    :param model: the loaded model adapter (``prepare`` + ``predict``)
    :param batch: ``n_keys`` key columns, then the features in the model's order
    :param n_keys: number of key columns
    :param names: output column names (keys, then ``plan``'s outputs)
    :param plan: the output columns
    :param fill_value: value for missing features, or ``None`` to keep NaN
    :param counters: worker counters to time ``predict`` in (``None``: not timed)
    :param dtype: matrix dtype; ``None`` applies :func:`matrix_type` to this batch
    :param key_types: Arrow types to cast the keys to (``None``: unchanged)
    :param buffer: reusable matrix buffer (see :func:`arrow_to_matrix`)
    :param features: the feature names (``None``: the batch's column names)
    """
    import pyarrow as pa

    feats = [batch.column(j) for j in range(n_keys, batch.num_columns)]
    x = model.prepare(feats, features or batch.schema.names[n_keys:], fill_value, buffer, dtype)
    pred = counters.predict(model, x) if counters is not None else model.predict(x)
    keys = [batch.column(k) for k in range(n_keys)]
    if key_types is not None:
        keys = [_as_type(a, t) for a, t in zip(keys, key_types, strict=True)]
    outputs = [_arrow_column(pa, values, mask) for values, mask in plan.columns(pred).values()]
    return pa.RecordBatch.from_arrays(keys + outputs, names=names)


@dataclass
class ExecutorScoring:
    """What every executor-side scoring function captures: plain values only (names, lists, the output
    plan, accumulators), so it ships with the function; the model itself comes from the worker's cache.

    :param model_name: the model file's name in SparkFiles
    :param flavor: the flavor to load it with
    :param keys: key columns, passed through
    :param features: feature columns in the model's order
    :param fill_value: value for missing features, or ``None``
    :param plan: the output columns
    :param counters: the job's accumulators
    """

    model_name: str
    flavor: str
    keys: list[str]
    features: list[str]
    fill_value: float | None
    plan: OutputPlan
    counters: WorkerCounters

    @property
    def out_names(self) -> list[str]:
        return list(self.keys) + [f.name for f in self.plan.spark_fields()]

    def model(self) -> Any:
        """This Python worker's model (loaded once per worker)."""
        return worker_model(self.model_name, self.flavor, self.counters)

    def batch(self, model: Any, batch: Any, **kwargs: Any) -> Any:
        """:func:`score_batch` of one Arrow batch of keys + features with this run's columns and plan."""
        return score_batch(model, batch, n_keys=len(self.keys), names=self.out_names, plan=self.plan,
                           fill_value=self.fill_value, counters=self.counters, features=self.features, **kwargs)


def make_map_function(run: ExecutorScoring) -> Any:
    """Return the mapInArrow function: Arrow batches of keys+features in, keys+outputs out."""

    def score_batches(batches: Any) -> Any:
        model = run.model()
        for batch in batches:
            if batch.num_rows:
                yield run.batch(model, batch)

    return score_batches


def make_split_function(
    files: list[str],
    tasks: list[list[Any]],
    run: ExecutorScoring,
    key_types: list[Any],
    feature_dtype: str,
    batch_rows: int,
    file_format: str = "parquet",
) -> Any:
    """Return the mapInArrow function of :func:`score_splits`: task indexes in, keys+outputs out."""
    dtype = numpy_dtype(feature_dtype)

    def score_tasks(batches: Any) -> Any:
        from airflow_provider_spark_predict.job.arrow_reader import read_batches, use_system_allocator

        use_system_allocator()
        model = run.model()
        matrix = (np.empty(batch_rows * len(run.features), dtype=dtype)  # reused by every batch of the task
                  if model.input_kind == MATRIX else None)
        for ids in batches:
            for t in ids.column(0).to_pylist():
                for split in tasks[t]:
                    for batch in read_batches(files[split.file], run.keys, run.features, batch_rows,
                                              split.start, split.length, file_format):
                        if batch.num_rows:
                            yield run.batch(model, batch, dtype=dtype, key_types=key_types, buffer=matrix)

    return score_tasks


def _as_type(array: Any, arrow_type: Any) -> Any:
    return array if array.type == arrow_type else array.cast(arrow_type)


def score_splits(
    spark: Any,
    files: list[str],
    tasks: list[list[Any]],
    *,
    key_fields: list[Any],
    model_name: str,
    flavor: str,
    features: list[str],
    feature_dtype: str,
    fill_value: float | None,
    plan: OutputPlan,
    counters: WorkerCounters,
    batch_rows: int,
    file_format: str = "parquet",
) -> Any:
    """The ``map`` strategy with the ``pyarrow`` reader (:mod:`.arrow_reader`): Spark distributes the
    tasks (lists of file splits), the Python workers read the parquet row groups (ORC stripes) themselves.

    Same output as ``score(reader.cast_features(df, ...), strategy="map", ...)`` for the rows of ``files``
    (check :func:`arrow_reader.unsupported_reason` first): features cast to ``feature_dtype`` (``float``:
    every feature is float32 in the input; ``double``: every feature cast to float64), nulls -> NaN ->
    ``fill_value``.

    :param spark: the SparkSession
    :param files: the input files (e.g. ``df.inputFiles()`` of the partition's DataFrame)
    :param tasks: :func:`arrow_reader.plan_tasks` over the files' sizes
    :param key_fields: Spark StructFields of the key columns (e.g. ``[df.schema[k] for k in keys]``)
    :param feature_dtype: ``float`` or ``double``, as :func:`reader.feature_dtype` decided
    :param batch_rows: rows per Arrow batch (:func:`batch_rows_for`)
    :param file_format: ``parquet`` or ``orc``
    """
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_type

    keys = [f.name for f in key_fields]
    schema = T.StructType(list(key_fields) + plan.spark_fields())
    if not tasks:
        return spark.createDataFrame([], schema)
    key_types = [to_arrow_type(f.dataType) for f in key_fields]
    run = ExecutorScoring(model_name, flavor, keys, features, fill_value, plan, counters)
    fn = make_split_function(list(files), tasks, run, key_types, feature_dtype, batch_rows, file_format)
    ids = spark.range(0, len(tasks), 1, numPartitions=len(tasks))
    return ids.mapInArrow(fn, schema)


def _arrow_column(pa: Any, values: np.ndarray, mask: np.ndarray | None) -> Any:
    if values.ndim == 2:
        n, k = values.shape
        offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))
    if values.dtype == object:
        return pa.array(values.tolist(), type=pa.string(), mask=mask)
    return pa.array(values, mask=mask)


def make_grouped_function(run: ExecutorScoring) -> Any:
    """Return the applyInPandas function for the ``grouped`` strategy."""

    def score_group(pdf: Any) -> Any:
        import pandas as pd
        import pyarrow as pa

        columns = [*run.keys, *run.features]  # a key may also be a feature
        batch = pa.RecordBatch.from_arrays([pa.Array.from_pandas(pdf[c]) for c in columns], names=columns)
        scored = run.batch(run.model(), batch)
        return scored.to_pandas(types_mapper={pa.int32(): pd.Int32Dtype()}.get)  # null classes stay ints

    return score_group


def group_count(rows_in: int, num_groups: int | None, target_group_rows: int) -> int:
    """Number of groups of the grouped strategy: given, or ``ceil(rows_in / target_group_rows)``."""
    if num_groups:
        return num_groups
    return max(1, math.ceil(rows_in / target_group_rows))


def score(
    df: Any,
    *,
    strategy: str,
    model_name: str,
    flavor: str,
    keys: list[str],
    features: list[str],
    fill_value: float | None,
    plan: OutputPlan,
    counters: WorkerCounters,
    rows_in: int,
    num_groups: int | None = None,
    target_group_rows: int = 200_000,
) -> tuple[Any, dict[str, Any]]:
    """Return the scored DataFrame (keys + outputs) and facts about the strategy for the report."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    key_fields = [df.schema[k] for k in keys]
    schema = T.StructType(key_fields + plan.spark_fields())
    run = ExecutorScoring(model_name, flavor, keys, features, fill_value, plan, counters)
    if strategy == "map":
        return df.mapInArrow(make_map_function(run), schema), {"strategy": "map"}
    n = group_count(rows_in, num_groups, target_group_rows)
    key_hash = F.xxhash64(*[F.col(f"`{k}`") for k in keys])
    grouped = df.withColumn(GROUP_COLUMN, F.pmod(key_hash, F.lit(n)))
    scored = grouped.groupBy(GROUP_COLUMN).applyInPandas(make_grouped_function(run), schema)
    return scored, {"strategy": "grouped", "num_groups": n}
