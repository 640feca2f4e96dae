"""The in-process engine's answers to :class:`airflow_provider_spark_predict.run.facts.Frame`, over an
Arrow table (the same definitions as :class:`airflow_provider_spark_predict.job.stats.SparkFrame`)."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.run.facts import QUANTILES, Summary


def _values(column: Any) -> Any:
    """The non-null, non-NaN values of a numeric column as float64."""
    import numpy as np

    values = column.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls -> NaN
    return values[~np.isnan(values)]


def _quantiles(values: Any, probs: list[float] | tuple[float, ...]) -> list[float]:
    """Smallest value with at least that share of values <= it (``percentile_approx`` when exact)."""
    import numpy as np

    return [float(v) for v in np.quantile(values, probs, method="inverted_cdf")] if len(values) else []


class ArrowFrame:
    """Written rows as a ``pyarrow.Table``.

    :param table: the rows
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    def summary(self, prediction: str, value: str | None, classifier: bool) -> Summary:
        import pyarrow.compute as pc

        pred = self.table.column(prediction)
        nulls = pred.null_count
        if not classifier:
            nulls += int(pc.sum(pc.is_nan(pred.fill_null(0.0))).as_py() or 0)
        s = Summary(rows=self.table.num_rows, nulls=nulls)
        if value is not None:
            values = _values(self.table.column(value))
            if len(values):
                s.min, s.mean, s.max = float(values.min()), float(values.mean()), float(values.max())
                s.quantiles = list(_quantiles(values, QUANTILES))
        return s

    def distinct_keys(self, keys: list[str]) -> int:
        return int(self.table.select(keys).drop_null().group_by(keys).aggregate([]).num_rows)

    def null_keys(self, keys: list[str]) -> int:
        import pyarrow.compute as pc

        if not self.table.num_rows:
            return 0
        nulls = [pc.is_null(self.table.column(k)) for k in keys]
        any_null = nulls[0]
        for n in nulls[1:]:
            any_null = pc.or_(any_null, n)
        return int(pc.sum(any_null.cast("int64")).as_py() or 0)

    def value_counts(self, column: str, limit: int | None = None) -> dict[str, int]:
        import pyarrow as pa

        counts = self.table.column(column).cast(pa.string()).value_counts().to_pylist()
        out = {str(c["values"]): int(c["counts"]) for c in counts}
        return dict(list(out.items())[:limit]) if limit else out

    def quantiles(self, column: str, probs: list[float]) -> list[float]:
        return _quantiles(_values(self.table.column(column)), probs)

    def bin_counts(self, column: str, edges: list[float]) -> dict[str, int]:
        import numpy as np

        bins = np.searchsorted(np.asarray(edges, dtype=np.float64), _values(self.table.column(column)), side="left")
        return {str(int(k)): int(v) for k, v in zip(*np.unique(bins, return_counts=True), strict=True)}
