"""The model interface: load a file, predict a float matrix to probabilities or values."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_spark_predict.exceptions import ModelError

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Prediction:
    """What a flavor returns for a batch: class probabilities ``(n, k)`` or regression values ``(n,)``.

    :param probabilities: classifier output, one column per class in ``classes`` order
    :param values: regression / raw output, one value per row
    """

    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None


class ModelAdapter:
    """A loaded model of one flavor.

    :param model: the library object (sklearn estimator, xgboost Booster, lightgbm Booster)
    :param path: the file it was loaded from
    """

    flavor = "base"

    def __init__(self, model: Any, path: str) -> None:
        self.model = model
        self.path = path

    @property
    def feature_names(self) -> list[str] | None:
        """Feature names recorded by the model, in training order (``None`` if not recorded)."""
        return None

    @property
    def n_features(self) -> int | None:
        """Number of features the model expects (``None`` if unknown)."""
        return None

    @property
    def classes(self) -> list[Any] | None:
        """Class labels for classifiers (index -> label), ``None`` for regressors."""
        return None

    @property
    def library_version(self) -> str | None:
        """``name==version`` of the library that will run the model (for the report)."""
        return None

    def predict(self, features: np.ndarray) -> Prediction:
        """Predict a float matrix of shape ``(n_rows, n_features)``."""
        raise NotImplementedError


def detect_flavor(path: str) -> str:
    """Guess the flavor from the file: a folder with ``metadata/`` is a Spark ML model, ``.json``/``.ubj``
    an XGBoost model, a LightGBM text model starts with ``tree``; anything else is joblib/pickle.

    :param path: local path of the model file or folder
    """
    if os.path.isdir(path):
        if os.path.isdir(os.path.join(path, "metadata")):
            return "spark_pipeline"
        raise ModelError(f"model path {path} is a folder but not a saved Spark ML model (no metadata/)")
    lower = path.lower()
    if lower.endswith((".json", ".ubj", ".xgb")):
        return "xgboost"
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    if lower.endswith((".txt", ".lgb")):
        return "lightgbm"
    return "sklearn"


def load_model(path: str, flavor: str = "auto") -> ModelAdapter:
    """Load a model file into its adapter. Errors name the path and the reason.

    :param path: local path of the model file
    :param flavor: ``auto``, ``sklearn``, ``xgboost`` or ``lightgbm``
    """
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    if flavor == "auto":
        flavor = detect_flavor(path)
    try:
        if flavor == "sklearn":
            from airflow_provider_spark_predict.models.sklearn import SklearnAdapter

            return SklearnAdapter.load(path)
        if flavor == "xgboost":
            from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

            return XGBoostAdapter.load(path)
        if flavor == "lightgbm":
            from airflow_provider_spark_predict.models.lightgbm import LightGBMAdapter

            return LightGBMAdapter.load(path)
    except ModelError:
        raise
    except ImportError as err:
        raise ModelError(f"model {path} (flavor {flavor}) needs a module that cannot be imported here: {err}") from err
    except Exception as err:  # noqa: BLE001 - any library error means "unreadable"
        raise ModelError(
            f"model file {path} could not be loaded as flavor {flavor}: {type(err).__name__}: {err}"
        ) from err
    raise ModelError(f"model {path}: flavor {flavor!r} is not a supported single-machine flavor")
