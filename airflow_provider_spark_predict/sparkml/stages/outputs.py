"""Shared prediction helpers: Spark's argmax, thresholds rule, exp that overflows to Infinity."""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_spark_predict.sparkml.stages.base import LocalStage

CLASSIFIER_COLS = frozenset(
    {"featuresCol", "predictionCol", "rawPredictionCol", "probabilityCol", "thresholds"}
)
REGRESSOR_COLS = frozenset({"featuresCol", "predictionCol"})


def jexp(x: float) -> float:
    """``Math.exp`` without Python's OverflowError (may differ from the JVM intrinsic by 1 ulp).

    :param x: exponent.
    :return: e**x, Infinity on overflow.
    """
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def argmax(values: list[float]) -> int:
    """``DenseVector.argmax``: first maximum, comparisons with ``>`` (NaN never wins).

    :param values: the vector.
    :return: the index.
    """
    best, best_i = values[0], 0
    for i in range(1, len(values)):
        if values[i] > best:
            best, best_i = values[i], i
    return best_i


def thresholds_prediction(prob: list[float], thresholds: list[float]) -> float:
    """``ProbabilisticClassificationModel.probability2prediction`` with ``thresholds``.

    :param prob: class probabilities.
    :param thresholds: per-class thresholds.
    :return: the predicted class as a float.
    """
    best_i, best = 0, -math.inf
    for i, p in enumerate(prob):
        t = thresholds[i]
        if t == 0.0:
            scaled = math.nan if p == 0.0 else math.inf
        else:
            scaled = p / t
        if scaled > best:
            best, best_i = scaled, i
    return float(best_i)


def normalize(values: list[float]) -> list[float]:
    """``normalizeToProbabilitiesInPlace``: divide by the sequential sum.

    :param values: raw counts or votes.
    :return: probabilities.
    """
    total = 0.0
    for v in values:
        total += v
    if total == 0.0:  # Java double division: x/0 is +-Infinity, 0/0 and NaN/0 are NaN
        return [math.nan if (v == 0.0 or v != v) else math.copysign(math.inf, v) for v in values]
    return [v / total for v in values]


class PredictorStage(LocalStage):
    """A stage reading ``featuresCol`` and writing raw/probability/prediction columns."""

    def setup_columns(self, classifier: bool) -> None:
        """Read the column params (empty string = column not written).

        :param classifier: whether raw/probability columns exist.
        """
        self.features = self.param("featuresCol", "features")
        self.pred_col: str = self.param("predictionCol", "prediction") or ""
        self.raw_col: str = (self.param("rawPredictionCol", "rawPrediction") or "") if classifier else ""
        self.prob_col: str = (self.param("probabilityCol", "probability") or "") if classifier else ""
        thresholds = self.param("thresholds")
        self.thresholds: list[float] | None = [float(t) for t in thresholds] if thresholds else None
        for name in ("leafCol", "varianceCol"):
            if self.param(name):
                raise self.refuse(name, "extra output columns are not supported by the local scorer")

    @property
    def input_columns(self) -> list[str]:
        return [self.features]

    @property
    def output_columns(self) -> list[str]:
        return [c for c in (self.raw_col, self.prob_col, self.pred_col) if c]

    def vector_outputs(self) -> set[str]:
        return {c for c in (self.raw_col, self.prob_col) if c}

    def emit(self, row: dict[str, Any], raw: list[float], prob: list[float], pred: float) -> None:
        """Write the classifier outputs that are configured.

        :param row: the row.
        :param raw: raw prediction.
        :param prob: probability.
        :param pred: prediction.
        """
        if self.raw_col:
            row[self.raw_col] = raw
        if self.prob_col:
            row[self.prob_col] = prob
        if self.pred_col:
            row[self.pred_col] = pred
