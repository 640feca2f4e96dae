"""Vector scalers: StandardScalerModel and MinMaxScalerModel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_spark_predict.sparkml.loader import decode_vector, read_table
from airflow_provider_spark_predict.sparkml.stages.base import LocalStage, RowFn

_COLS = frozenset({"inputCol", "outputCol"})


class _VectorScaler(LocalStage):
    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.inp = self.param("inputCol")
        self.out = self.param("outputCol")
        if not self.inp or not self.out:
            raise self.refuse("inputCol", "input and output columns must be set")

    @property
    def input_columns(self) -> list[str]:
        return [self.inp]

    @property
    def output_columns(self) -> list[str]:
        return [self.out]

    def vector_outputs(self) -> set[str]:
        return {self.out}


class StandardScalerModel(_VectorScaler):
    """``StandardScalerModel``: ``(x - mean) * (1/std)`` (scale 0 where std is 0)."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.StandardScalerModel",)
    SCORING_PARAMS = _COLS | {"withMean", "withStd"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        data = read_table(folder / "data").to_pylist()[0]
        self.std = decode_vector(data["std"]) or []
        self.mean = decode_vector(data["mean"]) or []
        self.with_mean = bool(self.param("withMean", False))
        self.with_std = bool(self.param("withStd", True))

    def compile(self) -> RowFn:
        inp, out = self.inp, self.out
        shift = list(self.mean)
        scale = [0.0 if s == 0.0 else 1.0 / s for s in self.std]
        n = len(scale) if self.with_std else len(shift)
        with_mean, with_std = self.with_mean, self.with_std

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            v = row[inp]
            if v is None:
                row[out] = None
            elif with_mean and with_std:
                row[out] = [(v[i] - shift[i]) * scale[i] for i in range(n)]
            elif with_mean:
                row[out] = [v[i] - shift[i] for i in range(n)]
            elif with_std:
                row[out] = [v[i] * scale[i] for i in range(n)]
            else:
                row[out] = list(v)
            return True

        return fn


class MinMaxScalerModel(_VectorScaler):
    """``MinMaxScalerModel``: ``(x - min_i) * ((max - min) / range_i) + min``; NaN passes through."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.MinMaxScalerModel",)
    SCORING_PARAMS = _COLS | {"min", "max"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        data = read_table(folder / "data").to_pylist()[0]
        self.orig_min = decode_vector(data["originalMin"]) or []
        self.orig_max = decode_vector(data["originalMax"]) or []
        self.min = float(self.param("min", 0.0))
        self.max = float(self.param("max", 1.0))

    def compile(self) -> RowFn:
        inp, out = self.inp, self.out
        scale = self.max - self.min
        min_value = self.min
        constant = (self.min + self.max) / 2
        mins = list(self.orig_min)
        factors = []
        for lo, hi in zip(self.orig_min, self.orig_max, strict=True):
            rng = hi - lo
            factors.append(scale / rng if rng != 0 else 0.0)
        n = len(mins)

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            v = row[inp]
            if v is None:
                row[out] = None
                return True
            res = list(v)
            for i in range(n):
                x = res[i]
                if x == x:
                    f = factors[i]
                    res[i] = (x - mins[i]) * f + min_value if f != 0 else constant
            row[out] = compressed(res)
            return True

        return fn


def compressed(values: list[float]) -> list[float]:
    """Values of Spark's ``Vector.compressed``: when it turns sparse, -0.0 entries read back as 0.0.

    :param values: dense values.
    :return: the values as Spark's compressed vector holds them.
    """
    nnz = 0
    for x in values:
        if x != 0.0:
            nnz += 1
    if 1.5 * (nnz + 1.0) < len(values):
        return [x + 0.0 for x in values]
    return values
