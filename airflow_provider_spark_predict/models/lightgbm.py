"""LightGBM Boosters saved as text model files."""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction


class LightGBMAdapter(ModelAdapter):
    """A ``lightgbm.Booster`` loaded from its text model file."""

    flavor = "lightgbm"

    @classmethod
    def load(cls, path: str) -> LightGBMAdapter:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=path), path)

    @property
    def feature_names(self) -> list[str] | None:
        return list(self.model.feature_name())

    @property
    def n_features(self) -> int | None:
        return int(self.model.num_feature())

    @property
    def classes(self) -> list[Any] | None:
        objective = str(self.model.params.get("objective", self.model.dump_model().get("objective", "")))
        if objective.startswith(("multiclass", "softmax", "multiclassova")):
            return list(range(self.model.dump_model()["num_class"]))
        if objective.startswith(("binary", "cross_entropy")):
            return [0, 1]
        return None

    @property
    def library_version(self) -> str | None:
        import lightgbm

        return f"lightgbm=={lightgbm.__version__}"

    def predict(self, features: np.ndarray) -> Prediction:
        out = np.asarray(self.model.predict(features, num_threads=1))
        classes = self.classes
        if classes is None:
            return Prediction(values=out.astype(np.float64).reshape(-1))
        if out.ndim == 1:
            out = np.column_stack([1.0 - out, out])
        return Prediction(probabilities=out.astype(np.float64))
