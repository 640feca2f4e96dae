"""Conversions between pandas DataFrames / python rows and the scorer's row dicts.

Inside the scorer a row is a dict of plain python values: ``None`` (Spark null), ``float`` (NaN is a
value, not a null), ``int``, ``bool``, ``str``, and ``list[float]`` for vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from airflow_provider_spark_predict.exceptions import LocalScoringError


def py_value(v: Any) -> Any:
    """Turn numpy scalars, arrays, tuples and pandas NA into plain python values.

    :param v: a cell.
    :return: the plain value.
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, np.ndarray):
        return [float(x) for x in v.tolist()]
    if isinstance(v, list | tuple):
        return [float(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "toArray"):  # a pyspark.ml.linalg vector passed through by a caller
        return [float(x) for x in v.toArray().tolist()]
    return v


def column_values(s: pd.Series) -> tuple[list[Any], str | None]:
    """Plain python values of a column and the Spark type name they stand for.

    Numpy float columns keep NaN as NaN (a value); nullable dtypes (``Float64``, ``Int64``, ``string``,
    ``boolean``) and object columns carry nulls as ``pd.NA``/``None``.

    :param s: the column.
    :return: (values, type hint or None when unknown).
    """
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind == "f":
            return s.to_numpy().tolist(), ("float" if dt.itemsize == 4 else "double")
        if dt.kind in "iu":
            return s.to_numpy().tolist(), ("int" if dt.itemsize <= 4 else "long")
        if dt.kind == "b":
            return s.to_numpy().tolist(), "boolean"
        if dt.kind == "O":
            values = [py_value(v) for v in s.tolist()]
            kinds = {type(v) for v in values if v is not None}
            if kinds == {str}:
                values = [None if (isinstance(v, float) and math.isnan(v)) else v for v in values]
                return values, "string"
            if kinds == {list}:
                return values, "vector"
            return values, None
        raise LocalScoringError(f"column {s.name!r} has dtype {dt}, which the local scorer does not read")
    values = s.to_numpy(dtype=object, na_value=None).tolist()
    name = str(dt).lower()
    hint: str | None = None
    if name.startswith(("int", "uint")):
        hint = "int" if name in ("int8", "int16", "int32", "uint8", "uint16") else "long"
    elif name.startswith("float"):
        hint = "float" if name == "float32" else "double"
    elif name.startswith("bool"):
        hint = "boolean"
    elif name.startswith("string"):
        hint = "string"
    return [py_value(v) for v in values], hint


def frame_to_rows(df: pd.DataFrame, columns: list[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Row dicts holding ``columns`` (those present in ``df``) and the type hints of those columns.

    :param df: input frame.
    :param columns: columns the pipeline reads.
    :return: (rows, hints).
    """
    names, lists, hints = [], [], {}
    for c in columns:
        if c in df.columns:
            values, hint = column_values(df[c])
            names.append(c)
            lists.append(values)
            if hint:
                hints[c] = hint
    if not names:
        return [{} for _ in range(len(df))], hints
    return [dict(zip(names, t, strict=True)) for t in zip(*lists, strict=True)], hints


def output_series(values: list[Any], vector: bool, index: pd.Index) -> pd.Series:
    """Build an output column: vectors as float64 numpy arrays; nulls kept as ``None`` (object dtype).

    :param values: python values.
    :param vector: whether the column holds vectors.
    :param index: index of the output frame.
    :return: the column.
    """
    if vector:
        arr = np.empty(len(values), dtype=object)
        sizes = {len(v) for v in values if v is not None}
        if values and len(sizes) == 1 and all(v is not None for v in values):
            block = np.array(values, dtype=np.float64)  # one allocation; each cell is a row of it
            for i in range(len(values)):
                arr[i] = block[i]
        else:
            for i, v in enumerate(values):
                arr[i] = None if v is None else np.asarray(v, dtype=np.float64)
        return pd.Series(arr, index=index, dtype=object)
    if any(v is None for v in values):
        return pd.Series(values, index=index, dtype=object)
    kinds = {type(v) for v in values}
    if kinds == {float}:
        return pd.Series(np.asarray(values, dtype=np.float64), index=index)
    if kinds == {int}:
        return pd.Series(np.asarray(values, dtype=np.int64), index=index)
    return pd.Series(values, index=index, dtype=object)


def rows_from_input(data: Any) -> list[Mapping[str, Any]]:
    """Accept one mapping or a sequence of mappings.

    :param data: dict or list of dicts.
    :return: list of mappings.
    :raises LocalScoringError: for another type.
    """
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list | tuple):
        return list(data)
    raise LocalScoringError(f"expected a dict or a list of dicts, got {type(data).__name__}")
