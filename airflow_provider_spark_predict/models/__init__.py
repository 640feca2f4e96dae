"""Model flavors behind one small interface, and the per-process model cache (imported by executors)."""

from __future__ import annotations

from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction, detect_flavor, load_model

__all__ = ["ModelAdapter", "Prediction", "detect_flavor", "load_model"]
