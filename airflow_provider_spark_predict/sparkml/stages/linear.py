"""Linear models: LogisticRegressionModel (binomial, multinomial) and LinearRegressionModel."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from airflow_provider_spark_predict.sparkml.loader import (
    decode_matrix_rows,
    decode_vector,
    read_table,
    sparse_entries,
)
from airflow_provider_spark_predict.sparkml.stages.base import RowFn
from airflow_provider_spark_predict.sparkml.stages.outputs import (
    CLASSIFIER_COLS,
    REGRESSOR_COLS,
    PredictorStage,
    argmax,
    jexp,
    thresholds_prediction,
)


def dot(x: list[float], entries: list[tuple[int, float]]) -> float:
    """Sequential dot product over the stored coefficient entries (Spark's sparse/dense ``dot`` order).

    :param x: dense features.
    :param entries: stored ``(index, coefficient)`` pairs.
    :return: the sum.
    """
    s = 0.0
    for j, c in entries:
        s += x[j] * c
    return s


class LogisticRegressionModel(PredictorStage):
    """``LogisticRegressionModel``: binomial (p1 = 1 - p0) and multinomial (softmax)."""

    SPARK_CLASSES = ("org.apache.spark.ml.classification.LogisticRegressionModel",)
    SCORING_PARAMS = CLASSIFIER_COLS | {"threshold"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.setup_columns(classifier=True)
        data = read_table(folder / "data").to_pylist()[0]
        if "coefficientMatrix" not in data:
            raise self.refuse(None, "pre-2.1 LogisticRegression data layout is not supported")
        self.num_classes = int(data["numClasses"])
        self.multinomial = bool(data["isMultinomial"])
        self.rows = decode_matrix_rows(data["coefficientMatrix"])
        self.intercepts = decode_vector(data["interceptVector"]) or []
        set_params = meta.get("paramMap") or {}
        if self.thresholds is not None and "thresholds" in set_params:
            t0, t1 = (self.thresholds + [1.0, 1.0])[:2]
            self.threshold = 1.0 / (1.0 + t0 / t1) if len(self.thresholds) == 2 else 0.5
        else:
            self.threshold = float(self.param("threshold", 0.5))
            self.thresholds = None if self.multinomial else self.thresholds

    def compile(self) -> RowFn:
        if self.multinomial:
            return self._compile_multinomial()
        return self._compile_binomial()

    def _compile_binomial(self) -> RowFn:
        entries = self.rows[0]
        intercept = self.intercepts[0]
        t = self.threshold
        raw_threshold = -math.inf if t == 0.0 else (math.inf if t == 1.0 else math.log(t / (1.0 - t)))
        features = self.features
        emit = self.emit
        use_raw = bool(self.raw_col)

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            x = row[features]
            m = dot(x, entries) + intercept
            raw = [-m, m]
            p0 = 1.0 / (1.0 + jexp(m))
            prob = [p0, 1.0 - p0]
            if use_raw:
                pred = 1.0 if m > raw_threshold else 0.0
            else:
                pred = 1.0 if prob[1] > t else 0.0
            emit(row, raw, prob, pred)
            return True

        return fn

    def _compile_multinomial(self) -> RowFn:
        rows = self.rows
        intercepts = self.intercepts
        k = len(rows)
        features = self.features
        thresholds = self.thresholds
        emit = self.emit

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            x = row[features]
            raw = [dot(x, rows[i]) + intercepts[i] for i in range(k)]
            mx = raw[argmax(raw)]
            if mx == math.inf:
                prob = [0.0] * k
                prob[argmax(raw)] = 1.0
            else:
                exps = [jexp(v - mx) for v in raw]
                total = 0.0
                for e in exps:
                    total += e
                inv = 1.0 / total
                prob = [e * inv for e in exps]
            pred = thresholds_prediction(prob, thresholds) if thresholds else float(argmax(raw))
            emit(row, raw, prob, pred)
            return True

        return fn


class LinearRegressionModel(PredictorStage):
    """``LinearRegressionModel``: ``dot(x, coefficients) + intercept``."""

    SPARK_CLASSES = ("org.apache.spark.ml.regression.LinearRegressionModel",)
    SCORING_PARAMS = REGRESSOR_COLS

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.setup_columns(classifier=False)
        data = read_table(folder / "data").to_pylist()[0]
        self.intercept = float(data["intercept"])
        self.entries = sparse_entries(data["coefficients"])

    def compile(self) -> RowFn:
        entries, intercept = self.entries, self.intercept
        features, out = self.features, self.pred_col

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            row[out] = dot(row[features], entries) + intercept
            return True

        return fn
