"""Helpers comparing the local scorer with Spark's saved ``transform`` output (no JVM needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from airflow_provider_spark_predict.sparkml.loader import decode_vector

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "spark_ml"
VERSIONS = ("spark-4.3", "spark-3.5")
PARITY_FIXTURES = (
    "features_lr",
    "ohe_variants",
    "skip_linreg",
    "rf_classifier",
    "gbt_dt_classifier",
    "tree_regressors",
    "lr_multinomial_l1",
)
#: Output columns computed with exp or a BLAS dot product: compared within a few ulp, not bit for bit.
APPROX = {
    "features_lr": {"rawPrediction", "probability"},
    "gbt_dt_classifier": {"rawPrediction", "probability"},
    "tree_regressors": {"gbt_pred", "lin_pred"},
    "lr_multinomial_l1": {"mn_raw", "mn_prob", "rawPrediction", "probability"},
    "skip_linreg": {"prediction"},
    "ohe_variants": {"prediction"},
}


def is_vector_struct(v: Any) -> bool:
    return isinstance(v, dict) and set(v) == {"type", "size", "indices", "values"}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a parquet file, VectorUDT structs decoded to dense lists.

    :param path: parquet file.
    :return: rows.
    """
    rows = pq.read_table(path).to_pylist()
    for r in rows:
        for k, v in r.items():
            if is_vector_struct(v):
                r[k] = decode_vector(v)
    return rows


def same(a: Any, b: Any) -> bool:
    """Bit-level equality of scorer values (NaN equals NaN, -0.0 differs from 0.0).

    :param a: value.
    :param b: value.
    :return: whether equal.
    """
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return type(a) is type(b) and a == b


def close(a: Any, b: Any, rtol: float = 1e-14, atol: float = 1e-15) -> bool:
    """Equality within a few ulp, for exp/dot results.

    :param a: value.
    :param b: value.
    :param rtol: relative tolerance.
    :param atol: absolute tolerance (for results near zero after cancellation).
    :return: whether close.
    """
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(close(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= atol + rtol * max(abs(a), abs(b))
    return same(a, b)


def compare(
    name: str, expected: list[dict[str, Any]], got: list[dict[str, Any]], columns: list[str]
) -> list[str]:
    """Differences between Spark's rows and the local rows, matched by ``row_id``.

    :param name: fixture name (selects the approximate columns).
    :param expected: Spark's rows.
    :param got: local rows.
    :param columns: output columns to compare.
    :return: human-readable differences (empty when equal).
    """
    problems: list[str] = []
    exp_ids = [r["row_id"] for r in expected]
    got_ids = [r["row_id"] for r in got]
    if exp_ids != got_ids:
        problems.append(
            f"kept rows differ: spark-only {sorted(set(exp_ids) - set(got_ids))}, "
            f"local-only {sorted(set(got_ids) - set(exp_ids))}"
        )
        return problems
    approx = APPROX.get(name, set())
    for e, g in zip(expected, got, strict=True):
        for c in columns:
            if c not in e:
                continue
            ok = close(e[c], g.get(c)) if c in approx else same(e[c], g.get(c))
            if not ok:
                problems.append(f"row {e['row_id']} column {c}: spark {e[c]!r} local {g.get(c)!r}")
    return problems
