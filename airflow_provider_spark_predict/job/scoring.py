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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from airflow_provider_spark_predict.models.base import Prediction
from airflow_provider_spark_predict.spec import OutputsSpec

#: target bytes of one Arrow batch of features: bounds Python worker memory, whatever the partition size
BATCH_TARGET_BYTES = 32 * 1024 * 1024
GROUP_COLUMN = "__spark_predict_group"


@dataclass
class OutputPlan:
    """The output columns and their types, decided on the driver from the loaded model.

    :param outputs: the spec's output columns
    :param classes: class labels (index -> label) for classifiers, ``None`` for regressors
    """

    outputs: OutputsSpec
    classes: list[Any] | None

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
        if pred.probabilities is not None:
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
                mapping = o.label_mapping or {}
                names = np.asarray([mapping.get(str(c)) for c in self.classes], dtype=object)
                cols[o.label_column] = (names[idx], bad if bad.any() else None)
        else:
            values = np.asarray(pred.values, dtype=np.float64)
            cols[o.prediction_column] = (values, None)
            if o.score_column:
                cols[o.score_column] = (values, None)
            if o.probability_column or o.label_column:
                raise ValueError("probability/label columns need a classifier")
        return cols


@dataclass
class WorkerCounters:
    """Accumulators the executor functions add to: model loads and seconds spent inside the model's
    ``predict`` (summed over workers), so the report can say how many loads happened and how much of
    the job was the model itself rather than the data path.

    :param loads: int accumulator
    :param predict_s: float accumulator
    :param rows: int accumulator of rows scored (the driver's progress lines read it)
    """

    loads: Any
    predict_s: Any
    rows: Any = None

    @classmethod
    def create(cls, sc: Any) -> WorkerCounters:
        return cls(sc.accumulator(0), sc.accumulator(0.0), sc.accumulator(0))

    def predict(self, model: Any, x: np.ndarray) -> Prediction:
        """``model.predict(x)``, timed."""
        t0 = time.perf_counter()
        pred = model.predict(x)
        self.predict_s.add(time.perf_counter() - t0)
        if self.rows is not None:
            self.rows.add(len(x))
        return pred


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


def to_matrix(columns: list[np.ndarray], n_rows: int, dtype: Any, fill_value: float | None) -> np.ndarray:
    """Stack feature columns into a C-ordered ``(n_rows, n_features)`` matrix; NaN (missing) becomes
    ``fill_value`` when one is given (infinities are values, not missing, and stay as they are)."""
    x = np.empty((n_rows, len(columns)), dtype=dtype)
    for j, col in enumerate(columns):
        x[:, j] = col
    if fill_value is not None:
        _fill_nan(x, fill_value)
    return x


def _fill_nan(x: np.ndarray, fill_value: float) -> None:
    np.copyto(x, np.asarray(fill_value, dtype=x.dtype), where=np.isnan(x))


def matrix_type(feature_types: Iterable[str]) -> str:
    """The feature matrix rule of every engine: ``float`` (float32 kept) when every feature is float32,
    else ``double`` (float64). Spark's type names and pyarrow's (``str(pa.float32())``) are the same."""
    return "float" if all(t == "float" for t in feature_types) else "double"


def numpy_dtype(type_name: str) -> Any:
    """``numpy.float32`` for ``float``, else ``numpy.float64``."""
    return np.float32 if type_name == "float" else np.float64


