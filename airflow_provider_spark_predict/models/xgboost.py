"""XGBoost Boosters (JSON/UBJ model files; a pickled ``XGBModel`` goes through the sklearn flavor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction

_PROBA_OBJECTIVES = ("multi:softprob", "multi:softmax", "binary:logistic", "binary:logitraw")


class XGBoostAdapter(ModelAdapter):
    """An ``xgboost.Booster``; predicts with ``inplace_predict`` (no DMatrix copy).

    The objective and class count are read from the model config once, not on every batch.
    """

    flavor = "xgboost"

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        self._config: tuple[str, int] | None = None

    @classmethod
    def load(cls, path: str) -> XGBoostAdapter:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(path)
        booster.set_param({"nthread": 1})
        return cls(booster, path)

    def _read_config(self) -> tuple[str, int]:
        if self._config is None:
            import json

            learner = json.loads(self.model.save_config())["learner"]
            objective = str(learner["objective"]["name"])
            num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
            self._config = (objective, num_class)
        return self._config

    def _objective(self) -> str:
        return self._read_config()[0]

    def _num_class(self) -> int:
        return self._read_config()[1]

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
        """Predict a C-ordered float32/float64 matrix; NaN is XGBoost's "missing"."""
        if features.dtype not in (np.float32, np.float64) or not features.flags.c_contiguous:
            keep = features.dtype in (np.float32, np.float64)
            features = np.ascontiguousarray(features, dtype=features.dtype if keep else np.float64)
        out = np.asarray(self.model.inplace_predict(features, missing=np.nan, validate_features=False))
        if self.classes is None:
            return Prediction(values=out.astype(np.float64).reshape(-1))
        if out.ndim == 1:  # binary:logistic gives P(class 1); 1 - p in float32 like XGBClassifier
            out = np.column_stack([1.0 - out, out])
        return Prediction(probabilities=out.astype(np.float64))
