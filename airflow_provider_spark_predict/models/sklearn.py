"""scikit-learn (and compatible) estimators and pipelines saved with joblib or pickle.

Input shape rule (``input_kind``): a model gets a pandas DataFrame (``frame``) when, anywhere in it
(Pipeline steps, ColumnTransformer / FeatureUnion parts, fitted meta-estimator members):

* a ``ColumnTransformer`` selects columns by name (a string, a list of strings, or a callable such as
  ``make_column_selector``): it refuses a numpy matrix;
* a fitted encoder (anything with ``categories_``: OneHotEncoder, OrdinalEncoder, TargetEncoder) learned
  non-numeric categories: the column holds strings, which a float matrix cannot carry;
* a ``HistGradientBoosting*`` model that receives the raw input (the model itself, or the first step of a
  Pipeline) was fitted on a DataFrame with categorical columns (``categorical_features="from_dtype"``,
  or given by name/index): those columns are given as pandas ``category`` with the training categories.
  An HGB after other steps (e.g. ``Pipeline(ColumnTransformer(...), HGB(categorical_features=[0, 1]))``)
  gets the preceding steps' output, not the input columns: its categories stay inside the model.

Every other model gets the float matrix (the fast path), even if it recorded ``feature_names_in_``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from airflow_provider_spark_predict.models.base import ModelAdapter, Prediction, python_scalars, unwrap
from airflow_provider_spark_predict.models.frames import FRAME, MATRIX


def walk(est: Any, depth: int = 0) -> list[Any]:
    """``est`` and every estimator inside it (pipeline steps, column transformer parts, fitted members)."""
    if depth > 20:
        return []
    out = [est]
    children: list[Any] = []
    for _, step in getattr(est, "steps", None) or []:
        children.append(step)
    for item in getattr(est, "transformers_", None) or getattr(est, "transformers", None) or []:
        if isinstance(item, tuple) and len(item) >= 2:
            children.append(item[1])
    for _, part in getattr(est, "transformer_list", None) or []:
        children.append(part)
    for attr in ("estimator_", "best_estimator_", "final_estimator_", "regressor_"):
        child = getattr(est, attr, None)
        if child is not None:
            children.append(child)
    members = getattr(est, "estimators_", None)
    if isinstance(members, list):
        children.extend(m for m in members if hasattr(m, "fit"))
    for cc in getattr(est, "calibrated_classifiers_", None) or []:
        children.append(getattr(cc, "estimator", None))
    for child in children:
        if child is not None and not isinstance(child, str):
            out.extend(walk(child, depth + 1))
    return out


def _selects_by_name(columns: Any) -> bool:
    if isinstance(columns, str) or callable(columns):
        return True
    if isinstance(columns, slice):
        return isinstance(columns.start, str) or isinstance(columns.stop, str)
    try:
        values = list(columns)
    except TypeError:
        return False
    return any(isinstance(v, str) for v in values)


def _string_categories(categories: Any) -> bool:
    try:
        return any(np.asarray(c).dtype.kind in "OUS" for c in categories)
    except (TypeError, ValueError):
        return False


def raw_input_estimator(model: Any) -> Any:
    """The estimator that receives the model's input columns as they are: the model itself, or the first
    step of a Pipeline that is not ``None``/``"passthrough"``."""
    steps = [step for _, step in getattr(model, "steps", None) or [] if step is not None and step != "passthrough"]
    return steps[0] if steps else model


def frame_reasons(model: Any) -> list[str]:
    """Why ``model`` needs a DataFrame (empty: it takes a float matrix). See the module docstring."""
    reasons = []
    raw = raw_input_estimator(model)
    for est in walk(model):
        name = type(est).__name__
        if name == "ColumnTransformer":
            items = getattr(est, "transformers_", None) or getattr(est, "transformers", [])
            if any(isinstance(t, tuple) and len(t) >= 3 and _selects_by_name(t[2]) for t in items):
                reasons.append("a ColumnTransformer selects columns by name")
        cats = getattr(est, "categories_", None)
        if isinstance(cats, list) and _string_categories(cats):
            reasons.append(f"{name} was fitted on string categories")
        flags = getattr(est, "is_categorical_", None)
        if (est is raw and getattr(est, "_preprocessor", None) is not None and flags is not None and np.any(flags)
                and getattr(est, "feature_names_in_", None) is not None):
            reasons.append(f"{name} has categorical features from the DataFrame's dtypes")
    return list(dict.fromkeys(reasons))


def hgb_categories(model: Any, names: list[str]) -> dict[str, list[Any]]:
    """Training categories of the categorical columns of a ``HistGradientBoosting*`` model that receives the
    input columns as they are (:func:`raw_input_estimator`); ``{}`` for an HGB after other steps."""
    est = raw_input_estimator(model)
    pre = getattr(est, "_preprocessor", None)
    if pre is None or not names:
        return {}
    out: dict[str, list[Any]] = {}
    for _, transformer, cols in getattr(pre, "transformers_", []):
        cats = getattr(transformer, "categories_", None)
        if cats is None:
            continue
        picked = [names[c] if not isinstance(c, str) else c for c in _as_list(cols, len(names))]
        for col, values in zip(picked, cats, strict=False):
            out[col] = python_scalars(values)
    return out


def _as_list(cols: Any, n: int) -> list[Any]:
    arr = np.asarray(cols)
    if arr.dtype == bool:
        return [int(i) for i in np.flatnonzero(arr)]
    return [c.item() if hasattr(c, "item") else c for c in arr.reshape(-1)][:n]


class SklearnAdapter(ModelAdapter):
    """An estimator (or Pipeline) with ``predict_proba`` (classifier), ``predict`` only (classifier without
    probabilities: ``LinearSVC``; or a regressor)."""

    flavor = "sklearn"
    library = ("sklearn", "scikit-learn")

    def __init__(self, model: Any, path: str) -> None:
        super().__init__(model, path)
        names = getattr(model, "feature_names_in_", None)
        self._names = [str(n) for n in names] if names is not None else None
        n = getattr(model, "n_features_in_", None)
        self._n = int(n) if n is not None else None
        self._frame_reasons = frame_reasons(model)
        classes = getattr(model, "classes_", None)
        self._classes = python_scalars(classes) if classes is not None else None
        try:
            self._proba = self._classes is not None and callable(getattr(model, "predict_proba", None))
        except AttributeError:  # available_if: e.g. SVC(probability=False), Pipeline ending in LinearSVC
            self._proba = False
        self._categories = hgb_categories(model, self.feature_names or []) if self._frame_reasons else {}

    @classmethod
    def load(cls, path: str) -> SklearnAdapter:
        from airflow_provider_spark_predict.models.detect import load

        adapter = load(path, "sklearn")
        assert isinstance(adapter, SklearnAdapter)
        return adapter

    @property
    def classes(self) -> list[Any] | None:
        return self._classes

    @property
    def has_probabilities(self) -> bool:
        return self._proba

    @property
    def input_kind(self) -> str:
        return FRAME if self._frame_reasons else MATRIX

    @property
    def frame_reasons(self) -> list[str]:
        """Why this model gets a DataFrame (empty for the matrix path)."""
        return self._frame_reasons

    @property
    def categories(self) -> dict[str, list[Any]]:
        return self._categories

    def predict(self, features: Any) -> Prediction:
        x = unwrap(features)
        if isinstance(x, np.ndarray) and self.feature_names is not None:
            with warnings.catch_warnings():  # the matrix is in training order: names are not needed
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                return self._predict(x)
        return self._predict(x)

    def _predict(self, x: Any) -> Prediction:
        if self._proba:
            return Prediction(probabilities=np.asarray(self.model.predict_proba(x), dtype=np.float64))
        out = np.asarray(self.model.predict(x))
        if self._classes is not None:
            return Prediction(labels=out.reshape(-1))
        return Prediction(values=out.astype(np.float64).reshape(-1))