def arrow_dtype(arrays: list[Any]) -> Any:
    """``float32`` or ``float64`` for these Arrow feature arrays (:func:`matrix_type`)."""
    return numpy_dtype(matrix_type(str(a.type) for a in arrays))


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
) -> Any:
    """Score one Arrow RecordBatch of keys + features into a RecordBatch of keys + outputs.

    Every engine and reader scores through this function. Features: float32 when every feature is
    float32, else float64 (:func:`matrix_type`, or ``dtype`` decided for the whole input); nulls -> NaN ->
    ``fill_value``.

    :param model: the loaded model (``predict(matrix) -> Prediction``)
    :param batch: ``n_keys`` key columns, then the features in the model's order
    :param n_keys: number of key columns
    :param names: output column names (keys, then ``plan``'s outputs)
    :param plan: the output columns
    :param fill_value: value for missing features, or ``None`` to keep NaN
    :param counters: worker counters to time ``predict`` in (``None``: not timed)
    :param dtype: matrix dtype; ``None`` applies :func:`matrix_type` to this batch
    :param key_types: Arrow types to cast the keys to (``None``: unchanged)
    :param buffer: reusable matrix buffer (see :func:`arrow_to_matrix`)
    """
    import pyarrow as pa

    feats = [batch.column(j) for j in range(n_keys, batch.num_columns)]
    x = arrow_to_matrix(feats, dtype or arrow_dtype(feats), fill_value, buffer)
    pred = counters.predict(model, x) if counters is not None else model.predict(x)
    keys = [batch.column(k) for k in range(n_keys)]
    if key_types is not None:
        keys = [_as_type(a, t) for a, t in zip(keys, key_types, strict=True)]
    outputs = [_arrow_column(pa, values, mask) for values, mask in plan.columns(pred).values()]
    return pa.RecordBatch.from_arrays(keys + outputs, names=names)


def arrow_to_matrix(arrays: list[Any], dtype: Any, fill_value: float | None,
                    buffer: np.ndarray | None = None) -> np.ndarray:
    """Build the C-ordered ``(n_rows, n_features)`` matrix straight from Arrow arrays.

    Each column's value buffer is viewed zero-copy and written once into the matrix (no per-column
    numpy/pandas intermediate); nulls become NaN, then ``fill_value`` when one is given. Arrays of another
    numeric/boolean type are cast to ``dtype`` first.

    :param arrays: one ``pyarrow.Array`` (or ``ChunkedArray``) per feature, all of the same length
    :param dtype: ``numpy.float32`` or ``numpy.float64``
    :param fill_value: value for missing features, or ``None`` to keep NaN (the model's "missing")
    :param buffer: a 1-d array of ``dtype`` to build the matrix in when it is large enough (the result is
        then a view of it, valid until the next call with the same buffer): saves a fresh allocation, and
        its page faults, per batch
    """
    import pyarrow as pa

    dtype = np.dtype(dtype)
    target = pa.from_numpy_dtype(dtype)
    n = len(arrays[0]) if arrays else 0
    if buffer is not None and buffer.dtype == dtype and buffer.size >= n * len(arrays):
        x = buffer[:n * len(arrays)].reshape(n, len(arrays))
    else:
        x = np.empty((n, len(arrays)), dtype=dtype)
    if n == 0:
        return x
    for j, a in enumerate(arrays):
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        if a.type != target:
            a = a.cast(target, safe=False)
        if len(a) != n:
            raise ValueError(f"feature array {j} has {len(a)} rows, expected {n}")
        if a.null_count == n:
            x[:, j] = np.nan
            continue
        validity, data = a.buffers()[:2]
        x[:, j] = np.frombuffer(data, dtype=dtype, count=n, offset=a.offset * dtype.itemsize)
        if a.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            x[bits[a.offset:a.offset + n] == 0, j] = np.nan
    if fill_value is not None:
        _fill_nan(x, fill_value)  # nulls and NaN values alike
    return x


def make_map_function(
    model_name: str,
    flavor: str,
    keys: list[str],
    features: list[str],
    fill_value: float | None,
    plan: OutputPlan,
    counters: WorkerCounters,
) -> Any:
    """Return the mapInArrow function: Arrow batches of keys+features in, keys+outputs out."""
    out_names = list(keys) + [f.name for f in plan.spark_fields()]

    def score_batches(batches: Any) -> Any:
        model = worker_model(model_name, flavor, counters)
        for batch in batches:
            if batch.num_rows:
                yield score_batch(model, batch, n_keys=len(keys), names=out_names, plan=plan,
                                  fill_value=fill_value, counters=counters)

    return score_batches


