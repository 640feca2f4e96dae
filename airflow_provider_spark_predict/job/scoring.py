"""Score a DataFrame on the executors: strategy ``map`` (mapInArrow) or ``grouped`` (applyInPandas).

The functions shipped to executors only capture plain values (paths, names, lists); the model comes
from :mod:`airflow_provider_spark_predict.models.cache`, so each Python worker loads it once.
"""

from __future__ import annotations

import math
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


def batch_rows_for(n_features: int, requested: int | None) -> int:
    """Arrow batch size: ``requested``, or ~32 MB of float64 features, between 1,000 and 100,000 rows."""
    if requested:
        return requested
    return max(1_000, min(100_000, BATCH_TARGET_BYTES // max(1, 8 * n_features)))


def to_matrix(columns: list[np.ndarray], n_rows: int, dtype: Any, fill_value: float | None) -> np.ndarray:
    """Stack feature columns into a C-ordered ``(n_rows, n_features)`` matrix, filling NaN if asked."""
    x = np.empty((n_rows, len(columns)), dtype=dtype)
    for j, col in enumerate(columns):
        x[:, j] = col
    if fill_value is not None:
        np.nan_to_num(x, copy=False, nan=fill_value)
    return x


def make_map_function(
    model_name: str,
    flavor: str,
    keys: list[str],
    features: list[str],
    fill_value: float | None,
    plan: OutputPlan,
    load_counter: Any,
) -> Any:
    """Return the mapInArrow function: Arrow batches of keys+features in, keys+outputs out."""
    out_names = list(keys) + [f.name for f in plan.spark_fields()]

    def score_batches(batches: Any) -> Any:
        import pyarrow as pa
        from pyspark import SparkFiles

        from airflow_provider_spark_predict.models import cache

        before = cache.load_count()
        model = cache.get_model(SparkFiles.get(model_name), flavor)
        if cache.load_count() > before:
            load_counter.add(1)
        n_keys = len(keys)
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            feats = [batch.column(n_keys + j).to_numpy(zero_copy_only=False) for j in range(len(features))]
            dtype = np.float32 if all(f.dtype == np.float32 for f in feats) else np.float64
            pred = model.predict(to_matrix(feats, n, dtype, fill_value))
            arrays = [batch.column(i) for i in range(n_keys)]
            for values, mask in plan.columns(pred).values():
                arrays.append(_arrow_column(pa, values, mask))
            yield pa.RecordBatch.from_arrays(arrays, names=out_names)

    return score_batches


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
    load_counter: Any,
) -> Any:
    """Return the applyInPandas function for the ``grouped`` strategy."""

    def score_group(pdf: Any) -> Any:
        import pandas as pd
        from pyspark import SparkFiles

        from airflow_provider_spark_predict.models import cache

        before = cache.load_count()
        model = cache.get_model(SparkFiles.get(model_name), flavor)
        if cache.load_count() > before:
            load_counter.add(1)
        feats = [pdf[f].to_numpy() for f in features]
        dtype = np.float32 if all(f.dtype == np.float32 for f in feats) else np.float64
        pred = model.predict(to_matrix(feats, len(pdf), dtype, fill_value))
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
    load_counter: Any,
    rows_in: int,
    num_groups: int | None = None,
    target_group_rows: int = 200_000,
) -> tuple[Any, dict[str, Any]]:
    """Return the scored DataFrame (keys + outputs) and facts about the strategy for the report."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    key_fields = [df.schema[k] for k in keys]
    schema = T.StructType(key_fields + plan.spark_fields())
    args = (model_name, flavor, keys, features, fill_value, plan, load_counter)
    if strategy == "map":
        return df.mapInArrow(make_map_function(*args), schema), {"strategy": "map"}
    n = group_count(rows_in, num_groups, target_group_rows)
    key_hash = F.xxhash64(*[F.col(f"`{k}`") for k in keys])
    grouped = df.withColumn(GROUP_COLUMN, F.pmod(key_hash, F.lit(n)))
    scored = grouped.groupBy(GROUP_COLUMN).applyInPandas(make_grouped_function(*args), schema)
    return scored, {"strategy": "grouped", "num_groups": n}
