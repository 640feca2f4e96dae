"""Score saved Spark ML PipelineModels without a JVM: plain Python on top of pyarrow (no pyspark).

Usage::

    from airflow_provider_spark_predict.sparkml import load_pipeline

    model = load_pipeline("/models/churn")          # or "file:///models/churn"
    frame = model.transform(pdf)                    # pandas in, pandas out, like Spark's transform
    rows = model.predict_rows({"plan": "pro", "age": 41.0})   # low-latency path for a few rows

Supported stages are listed in :data:`airflow_provider_spark_predict.sparkml.stages.STAGE_REGISTRY`;
anything else is refused by :func:`load_pipeline` with a
:class:`~airflow_provider_spark_predict.exceptions.LocalScoringError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_spark_predict.sparkml.pipeline import LocalPipelineModel, load_pipeline

__all__ = ["LocalPipelineModel", "load_pipeline"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing the package (e.g. at DAG parse time) does not import pyarrow.
    if name in __all__:
        from airflow_provider_spark_predict.sparkml import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
