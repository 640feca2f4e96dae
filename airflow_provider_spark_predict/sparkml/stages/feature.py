"""Feature transformers: StringIndexer, OneHotEncoder, Imputer, Bucketizer, VectorAssembler, IndexToString."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from airflow_provider_spark_predict.exceptions import LocalScoringError
from airflow_provider_spark_predict.sparkml.javafmt import value_to_string
from airflow_provider_spark_predict.sparkml.loader import as_double, read_table
from airflow_provider_spark_predict.sparkml.stages.base import LocalStage, RowFn

_COLS = frozenset({"inputCol", "inputCols", "outputCol", "outputCols"})
_INT_TYPES = frozenset({"int", "long", "short", "byte"})


class StringIndexerModel(LocalStage):
    """``StringIndexerModel``: label -> index, inputs cast to Spark strings; keep/skip/error."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.StringIndexerModel",)
    SCORING_PARAMS = _COLS | {"handleInvalid"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.handle = self.require_value("handleInvalid", ["error", "skip", "keep"], "error")
        self.ins, self.outs = self.in_out_cols()
        row = read_table(folder / "data").to_pylist()[0]
        labels = row["labelsArray"] if "labelsArray" in row else [row["labels"]]
        if len(labels) != len(self.ins):
            raise self.refuse("labelsArray", "label lists and input columns differ in number")
        self.labels: list[list[str]] = [list(x) for x in labels]

    @property
    def input_columns(self) -> list[str]:
        return list(self.ins)

    @property
    def output_columns(self) -> list[str]:
        return list(self.outs)

    def compile(self) -> RowFn:
        specs = [
            (i, o, {lab: float(k) for k, lab in enumerate(labs)}, float(len(labs)))
            for i, o, labs in zip(self.ins, self.outs, self.labels, strict=True)
        ]
        handle = self.handle

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            for col, out, table, unknown in specs:
                if col not in row:  # Spark skips an input column absent from the schema
                    continue
                v = row[col]
                idx = (
                    None
                    if v is None
                    else table.get(v if type(v) is str else value_to_string(v, hints.get(col)))
                )
                if idx is None:
                    if handle == "keep":
                        idx = unknown
                    elif handle == "skip":
                        return False
                    elif v is None:
                        raise LocalScoringError(f"StringIndexer encountered NULL value in column {col!r}")
                    else:
                        raise LocalScoringError(f"StringIndexer: unseen label {v!r} in column {col!r}")
                row[out] = idx
            return True

        return fn


class OneHotEncoderModel(LocalStage):
    """``OneHotEncoderModel``: category index -> one-hot vector (dense list)."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.OneHotEncoderModel",)
    SCORING_PARAMS = _COLS | {"handleInvalid", "dropLast"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.keep = self.require_value("handleInvalid", ["error", "keep"], "error") == "keep"
        self.drop_last = bool(self.param("dropLast", True))
        self.ins, self.outs = self.in_out_cols()
        sizes = read_table(folder / "data").to_pylist()[0]["categorySizes"]
        if len(sizes) != len(self.ins):
            raise self.refuse("categorySizes", "sizes and input columns differ in number")
        self.sizes = [int(s) for s in sizes]

    @property
    def input_columns(self) -> list[str]:
        return list(self.ins)

    @property
    def output_columns(self) -> list[str]:
        return list(self.outs)

    def vector_outputs(self) -> set[str]:
        return set(self.outs)

    def configured_size(self, orig: int) -> int:
        """Vector size of one column (Spark's ``configedCategorySizes``).

        :param orig: the stored category size.
        :return: the output vector size.
        """
        if not self.drop_last and self.keep:
            return orig + 1
        if self.drop_last and not self.keep:
            return orig - 1
        return orig

    def compile(self) -> RowFn:
        specs = [
            (i, o, float(s), self.configured_size(s))
            for i, o, s in zip(self.ins, self.outs, self.sizes, strict=True)
        ]
        keep = self.keep

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            for col, out, orig, size in specs:
                v = row[col]
                if v is None:
                    row[out] = None
                    continue
                label = float(v)
                if label >= 0.0 and label < orig:
                    idx = label
                elif keep:
                    idx = orig
                elif label < 0.0:
                    raise LocalScoringError(f"OneHotEncoder: negative value {label} in column {col!r}")
                else:
                    raise LocalScoringError(f"OneHotEncoder: unseen value {label} in column {col!r}")
                vec = [0.0] * size
                if idx < size:
                    vec[int(idx)] = 1.0
                row[out] = vec
            return True

        return fn


class ImputerModel(LocalStage):
    """``ImputerModel``: null or ``missingValue`` -> surrogate, cast back to the input column's type."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.ImputerModel",)
    SCORING_PARAMS = _COLS | {"missingValue"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.missing = as_double(self.param("missingValue", "NaN"))
        self.ins, self.outs = self.in_out_cols()
        data = read_table(folder / "data").to_pylist()[0]
        try:
            self.surrogates = [float(data[c]) for c in self.ins]
        except KeyError as exc:
            raise self.refuse(None, f"no surrogate stored for input column {exc}") from exc

    @property
    def input_columns(self) -> list[str]:
        return list(self.ins)

    @property
    def output_columns(self) -> list[str]:
        return list(self.outs)

    def compile(self) -> RowFn:
        specs = list(zip(self.ins, self.outs, self.surrogates, strict=True))
        missing = self.missing
        nan_missing = missing != missing

        def cast(value: float, col: str, v: Any, hints: dict[str, str]) -> Any:
            kind = hints.get(col)
            if kind is None:
                kind = "long" if (type(v) is int) else "double"
            if kind in _INT_TYPES:
                return int(value)  # Spark's double -> integral cast truncates toward zero
            if kind == "float":
                import struct

                return struct.unpack("f", struct.pack("f", value))[0]
            return value

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            for col, out, sur in specs:
                v = row[col]
                if v is None:
                    row[out] = cast(sur, col, v, hints)
                    continue
                f = float(v)
                if (f != f) if nan_missing else (f == missing):
                    row[out] = cast(sur, col, v, hints)
                else:
                    row[out] = v
            return True

        return fn


def _java_compare(a: float, b: float) -> int:
    """``java.lang.Double.compare``: numeric order, but -0.0 < 0.0 and NaN above everything."""
    if a < b:
        return -1
    if a > b:
        return 1
    a_nan, b_nan = a != a, b != b
    if a_nan or b_nan:
        return (1 if a_nan else 0) - (1 if b_nan else 0)
    sa, sb = math.copysign(1.0, a), math.copysign(1.0, b)
    return 0 if sa == sb else (-1 if sa < sb else 1)


def java_binary_search(arr: list[float], key: float) -> int:
    """``java.util.Arrays.binarySearch(double[], double)``.

    :param arr: sorted splits.
    :param key: value searched.
    :return: the index, or ``-(insertion point) - 1``.
    """
    lo, hi = 0, len(arr) - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        c = _java_compare(arr[mid], key)
        if c < 0:
            lo = mid + 1
        elif c > 0:
            hi = mid - 1
        else:
            return mid
    return -(lo + 1)


class Bucketizer(LocalStage):
    """``Bucketizer`` with ``splits`` or ``splitsArray``; Java binary search semantics (-0.0 < 0.0)."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.Bucketizer",)
    SCORING_PARAMS = _COLS | {"handleInvalid", "splits", "splitsArray"}

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.handle = self.require_value("handleInvalid", ["error", "skip", "keep"], "error")
        self.ins, self.outs = self.in_out_cols()
        set_params = meta.get("paramMap") or {}
        if "splitsArray" in set_params and "inputCols" in set_params:
            raw = set_params["splitsArray"]
        elif "splits" in set_params:
            raw = [set_params["splits"]]
        else:
            raise self.refuse("splits", "no splits set")
        if len(raw) != len(self.ins):
            raise self.refuse("splitsArray", "splits and input columns differ in number")
        self.splits = [[as_double(v) for v in s] for s in raw]

    @property
    def input_columns(self) -> list[str]:
        return list(self.ins)

    @property
    def output_columns(self) -> list[str]:
        return list(self.outs)

    def compile(self) -> RowFn:
        specs = [
            (i, o, s, float(len(s) - 1), float(len(s) - 2), s[-1])
            for i, o, s in zip(self.ins, self.outs, self.splits, strict=True)
        ]
        handle = self.handle
        skip = handle == "skip"

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            if skip:  # Spark drops rows with null or NaN in any input column first
                for col, *_ in specs:
                    v = row[col]
                    if v is None or v != v:
                        return False
            for col, out, splits, nan_bucket, last_bucket, last in specs:
                v = row[col]
                if v is None:
                    row[out] = None
                    continue
                f = float(v)
                if f != f:
                    if handle == "keep":
                        row[out] = nan_bucket
                        continue
                    raise LocalScoringError(f"Bucketizer: NaN in column {col!r} with handleInvalid='error'")
                if f == last:
                    row[out] = last_bucket
                    continue
                idx = java_binary_search(splits, f)
                if idx >= 0:
                    row[out] = float(idx)
                    continue
                insert = -idx - 1
                if insert == 0 or insert == len(splits):
                    raise LocalScoringError(f"Bucketizer: value {f} of column {col!r} is out of bounds")
                row[out] = float(insert - 1)
            return True

        return fn


class VectorAssembler(LocalStage):
    """``VectorAssembler``: numbers and vectors -> one dense list; null/NaN per ``handleInvalid``."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.VectorAssembler",)
    SCORING_PARAMS = frozenset({"inputCols", "outputCol", "handleInvalid"})

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.handle = self.require_value("handleInvalid", ["error", "skip", "keep"], "error")
        self.ins = list(self.param("inputCols") or [])
        self.out = self.param("outputCol")

    @property
    def input_columns(self) -> list[str]:
        return list(self.ins)

    @property
    def output_columns(self) -> list[str]:
        return [self.out]

    def vector_outputs(self) -> set[str]:
        return {self.out}

    def compile(self) -> RowFn:
        cols = list(self.ins)
        out = self.out
        handle = self.handle

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            vec: list[float] = []
            for col in cols:
                v = row[col]
                t = type(v)
                if t is float:
                    if v != v and handle != "keep":
                        if handle == "skip":
                            return False
                        raise LocalScoringError(f"VectorAssembler: NaN in numeric column {col!r}")
                    vec.append(v)
                elif t is list:
                    vec.extend(v)
                elif v is None:
                    if hints.get(col) == "vector":
                        if handle == "skip":
                            return False
                        raise LocalScoringError(
                            f"VectorAssembler: null vector in column {col!r} (its size is unknown)"
                        )
                    if handle == "keep":
                        vec.append(math.nan)
                    elif handle == "skip":
                        return False
                    else:
                        raise LocalScoringError(f"VectorAssembler: null value in column {col!r}")
                elif t is int or t is bool:
                    vec.append(float(v))
                else:
                    raise LocalScoringError(f"VectorAssembler: unsupported value {v!r} in column {col!r}")
            # Spark assembles a sparse vector first (zeros dropped), so -0.0 reads back as 0.0.
            row[out] = [x + 0.0 for x in vec]
            return True

        return fn


class IndexToString(LocalStage):
    """``IndexToString`` with its ``labels`` param, or the labels of the StringIndexer producing its input."""

    SPARK_CLASSES = ("org.apache.spark.ml.feature.IndexToString",)
    SCORING_PARAMS = frozenset({"inputCol", "outputCol", "labels"})

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        super().__init__(meta, folder)
        self.inp = self.param("inputCol")
        self.out = self.param("outputCol")
        labels = self.param("labels")
        self.labels: list[str] | None = list(labels) if labels else None

    def resolve_labels(self, upstream: dict[str, list[str]]) -> None:
        """Take the labels from an upstream StringIndexer output when the param is unset.

        :param upstream: StringIndexer output column -> labels.
        :raises LocalScoringError: when no labels are known.
        """
        if self.labels is None:
            if self.inp not in upstream:
                raise self.refuse(
                    "labels", "unset, and the input column's ML metadata is not available locally"
                )
            self.labels = list(upstream[self.inp])

    @property
    def input_columns(self) -> list[str]:
        return [self.inp]

    @property
    def output_columns(self) -> list[str]:
        return [self.out]

    def compile(self) -> RowFn:
        labels = list(self.labels or [])
        n = len(labels)
        inp, out = self.inp, self.out

        def fn(row: dict[str, Any], hints: dict[str, str]) -> bool:
            v = row[inp]
            if v is None:
                row[out] = None
                return True
            f = float(v)
            idx = 0 if f != f else (int(f) if abs(f) < 2**31 else -1)
            if 0 <= idx < n:
                row[out] = labels[idx]
                return True
            raise LocalScoringError(f"IndexToString: unseen index {f} in column {inp!r}")

        return fn
