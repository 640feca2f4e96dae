"""Per-process model cache: each Python worker loads a model file once, not once per batch or task.

Why a module of its own: PySpark pickles the function it runs on executors together with the globals of
the script that defined it, so a "module-level cache" in the spark-submit main script starts empty in
every task. A module that executors *import* (this one, shipped with ``--py-files`` or installed in the
environment) keeps its globals for the life of the Python worker, and Spark reuses workers across tasks
(``spark.python.worker.reuse``, on by default). The key includes the file's size and mtime, so a
different file at the same path is reloaded. ``load_count()`` lets the run report say how many loads
actually happened. After a load, freed heap is handed back to the OS (``malloc_trim``): parsing a large
model file (an XGBoost JSON model of 1,700 trees) leaves over 100 MB of freed but resident memory in
every worker otherwise.
"""

from __future__ import annotations

import os
import threading

from airflow_provider_spark_predict.models.base import ModelAdapter, load_model

_lock = threading.Lock()
_models: dict[tuple[str, str, int, float], ModelAdapter] = {}
_loads = 0


def get_model(path: str, flavor: str = "auto") -> ModelAdapter:
    """Return the loaded model for ``path``, loading it on the first call in this process.

    :param path: local path (e.g. from ``SparkFiles.get``)
    :param flavor: model flavor (see :func:`load_model`)
    """
    global _loads
    st = os.stat(path)
    key = (os.path.abspath(path), flavor, st.st_size, st.st_mtime)
    model = _models.get(key)
    if model is not None:
        return model
    with _lock:
        model = _models.get(key)
        if model is None:
            model = load_model(path, flavor)
            _models[key] = model
            _loads += 1
            release_free_memory()
    return model


def release_free_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``); does nothing where that is missing."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_count() -> int:
    """Number of model loads this process has done."""
    return _loads
