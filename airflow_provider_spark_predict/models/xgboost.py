"""XGBoost Boosters (JSON/UBJ model files; a pickled ``XGBModel`` goes through the sklearn flavor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction

_PROBA_OBJECTIVES = ("multi:softprob", "multi:softmax", "binary:logistic", "binary:logitraw")


class XGBoostAdapter(ModelAdapter):
    """An ``xgboost.Booster``; predicts with ``inplace_predict`` (no DMatrix copy)."""

    flavor = "xgboost"

    @classmethod
    def load(cls, path: str) -> XGBoostAdapter:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(path)
        booster.set_param({"nthread": 1})
        return cls(booster, path)

    def _objective(self) -> str:
        import json

        cfg = json.loads(self.model.save_config())
        return str(cfg["learner"]["objective"]["name"])

    def _num_class(self) -> int:
        import json

        cfg = json.loads(self.model.save_config())
        return int(cfg["learner"]["learner_model_param"].get("num_class", "0") or 0)

    @property
    def feature_names(self) -> list[str] | None:
        names = self.model.feature_names
        return list(names) if names else None

    @property
    def n_features(self) -> int | None:
        return int(self.model.num_features())

    @property
    def classes(self) -> list[Any] | None:
        objective = self._objective()
        if objective.startswith("multi:"):
            return list(range(self._num_class()))
        if objective == "binary:logistic":
            return [0, 1]
        return None

    @property
    def library_version(self) -> str | None:
        import xgboost

        return f"xgboost=={xgboost.__version__}"

    def predict(self, features: np.ndarray) -> Prediction:
        out = np.asarray(self.model.inplace_predict(features, validate_features=False))
        classes = self.classes
        if classes is None:
            return Prediction(values=out.astype(np.float64).reshape(-1))
        if out.ndim == 1:  # binary:logistic gives P(class 1)
            out = np.column_stack([1.0 - out, out])
        return Prediction(probabilities=out.astype(np.float64))
