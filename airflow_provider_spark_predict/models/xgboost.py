"""XGBoost: a ``Booster`` (JSON/UBJ model file, or pickled with joblib) and a pickled ``XGBModel``
(``XGBClassifier``/``XGBRegressor``, scored through its own ``predict_proba``/``predict``).

Input shape: a model trained with categorical features (``enable_categorical``, feature type ``c``) gets a
pandas DataFrame whose categorical columns carry the training categories recorded in the model (XGBoost
3.1+ records them); every other model gets the float matrix.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.models.base import (
    ModelAdapter,
    Prediction,
    booster_prediction,
    python_scalars,
    unwrap,
)
from airflow_provider_spark_predict.models.sklearn import SklearnAdapter


def booster_categories(booster: Any, path: str) -> dict[str, list[Any]]:
    """Training categories of a Booster's categorical features (feature type ``c``), by feature name.

    :raises ModelError: the model has categorical features but does not record their categories
    """
    types = list(booster.feature_types or [])
    names = list(booster.feature_names or [])
    cat_names = [n for n, t in zip(names, types, strict=False) if t == "c"]
    if not cat_names:
        return {}
    try:
        recorded = booster.get_categories(export_to_arrow=True).to_arrow() or []
    except Exception as err:  # noqa: BLE001 - older XGBoost: no get_categories
        raise ModelError(
            f"XGBoost model {path} has categorical features {cat_names} but its categories cannot be read "
            f"({type(err).__name__}: {err}); save it with XGBoost >= 3.1 from a pandas DataFrame"
        ) from err
    cats = {name: python_scalars(values.to_pylist()) for name, values in recorded if values is not None}
    missing = [n for n in cat_names if n not in cats]
    if missing:
        raise ModelError(
            f"XGBoost model {path} does not record the categories of its categorical features {missing}; "
            "train it on a pandas DataFrame with category columns and XGBoost >= 3.1"
        )
    return {n: cats[n] for n in cat_names}


class XGBoostAdapter(ModelAdapter):
    """An ``xgboost.Booster``; predicts with ``inplace_predict`` (no DMatrix copy).

    The objective and class count are read from the model config once, at load.
    """

    flavor = "xgboost"
    library = ("xgboost", "xgboost")

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        self._names = list(model.feature_names) if model.feature_names else None
        self._n = int(model.num_features())
        learner = json.loads(model.save_config())["learner"]
        self.objective = str(learner["objective"]["name"])
        self.num_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
        self._categories = booster_categories(model, path)

    @classmethod
    def load(cls, path: str) -> XGBoostAdapter:
        import xgboost as xgb

        booster = xgb.Booster()
        with open(path, "rb") as fh:
            booster.load_model(bytearray(fh.read()))  # format from the content, not the file name
        return cls.from_booster(booster, path)

    @classmethod
    def from_booster(cls, booster: Any, path: str) -> XGBoostAdapter:
        booster.set_param({"nthread": 1})
        return cls(booster, path)

    @property
    def classes(self) -> list[Any] | None:
        if self.objective.startswith("multi:"):
            return list(range(self.num_class))
        if self.objective in ("binary:logistic", "binary:hinge"):
            return [0, 1]
        return None

    @property
    def has_probabilities(self) -> bool:
        return self.objective in ("multi:softprob", "binary:logistic")

    def predict(self, features: Any) -> Prediction:
        """Predict a C-ordered float32/float64 matrix (NaN is XGBoost's "missing"), or the DataFrame of a
        categorical model."""
        x = unwrap(features)
        if isinstance(x, np.ndarray) and (x.dtype not in (np.float32, np.float64) or not x.flags.c_contiguous):
            keep = x.dtype in (np.float32, np.float64)
            x = np.ascontiguousarray(x, dtype=x.dtype if keep else np.float64)
        out = np.asarray(self.model.inplace_predict(x, missing=np.nan, validate_features=False))
        if self.objective in ("multi:softmax", "binary:hinge"):  # predicted classes, no probabilities
            return Prediction(labels=out.reshape(-1).astype(np.int64))
        return booster_prediction(out, self.classes)


class XGBModelAdapter(SklearnAdapter):
    """A pickled ``xgboost.XGBModel`` (``XGBClassifier``, ``XGBRegressor``): its own ``predict_proba`` /
    ``predict``; feature names, categories and input shape from its Booster."""

    flavor = "xgboost"
    library = ("xgboost", "xgboost")

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        booster = model.get_booster()
        self._categories = booster_categories(booster, path)
        self._frame_reasons = ["categorical features"] if self._categories else []
        names = booster.feature_names
        self._names = list(names) if names else None
        self._n = int(booster.num_features())
