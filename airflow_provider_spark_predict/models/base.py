"""The model interface: load a file, turn Arrow arrays into the model's input, predict a batch.

One call sequence for every engine::

    adapter = load_model(path, flavor)                 # once per process (models.cache.get_model)
    x = adapter.prepare(arrow_arrays, names, fill_value)  # ModelInput: matrix or DataFrame
    pred = adapter.predict(x)                          # Prediction

The adapter is chosen by what the file holds (see :mod:`.detect`): a pickled ``xgboost.Booster`` is
XGBoost, not scikit-learn. ``input_kind`` says which input shape the model gets (see :mod:`.frames`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_spark_predict.exceptions import ModelError

if TYPE_CHECKING:
    import numpy as np

    from airflow_provider_spark_predict.models.frames import ModelInput


@dataclass
class Prediction:
    """What a flavor returns for a batch: exactly one of

    :param probabilities: classifier output ``(n, k)``, one column per class in ``adapter.classes`` order
    :param values: regression / raw output, one value per row
    :param labels: predicted class labels ``(n,)`` of a classifier that gives no probabilities
        (``LinearSVC``, XGBoost ``multi:softmax``): values of ``adapter.classes``; no score column exists
    """

    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None
    labels: np.ndarray | None = None


class ModelAdapter:
    """A loaded model of one flavor.

    :param model: the library object (sklearn estimator, xgboost Booster, lightgbm Booster, ...)
    :param path: the file it was loaded from
    """

    flavor = "base"
    #: (import name, distribution name) of the library that runs the model
    library: tuple[str, str] | None = None

    def __init__(self, model: Any, path: str) -> None:
        self.model = model
        self.path = path
        self._names: list[str] | None = None
        self._n: int | None = None
        self._categories: dict[str, list[Any]] = {}

    @property
    def feature_names(self) -> list[str] | None:
        """Feature names recorded by the model, in training order (``None`` if not recorded)."""
        return self._names

    @property
    def n_features(self) -> int | None:
        """Number of features the model expects (``None`` if unknown)."""
        return self._n

    @property
    def classes(self) -> list[Any] | None:
        """Class labels for classifiers (index -> label, Python scalars: ``int`` or ``str``), ``None`` for
        regressors."""
        return None

    @property
    def has_probabilities(self) -> bool:
        """Whether :meth:`predict` gives class probabilities (``False`` for regressors and for classifiers
        without ``predict_proba``, whose :class:`Prediction` carries ``labels``)."""
        return self.classes is not None

    @property
    def input_kind(self) -> str:
        """``matrix`` (a float matrix, the fast path) or ``frame`` (a pandas DataFrame with the training
        column names and types). See :mod:`.frames` and each adapter for the rule. Default: ``frame``
        exactly when the model records categorical columns."""
        return "frame" if self._categories else "matrix"

    @property
    def categories(self) -> dict[str, list[Any]]:
        """Column -> training categories of the columns the model treats as categorical (``frame`` only)."""
        return self._categories

    @property
    def library_version(self) -> str | None:
        """``name==version`` of the library that will run the model (for the report)."""
        if self.library is None:
            return None
        import importlib

        module, dist = self.library
        return f"{dist}=={getattr(importlib.import_module(module), '__version__', '?')}"

    def describe(self) -> str:
        """One line for logs and errors: what the file holds and how it is scored."""
        kind = type(self.model)
        return f"{kind.__module__}.{kind.__qualname__} (flavor {self.flavor}, {self.input_kind} input)"

    def prepare(self, arrays: Sequence[Any], names: Sequence[str], fill_value: float | None = None,
                buffer: np.ndarray | None = None, dtype: Any = None) -> ModelInput:
        """Turn one batch of Arrow arrays (one per feature, in ``names`` order = training order) into this
        model's input, without per-row Python.

        :param arrays: ``pyarrow.Array``/``ChunkedArray`` per feature column
        :param names: the feature column names
        :param fill_value: value for missing numeric features (``None`` keeps NaN)
        :param buffer: ``matrix`` only: a reusable 1-d buffer (see :func:`.frames.arrow_to_matrix`)
        :param dtype: ``matrix`` only: the matrix dtype decided for the whole input (``None``: this batch's
            :meth:`matrix_dtype`)
        """
        from airflow_provider_spark_predict.models import frames

        if self.input_kind == frames.FRAME:
            return frames.arrow_to_frame(arrays, names, self.categories, fill_value)
        x = frames.arrow_to_matrix(arrays, dtype or self.matrix_dtype(arrays), fill_value, buffer)
        return frames.ModelInput(x, x.shape[0])

    def matrix_dtype(self, arrays: Sequence[Any]) -> Any:
        """dtype of the matrix for these arrays (float32 when all are float32, else float64)."""
        from airflow_provider_spark_predict.models.frames import matrix_dtype

        return matrix_dtype(arrays)

    def predict(self, features: Any) -> Prediction:
        """Predict one batch: a :class:`.frames.ModelInput` from :meth:`prepare`, or its ``data`` (a float
        matrix ``(n_rows, n_features)``, or a DataFrame for ``frame`` models)."""
        raise NotImplementedError


def booster_prediction(out: Any, classes: list[Any] | None) -> Prediction:
    """A booster's raw output as a :class:`Prediction`: values for a regressor; probabilities for a
    classifier, where a 1-d output is P(class 1) of a binary model (``1 - p`` is computed in the output's
    own precision, as the libraries' sklearn wrappers do)."""
    import numpy as np

    out = np.asarray(out)
    if classes is None:
        return Prediction(values=out.astype(np.float64).reshape(-1))
    if out.ndim == 1:
        out = np.column_stack([1.0 - out, out])
    return Prediction(probabilities=out.astype(np.float64))


def unwrap(features: Any) -> Any:
    """The matrix/DataFrame of a :class:`.frames.ModelInput` (or ``features`` itself)."""
    from airflow_provider_spark_predict.models.frames import ModelInput

    return features.data if isinstance(features, ModelInput) else features


def python_scalars(values: Any) -> list[Any]:
    """numpy scalars -> Python scalars (``numpy.str_`` -> ``str``, ``numpy.int64`` -> ``int``)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def detect_flavor(path: str) -> str:
    """The flavor as far as the file format tells without loading it: ``spark_pipeline`` (a folder with
    ``metadata/``), ``xgboost`` (XGBoost JSON/UBJ), ``lightgbm`` (LightGBM text model), else ``auto``: a
    joblib/pickle file whose flavor is decided by the object it holds (:func:`load_model`; the loaded
    adapter's ``flavor`` is the answer).

    :param path: local path of the model file or folder
    """
    from airflow_provider_spark_predict.models.detect import FORMAT_FLAVOR, sniff

    kind = sniff(path)
    return FORMAT_FLAVOR.get(kind.format, "auto")


def load_model(path: str, flavor: str = "auto") -> ModelAdapter:
    """Load a model file into the adapter of what it holds. Errors name the path and the reason.

    :param path: local path of the model file
    :param flavor: ``auto``, or ``sklearn``, ``xgboost``, ``lightgbm`` as an override: a flavor that does
        not fit the file fails saying what the file holds and which flavor to use
    """
    from airflow_provider_spark_predict.models.detect import load

    if flavor not in ("auto", "sklearn", "xgboost", "lightgbm"):
        raise ModelError(f"model {path}: flavor {flavor!r} is not a supported single-machine flavor")
    return load(path, flavor)
