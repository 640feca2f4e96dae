"""The two input shapes a model gets, built from Arrow arrays without per-row Python.

* ``matrix`` (fast path): a C-ordered float matrix ``(n_rows, n_features)``; every feature is cast to
  float32 (when every input column is float32 already) or float64, nulls become NaN, then ``fill_value``.
* ``frame``: a pandas DataFrame with the training column names in training order, for models fitted on a
  DataFrame in a way that needs names or types (see :func:`cast_rules` and the adapters' ``input_kind``).
  Per column:

  - a column the model records as **categorical** (LightGBM ``pandas_categorical``, XGBoost categories,
    scikit-learn ``HistGradientBoosting*`` ``categorical_features="from_dtype"``) becomes a pandas
    ``category`` with exactly the training categories; a value not seen in training becomes missing and
    is counted per column (:attr:`ModelInput.unseen`);
  - a **numeric or boolean** Arrow column keeps its numeric type (integers without nulls stay integers;
    with nulls, and floats, become float64/float32 with NaN; ``fill_value`` fills NaN);
  - a **string** (or dictionary-encoded string) column stays strings: a numpy object column of ``str``,
    nulls as ``None`` (no float cast, no ``try_cast``);
  - anything else (dates, decimals, ...) is handed over as pyarrow's own pandas conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from airflow_provider_spark_predict.models.base import ModelAdapter

MATRIX = "matrix"
FRAME = "frame"


@dataclass
class ModelInput:
    """One batch, ready for ``adapter.predict``.

    :param data: the float matrix (``matrix`` models) or the pandas DataFrame (``frame`` models)
    :param n_rows: rows in the batch
    :param unseen: categorical column -> number of values in this batch that were not seen in training
        (they were given to the model as missing); sum these over batches for the report
    """

    data: Any
    n_rows: int
    unseen: dict[str, int] = field(default_factory=dict)


def matrix_type(feature_types: Iterable[str]) -> str:
    """The matrix rule of every engine and reader: ``float`` (float32 kept) when every feature is float32,
    else ``double`` (float64). Spark's type names and pyarrow's (``str(pa.float32())``) are the same."""
    types = list(feature_types)
    return "float" if types and all(t == "float" for t in types) else "double"


def numpy_dtype(type_name: str) -> Any:
    """``numpy.float32`` for ``float``, else ``numpy.float64``."""
    return np.float32 if type_name == "float" else np.float64


def matrix_dtype(arrays: Sequence[Any]) -> Any:
    """``float32`` when every Arrow feature array is float32 already, else ``float64`` (:func:`matrix_type`)."""
    return numpy_dtype(matrix_type(str(a.type) for a in arrays))


def arrow_to_matrix(arrays: Sequence[Any], dtype: Any, fill_value: float | None,
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
        np.copyto(x, np.asarray(fill_value, dtype=x.dtype), where=np.isnan(x))
    return x


def _combine(a: Any) -> Any:
    import pyarrow as pa

    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def numeric_column(a: Any, fill_value: float | None) -> np.ndarray:
    """A numeric/boolean Arrow array as numpy, keeping its type: no nulls -> the same dtype (zero-copy
    where Arrow allows); nulls -> float (float32 stays float32) with NaN, then ``fill_value``."""
    import pyarrow as pa

    a = _combine(a)
    if a.null_count == 0 and not pa.types.is_floating(a.type):
        return a.to_numpy(zero_copy_only=False)
    if not pa.types.is_floating(a.type):
        a = a.cast(pa.float64())
    values = a.to_numpy(zero_copy_only=False)  # nulls -> NaN
    if fill_value is not None:
        values = np.where(np.isnan(values), np.asarray(fill_value, dtype=values.dtype), values)
    return values


def string_column(a: Any) -> np.ndarray:
    """A string (or dictionary-encoded) Arrow array as a numpy object array of ``str``; nulls ``None``."""
    import pyarrow as pa

    a = _combine(a)
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    if pa.types.is_large_string(a.type) or pa.types.is_string_view(a.type):
        a = a.cast(pa.string())
    return a.to_numpy(zero_copy_only=False)


def category_column(a: Any, categories: Sequence[Any], name: str) -> tuple[Any, int]:
    """A pandas ``Categorical`` with exactly the training ``categories``; values not among them become
    missing. Returns (categorical, number of non-null values not seen in training).

    :param a: the Arrow array of the column
    :param categories: the training categories, in the training order (codes follow this order)
    :param name: column name, for errors
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    a = _combine(a)
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    value_set = pa.array(list(categories))
    if a.type != value_set.type:
        try:
            value_set = value_set.cast(a.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            a, value_set = a.cast(pa.string()), value_set.cast(pa.string())
    idx = pc.index_in(a, value_set=value_set)
    unseen = int(len(a) - a.null_count - (len(idx) - idx.null_count))
    codes = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    try:
        cat = pd.Categorical.from_codes(codes, categories=pd.Index(list(categories)))
    except ValueError as err:
        raise ValueError(f"categorical column {name}: {err}") from err
    return cat, unseen


def arrow_to_frame(arrays: Sequence[Any], names: Sequence[str], categories: Mapping[str, Sequence[Any]],
                   fill_value: float | None = None) -> ModelInput:
    """Build the pandas DataFrame of a ``frame`` model (columns ``names`` in this order), with the per-column
    rule of the module docstring.

    :param arrays: one Arrow array per column, in ``names`` order (the training order)
    :param names: the training column names
    :param categories: column -> training categories, for the columns the model records as categorical
    :param fill_value: value for missing numeric features (``None`` keeps NaN)
    """
    import pandas as pd
    import pyarrow as pa

    n = len(arrays[0]) if arrays else 0
    cols: dict[str, Any] = {}
    unseen: dict[str, int] = {}
    for name, a in zip(names, arrays, strict=True):
        a = _combine(a)
        if name in categories:
            cols[name], count = category_column(a, categories[name], name)
            if count:
                unseen[name] = count
        elif pa.types.is_integer(a.type) or pa.types.is_floating(a.type) or pa.types.is_boolean(a.type):
            cols[name] = numeric_column(a, fill_value)
        elif pa.types.is_null(a.type):
            cols[name] = np.full(n, np.nan if fill_value is None else fill_value)
        elif (pa.types.is_string(a.type) or pa.types.is_large_string(a.type) or pa.types.is_string_view(a.type)
              or (pa.types.is_dictionary(a.type) and pa.types.is_string(a.type.value_type))):
            cols[name] = string_column(a)
        else:
            cols[name] = a.to_pandas()
    frame = pd.DataFrame(cols, index=pd.RangeIndex(n), copy=False)
    return ModelInput(frame, n, unseen)


def arrow_kind(arrow_type: Any) -> str:
    """``numeric``, ``boolean``, ``string`` or ``other`` for an Arrow type."""
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_dictionary(arrow_type):
        return arrow_kind(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    return "other"


def cast_rules(adapter: ModelAdapter, schema: Any, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Describe, per feature column, what the model is given: for the run report and the README.

    :param adapter: the loaded model
    :param schema: the input's ``pyarrow.Schema`` (or anything with ``.field(name).type``)
    :param names: the feature columns (default: the model's feature names)
    :returns: one dict per column: ``column``, ``input_type`` (Arrow type text), ``given_as`` and ``rule``
    """
    names = list(names or adapter.feature_names or [])
    cats = adapter.categories if adapter.input_kind == FRAME else {}
    rules = []
    for name in names:
        arrow_type = schema.field(name).type
        kind = arrow_kind(arrow_type)
        if adapter.input_kind == MATRIX:
            given, rule = "float", "cast to float32/float64 in the matrix; null -> NaN -> fill_value"
            if kind == "string":
                rule = "string parsed as a number; not a number -> null (on_invalid) -> NaN -> fill_value"
        elif name in cats:
            given = "category"
            rule = f"pandas category of the {len(cats[name])} training categories; unseen value -> missing (counted)"
        elif kind in ("numeric", "boolean"):
            given, rule = str(arrow_type), "kept numeric; with nulls -> float NaN -> fill_value"
        elif kind == "string":
            given, rule = "str", "kept as strings (object column); null -> None"
        else:
            given, rule = "pandas", "pyarrow's pandas conversion"
        rules.append({"column": name, "input_type": str(arrow_type), "given_as": given, "rule": rule})
    return rules
