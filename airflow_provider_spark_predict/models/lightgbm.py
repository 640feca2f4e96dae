"""LightGBM: a ``Booster`` (text model file, or pickled) and a pickled ``LGBMModel`` (``LGBMClassifier``,
``LGBMRegressor``, scored through its own ``predict_proba``/``predict``).

Objective, class count and categorical columns are read once, at load. Input shape: a model trained on
a DataFrame with pandas ``category`` columns (``pandas_categorical`` recorded in the model) gets a pandas
DataFrame whose categorical columns carry the training categories; every other model gets the matrix.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.models.base import (
    ModelAdapter,
    Prediction,
    booster_prediction,
    python_scalars,
    unwrap,
)
from airflow_provider_spark_predict.models.sklearn import SklearnAdapter

_MULTI = ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr")
_BINARY = ("binary", "cross_entropy", "xentropy")


def booster_categories(booster: Any) -> dict[str, list[Any]]:
    """Column -> training categories of a Booster trained on pandas ``category`` columns (in the order
    of ``pandas_categorical``, which follows the categorical columns' order)."""
    cats = getattr(booster, "pandas_categorical", None) or []
    if not cats:
        return {}
    names = list(booster.feature_name())
    indices = booster.params.get("categorical_feature")
    if isinstance(indices, (int, str)):
        indices = [indices]
    if not indices:
        infos = booster.dump_model(num_iteration=0).get("feature_infos", {})
        indices = [i for i, n in enumerate(names) if (infos.get(n) or {}).get("values")]
    cols = [names[int(i)] if str(i).lstrip("-").isdigit() else str(i) for i in indices]
    return {c: python_scalars(v) for c, v in zip(cols, cats, strict=False)}


def booster_objective(booster: Any) -> tuple[str, int]:
    """(objective name, class count) of a Booster, from its parameters, else from ``dump_model`` once."""
    params = booster.params or {}
    objective = params.get("objective")
    num_class = params.get("num_class")
    if objective is None or num_class is None:
        dumped = booster.dump_model(num_iteration=0)
        objective = objective or dumped.get("objective", "")
        num_class = num_class or dumped.get("num_class", 1)
    return str(objective).split(" ")[0], int(num_class or 1)


class LightGBMAdapter(ModelAdapter):
    """A ``lightgbm.Booster`` (from a text model file, or pickled)."""

    flavor = "lightgbm"
    library = ("lightgbm", "lightgbm")

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        self.objective, self.num_class = booster_objective(model)
        self._categories = booster_categories(model)
        self._names = list(model.feature_name())
        self._n = int(model.num_feature())

    @classmethod
    def load(cls, path: str) -> LightGBMAdapter:
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=path), path)

    @property
    def classes(self) -> list[Any] | None:
        if self.objective.startswith(_MULTI):
            return list(range(self.num_class))
        if self.objective.startswith(_BINARY):
            return [0, 1]
        return None

    def predict(self, features: Any) -> Prediction:
        return booster_prediction(self.model.predict(unwrap(features), num_threads=1), self.classes)


class LGBMModelAdapter(SklearnAdapter):
    """A pickled ``lightgbm.LGBMModel``: its own ``predict_proba``/``predict``; feature names, categories
    and input shape from its Booster."""

    flavor = "lightgbm"
    library = ("lightgbm", "lightgbm")

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        booster = model.booster_
        self._categories = booster_categories(booster)
        self._frame_reasons = ["pandas category columns"] if self._categories else []
        self._names = list(booster.feature_name())
        self._n = int(booster.num_feature())
