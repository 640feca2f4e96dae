"""Read the files of a saved Spark ML model folder: metadata JSON, parquet data, vectors, matrices.

Only pyarrow and the standard library are used; no JVM, no pyspark.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_spark_predict.exceptions import LocalScoringError

_NON_FINITE = {
    "NaN": math.nan,
    "Inf": math.inf,
    "-Inf": -math.inf,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}


def to_local_path(path: str | Path) -> Path:
    """Turn a plain path or a ``file://`` URI into a local :class:`Path`.

    :param path: folder path or ``file://`` URI.
    :return: the local path.
    :raises LocalScoringError: for a URI scheme other than ``file``.
    """
    text = str(path)
    if "://" in text or text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.scheme != "file":
            raise LocalScoringError(f"only local paths and file:// URIs can be scored locally, got {text!r}")
        return Path(unquote(parsed.path))
    return Path(text).expanduser()


def metadata_file(folder: Path) -> Path:
    """Find the one-line metadata JSON file of a saved stage or pipeline.

    Spark 3.5 writes ``metadata/part-00000``; 4.x writes ``metadata/part-00000-<uuid>-c000.txt``.

    :param folder: the stage or pipeline folder.
    :return: the metadata file.
    :raises LocalScoringError: when there is none.
    """
    meta_dir = folder / "metadata"
    if not meta_dir.is_dir():
        raise LocalScoringError(f"not a saved Spark ML model folder (no metadata/ directory): {folder}")
    parts = sorted(
        p for p in meta_dir.iterdir() if p.name.startswith("part-") and not p.name.endswith(".crc")
    )
    if not parts:
        raise LocalScoringError(f"no metadata part file in {meta_dir}")
    return parts[0]


def read_metadata(folder: Path) -> dict[str, Any]:
    """Read and parse the metadata JSON of a saved stage or pipeline.

    :param folder: the stage or pipeline folder.
    :return: the parsed JSON object.
    :raises LocalScoringError: when it is missing or not valid JSON.
    """
    path = metadata_file(folder)
    try:
        line = path.read_text(encoding="utf-8").strip().splitlines()[0]
        meta = json.loads(line)
    except (OSError, IndexError, ValueError) as exc:
        raise LocalScoringError(f"cannot read Spark ML metadata {path}: {exc}") from exc
    if not isinstance(meta, dict) or "class" not in meta:
        raise LocalScoringError(f"Spark ML metadata {path} has no 'class'")
    return meta


def effective_params(meta: dict[str, Any]) -> dict[str, Any]:
    """Return ``defaultParamMap`` overlaid by ``paramMap``.

    :param meta: parsed metadata.
    :return: the effective params.
    """
    params = dict(meta.get("defaultParamMap") or {})
    params.update(meta.get("paramMap") or {})
    return params


def as_double(value: Any) -> float:
    """Decode a JSON double param (Spark writes non-finite doubles as strings such as ``"-Inf"``).

    :param value: JSON value.
    :return: the float.
    """
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        return float(value)
    return float(value)


def read_table(folder: Path) -> pa.Table:
    """Read every parquet part file of a folder (``data/`` or ``treesMetadata/``) into one table.

    :param folder: the folder.
    :return: the concatenated table, part files in name order.
    :raises LocalScoringError: when there is no parquet file.
    """
    if not folder.is_dir():
        raise LocalScoringError(f"missing Spark ML data folder {folder}")
    parts = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(".parquet") and not p.name.startswith((".", "_"))
    )
    if not parts:
        raise LocalScoringError(
            f"no parquet data in {folder} (custom binary local-saving format is not supported)"
        )
    tables = [pq.read_table(p) for p in parts]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def decode_vector(value: dict[str, Any] | None) -> list[float] | None:
    """Decode a VectorUDT struct (``type`` 1 dense, 0 sparse) into a dense list of floats.

    :param value: the struct as a dict (from ``to_pylist``), or None.
    :return: the dense values, or None for a null vector.
    """
    if value is None:
        return None
    if value["type"] == 1:
        return [float(v) for v in value["values"]]
    out = [0.0] * int(value["size"])
    for i, v in zip(value["indices"], value["values"], strict=True):
        out[i] = float(v)
    return out


def sparse_entries(value: dict[str, Any]) -> list[tuple[int, float]]:
    """Return the stored ``(index, value)`` pairs of a VectorUDT struct (every index for a dense one).

    :param value: the struct as a dict.
    :return: stored entries in index order.
    """
    if value["type"] == 1:
        return list(enumerate(float(v) for v in value["values"]))
    return [(int(i), float(v)) for i, v in zip(value["indices"], value["values"], strict=True)]


def decode_matrix_rows(value: dict[str, Any]) -> list[list[tuple[int, float]]]:
    """Decode a MatrixUDT struct into, per row, its stored ``(column, value)`` entries.

    Dense matrices are column-major (row-major when ``isTransposed``); sparse ones CSC (CSR when
    ``isTransposed``). Dense rows list every column.

    :param value: the struct as a dict.
    :return: one list of entries per row, columns ascending.
    """
    n_rows, n_cols = int(value["numRows"]), int(value["numCols"])
    vals = [float(v) for v in value["values"]]
    transposed = bool(value["isTransposed"])
    rows: list[list[tuple[int, float]]] = [[] for _ in range(n_rows)]
    if value["type"] == 1:
        for r in range(n_rows):
            for c in range(n_cols):
                rows[r].append((c, vals[r * n_cols + c] if transposed else vals[c * n_rows + r]))
        return rows
    ptrs, idx = value["colPtrs"], value["rowIndices"]
    if transposed:  # CSR: ptrs over rows, idx are columns
        for r in range(n_rows):
            rows[r] = [(int(idx[k]), vals[k]) for k in range(ptrs[r], ptrs[r + 1])]
    else:  # CSC
        for c in range(n_cols):
            for k in range(ptrs[c], ptrs[c + 1]):
                rows[int(idx[k])].append((c, vals[k]))
    return rows
