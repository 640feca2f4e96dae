"""Deprecated alias of :mod:`airflow_provider_spark_predict.sparkml` (the JVM-free Spark ML scorer).

Kept for one release so ``from airflow_provider_spark_predict.local import load_pipeline`` keeps working;
importing it warns (:class:`DeprecationWarning`). Only the package's public names are re-exported
(``load_pipeline``, ``LocalPipelineModel``); import submodules from ``sparkml`` instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from airflow_provider_spark_predict import sparkml as _sparkml

warnings.warn(
    "airflow_provider_spark_predict.local is deprecated and will be removed in the next release: "
    "import from airflow_provider_spark_predict.sparkml instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = list(_sparkml.__all__)


def __getattr__(name: str) -> Any:
    # Lazy like sparkml itself: importing this alias does not import pyarrow.
    if name in __all__:
        return getattr(_sparkml, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
