"""Checks made on the Airflow worker before anything is submitted: the cluster is not spent on a run
that cannot work. Only what can be known without Spark is checked here; the job re-checks on its driver.

1. The model file loads into its adapter (by what the file holds; a wrong explicit flavor or a file that
   is not a model fails here), and agrees with the feature list.
2. A sample predict: for a ``path`` input on a local file system, a few real rows are read from the
   partition's first parquet/ORC file with pyarrow (the input's real schema), pushed through the
   adapter's ``prepare`` + ``predict`` (the code the executors run), and a model that cannot predict them
   fails the task with the model's own error and the column types. A Hive table or SQL input has no
   schema reachable without Spark: the driver's own first batch is then the first predict.

Skipped (checked on the driver instead): a remote model URI, a model that needs a module this worker
lacks (a model library, or a module only present in the shipped environment).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow_provider_spark_predict.exceptions import InputError, ModelError
from airflow_provider_spark_predict.spec import ScoringSpec

#: rows of the pre-flight sample
SAMPLE_ROWS = 5
#: data files looked at for a non-empty one
MAX_SAMPLE_FILES = 5


def _local(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    return None if "://" in uri else uri


def check_model(spec: ScoringSpec, log: logging.Logger | None = None) -> str | None:
    """Load a local model file once to check it is readable, of a supported flavor, agrees with the
    feature list and predicts a sample of the input. Returns the flavor of what the file holds, or ``None``
    when the check was skipped (remote URI, or the model needs a module not installed on this worker).

    :param spec: the validated scoring spec (``model.uri`` a local path or ``file://`` URI)
    :param log: logger for progress lines
    """
    log = log or logging.getLogger(__name__)
    path = _local(spec.model.uri)
    if path is None:
        log.info("model %s is remote: checked on the Spark driver instead", spec.model.uri)
        return None
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    from airflow_provider_spark_predict.models.base import detect_flavor, load_model

    if spec.model.flavor == "spark_pipeline" or (spec.model.flavor == "auto" and detect_flavor(path) == "spark_pipeline"):
        return "spark_pipeline"
    try:
        adapter = load_model(path, spec.model.flavor)
    except ModelError as err:
        if isinstance(err.__cause__, ImportError):
            # the model needs a module this worker lacks (e.g. one only in the shipped environment)
            log.info("model %s needs a module not installed here (%s): checked on the driver", path, err.__cause__)
            return None
        raise
    n = adapter.n_features
    if spec.features is not None and n is not None and n != len(spec.features):
        raise ModelError(f"model {path} expects {n} features but {len(spec.features)} feature columns were given")
    features = list(spec.features or adapter.feature_names or [])
    if not features:
        raise ModelError(f"model {path} ({adapter.describe()}) does not record feature names; "
                         "pass features=[...] explicitly")
    log.info("model %s: %s, %s features, %s", path, adapter.describe(), n, adapter.library_version)
    _warn_uncovered_labels(spec, adapter, log)
    sample = read_sample(spec, features, log)
    if sample is not None:
        predict_sample(adapter, sample, features, spec, log)
    return adapter.flavor


def _warn_uncovered_labels(spec: ScoringSpec, adapter: Any, log: logging.Logger) -> None:
    from airflow_provider_spark_predict.labels import uncovered_classes

    o = spec.outputs
    if o.label_column and adapter.classes is not None:
        missing = uncovered_classes(o.label_mapping, adapter.classes)
        if missing:
            log.warning("label_mapping gives no label to class(es) %s of the model; the 'labels' check fails "
                        "the run if any is predicted", missing)


def _data_files(folder: str) -> list[str]:
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        out += [os.path.join(root, n) for n in sorted(names) if not n.startswith(("_", ".")) and not n.endswith(".crc")]
    return out


def read_sample(spec: ScoringSpec, features: list[str], log: logging.Logger) -> Any:
    """Up to :data:`SAMPLE_ROWS` real rows of the feature columns (a ``pyarrow.Table``) of a local ``path``
    input, or ``None`` (logged) when no sample can be read without Spark.

    :raises InputError: a feature column is neither in the files nor a partition column
    """
    inp = spec.input
    if not inp.path:
        log.info("input %s: its schema is not reachable without Spark; the first predict happens on the driver",
                 inp.describe())
        return None
    root = _local(inp.path)
    if root is None:
        log.info("input %s is remote: the first predict happens on the driver", inp.describe())
        return None
    folder = os.path.join(root, *[f"{k}={v}" for k, v in inp.partition.items()])
    if not os.path.isdir(folder):
        log.info("input folder %s does not exist (yet): the driver checks the input", folder)
        return None
    for file in _data_files(folder)[:MAX_SAMPLE_FILES]:
        table = _read_head(file, inp.format)
        if table is None:
            continue
        in_folder = {k.lower() for k in inp.partition}
        missing = [f for f in features if f not in table.column_names and f.lower() not in in_folder]
        if missing:
            raise InputError(f"input {inp.describe()} (file {file}) is missing feature column(s) {missing[:20]}; "
                             "nothing was submitted")
        if table.num_rows:
            present = [f for f in features if f in table.column_names]
            if len(present) < len(features):
                log.info("feature(s) %s are partition columns: the driver checks them",
                         [f for f in features if f not in present])
                return None
            return table.select(features)
    log.info("no rows found in the first files of %s: the first predict happens on the driver", folder)
    return None


def _read_head(file: str, fmt: str) -> Any:
    try:
        if fmt == "orc":
            from pyarrow import orc

            return orc.ORCFile(file).read().slice(0, SAMPLE_ROWS)
        import pyarrow as pa
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(file)
        batch = next(pf.iter_batches(batch_size=SAMPLE_ROWS), None)
        return pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
    except Exception:  # noqa: BLE001 - not a data file of this format: the driver's reader decides
        return None


def _as_spark_matrix_input(array: Any) -> Any:
    """What Spark's reader gives a matrix model for a non-numeric column: ``try_cast`` to double (a value
    that is not a number becomes null). The sample has a few rows, so per-value Python is fine here."""
    import pyarrow as pa

    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type):
        return array

    def number(v: Any) -> float | None:
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    return pa.array([number(v) for v in array.to_pylist()], pa.float64())


def predict_sample(adapter: Any, sample: Any, features: list[str], spec: ScoringSpec, log: Any) -> None:
    """Push ``sample`` through ``adapter.prepare`` + ``adapter.predict``; fail with the model's own error
    and the column types if it cannot predict.

    :param adapter: the loaded model
    :param sample: a ``pyarrow.Table`` of the feature columns
    :param log: a ``logging.Logger`` (or anything with its ``info``)
    """
    arrays = [sample.column(f) for f in features]
    if adapter.input_kind == "matrix":
        arrays = [_as_spark_matrix_input(a.combine_chunks()) for a in arrays]
    types = ", ".join(f"{f}: {sample.schema.field(f).type}" for f in features[:30])
    try:
        x = adapter.prepare(arrays, features, spec.fill_value)
        pred = adapter.predict(x)
    except Exception as err:  # noqa: BLE001 - any model error is the message
        raise ModelError(
            f"model {spec.model.uri} ({adapter.describe()}) cannot predict a sample of {sample.num_rows} rows of "
            f"input {spec.input.describe()}: {type(err).__name__}: {str(err)[:500]}; input column types: {types}"
        ) from err
    probs = pred.probabilities
    if probs is not None and adapter.classes is not None and probs.shape[1] != len(adapter.classes):
        raise ModelError(f"model {spec.model.uri} returned {probs.shape[1]} probabilities for "
                         f"{len(adapter.classes)} classes on a sample of the input")
    log.info("model %s predicted a sample of %s rows of %s (%s input)", spec.model.uri, sample.num_rows,
             spec.input.describe(), adapter.input_kind)