def make_split_function(
    files: list[str],
    tasks: list[list[Any]],
    model_name: str,
    flavor: str,
    keys: list[str],
    key_types: list[Any],
    features: list[str],
    feature_dtype: str,
    fill_value: float | None,
    plan: OutputPlan,
    counters: WorkerCounters,
    batch_rows: int,
) -> Any:
    """Return the mapInArrow function of :func:`score_splits`: task indexes in, keys+outputs out."""
    out_names = list(keys) + [f.name for f in plan.spark_fields()]
    dtype = numpy_dtype(feature_dtype)

    def score_tasks(batches: Any) -> Any:
        from airflow_provider_spark_predict.job.arrow_reader import read_batches, use_system_allocator

        use_system_allocator()
        model = worker_model(model_name, flavor, counters)
        matrix = np.empty(batch_rows * len(features), dtype=dtype)  # reused by every batch of the task
        for ids in batches:
            for t in ids.column(0).to_pylist():
                for split in tasks[t]:
                    for batch in read_batches(files[split.file], keys, features, batch_rows,
                                              split.start, split.length):
                        if batch.num_rows:
                            yield score_batch(model, batch, n_keys=len(keys), names=out_names, plan=plan,
                                              fill_value=fill_value, counters=counters, dtype=dtype,
                                              key_types=key_types, buffer=matrix)

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
) -> Any:
    """The ``map`` strategy with the ``pyarrow`` reader (:mod:`.arrow_reader`): Spark distributes the
    tasks (lists of file splits), the Python workers read the parquet row groups themselves.

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
    """
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_type

    keys = [f.name for f in key_fields]
    schema = T.StructType(list(key_fields) + plan.spark_fields())
    if not tasks:
        return spark.createDataFrame([], schema)
    key_types = [to_arrow_type(f.dataType) for f in key_fields]
    fn = make_split_function(list(files), tasks, model_name, flavor, keys, key_types, features, feature_dtype,
                             fill_value, plan, counters, batch_rows)
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


def make_grouped_function(
    model_name: str,
    flavor: str,
    keys: list[str],
    features: list[str],
    fill_value: float | None,
    plan: OutputPlan,
    counters: WorkerCounters,
) -> Any:
    """Return the applyInPandas function for the ``grouped`` strategy."""

    def score_group(pdf: Any) -> Any:
        import pandas as pd

        model = worker_model(model_name, flavor, counters)
        feats = [pdf[f].to_numpy() for f in features]
        dtype = numpy_dtype(matrix_type("float" if f.dtype == np.float32 else "double" for f in feats))
        pred = counters.predict(model, to_matrix(feats, len(pdf), dtype, fill_value))
        out = {k: pdf[k].to_numpy() for k in keys}
        for name, (values, mask) in plan.columns(pred).items():
            if values.ndim == 2:
                out[name] = list(values)
            elif mask is not None:
                out[name] = pd.array(
                    [None if m else v for v, m in zip(values.tolist(), mask, strict=True)],
                    dtype="Int32" if plan.prediction_type == "int" and name == plan.outputs.prediction_column else object,
                )
            else:
                out[name] = values
        return pd.DataFrame(out)

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
    args = (model_name, flavor, keys, features, fill_value, plan, counters)
    if strategy == "map":
        return df.mapInArrow(make_map_function(*args), schema), {"strategy": "map"}
    n = group_count(rows_in, num_groups, target_group_rows)
    key_hash = F.xxhash64(*[F.col(f"`{k}`") for k in keys])
    grouped = df.withColumn(GROUP_COLUMN, F.pmod(key_hash, F.lit(n)))
    scored = grouped.groupBy(GROUP_COLUMN).applyInPandas(make_grouped_function(*args), schema)
    return scored, {"strategy": "grouped", "num_groups": n}
