"""The facts the checks read, defined once: rows, duplicate keys, null predictions, score summary, class
counts and drift (PSI) against the previous partition. Each engine only answers a few questions about a
written frame (:class:`Frame`); what the facts are is decided here, so both engines report the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_spark_predict.checks.psi import psi
from airflow_provider_spark_predict.labels import uncovered_classes
from airflow_provider_spark_predict.spec import OutputsSpec

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUM_SCORE_BINS = 10
MAX_CLASSES_FOR_DISTRIBUTION = 1000


@dataclass
class Summary:
    """One pass over a written frame.

    :param rows: row count
    :param nulls: null predictions (and NaN ones, for regressors)
    :param min: over the non-NaN values of the value column (``None`` without one)
    :param quantiles: at :data:`QUANTILES`, the smallest value with at least that share of values <= it
    """

    rows: int
    nulls: int
    min: float | None = None
    mean: float | None = None
    max: float | None = None
    quantiles: list[float | None] | None = None


class Frame(Protocol):
    """What the facts need to know about written rows (a version folder or a published partition)."""

    def summary(self, prediction: str, value: str | None, classifier: bool) -> Summary:
        """Rows, null predictions and, when ``value`` is given, the summary of that column."""
        ...

    def distinct_keys(self, keys: list[str]) -> int:
        """Number of distinct key tuples among the rows whose key columns are all non-null."""
        ...

    def null_keys(self, keys: list[str]) -> int:
        """Rows with a null in any key column."""
        ...

    def value_counts(self, column: str, limit: int | None = None) -> dict[str, int]:
        """``str(value)`` (``"None"`` for null) -> rows, for at most ``limit`` values."""
        ...

    def quantiles(self, column: str, probs: list[float]) -> list[float]:
        """Quantiles of the non-NaN values (the definition of :class:`Summary`)."""
        ...

    def bin_counts(self, column: str, edges: list[float]) -> dict[str, int]:
        """``str(number of edges below the value)`` -> rows, over the non-null, non-NaN values."""
        ...


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def value_column(outputs: OutputsSpec, classifier: bool) -> str | None:
    """The column the score summary describes: the score, else a regressor's prediction, else none."""
    return outputs.score_column or (outputs.prediction_column if not classifier else None)


def written_facts(frame: Frame, keys: list[str], outputs: OutputsSpec, classifier: bool) -> dict[str, Any]:
    """``rows_out``, ``duplicate_keys``, ``null_keys``, ``null_predictions``, ``score_summary``,
    ``class_counts`` and (with a label column) ``uncovered_labels``.

    :param frame: the written rows, re-read from storage
    :param keys: key columns
    :param outputs: the output columns
    :param classifier: whether predictions are classes (class counts) or values
    """
    prediction = outputs.prediction_column
    value = value_column(outputs, classifier)
    s = frame.summary(prediction, value, classifier)
    null_keys = frame.null_keys(keys) if s.rows else 0
    out: dict[str, Any] = {
        "rows_out": s.rows,
        "null_keys": null_keys,
        # among the rows whose keys are all non-null: NULL keys are the null_keys check's, not repeats
        "duplicate_keys": s.rows - null_keys - frame.distinct_keys(keys) if s.rows else 0,
        "null_predictions": s.nulls,
    }
    if value is not None:
        q = s.quantiles or [None] * len(QUANTILES)
        out["score_summary"] = {
            "min": _finite(s.min), "mean": _finite(s.mean), "max": _finite(s.max),
            **{f"p{int(p * 100)}": _finite(v) for p, v in zip(QUANTILES, q, strict=True)},
        }
    if classifier:
        counts = frame.value_counts(prediction, MAX_CLASSES_FOR_DISTRIBUTION + 1)
        out["class_counts"] = dict(sorted(counts.items()))
        if outputs.label_column:
            predicted = [c for c in counts if c != "None"]
            out["uncovered_labels"] = uncovered_classes(outputs.label_mapping, predicted)
    return out


def drift_facts(new: Frame, prev: Frame, prediction: str, score: str | None, classifier: bool) -> dict[str, Any]:
    """PSI of the new partition against the previous one: ``psi``, ``psi_basis``, ``previous_distribution``.

    Classifiers compare the distribution of predicted classes. Regressors compare the score in
    :data:`NUM_SCORE_BINS` bins whose edges are the previous partition's deciles.
    """
    if classifier:
        new_d, old_d = new.value_counts(prediction), prev.value_counts(prediction)
        basis = f"class distribution of {prediction}"
    else:
        name = score or prediction
        probs = [i / NUM_SCORE_BINS for i in range(1, NUM_SCORE_BINS)]
        edges = sorted({float(e) for e in prev.quantiles(name, probs)})
        new_d, old_d = new.bin_counts(name, edges), prev.bin_counts(name, edges)
        basis = f"{name} in {len(edges) + 1} bins at the previous partition's deciles"
    if not new_d or not old_d:
        return {"psi": None, "psi_basis": basis}
    return {"psi": psi(old_d, new_d), "psi_basis": basis, "previous_distribution": old_d}
