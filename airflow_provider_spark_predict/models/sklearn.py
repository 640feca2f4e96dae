"""scikit-learn (and compatible) estimators saved with joblib or pickle."""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction


class SklearnAdapter(ModelAdapter):
    """An estimator with ``predict_proba`` (classifier) or ``predict`` (regressor)."""

    flavor = "sklearn"

    @classmethod
    def load(cls, path: str) -> SklearnAdapter:
        import joblib

        model = joblib.load(path)
        if not hasattr(model, "predict"):
            raise ModelError(
                f"model file {path} holds a {type(model).__name__}, not an estimator with predict()"
            )
        return cls(model, path)

    @property
    def feature_names(self) -> list[str] | None:
        names = getattr(self.model, "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else None

    @property
    def n_features(self) -> int | None:
        n = getattr(self.model, "n_features_in_", None)
        return int(n) if n is not None else None

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None)
        if classes is None or not hasattr(self.model, "predict_proba"):
            return None
        return [c.item() if hasattr(c, "item") else c for c in classes]

    @property
    def library_version(self) -> str | None:
        import sklearn

        return f"scikit-learn=={sklearn.__version__}"

    def predict(self, features: np.ndarray) -> Prediction:
        if self.classes is not None:
            return Prediction(probabilities=np.asarray(self.model.predict_proba(features), dtype=np.float64))
        return Prediction(values=np.asarray(self.model.predict(features), dtype=np.float64).reshape(-1))
