"""Which adapter a model file gets: by what the file holds, not by its name.

1. :func:`sniff` looks at the first bytes: empty, a folder, XGBoost JSON/UBJ, LightGBM text, a
   joblib/pickle stream (plain or compressed), other JSON, other text, other binary.
2. Model formats load with their library; a joblib/pickle file is loaded with ``joblib.load`` and the
   object's type picks the adapter (:func:`adapter_for_object`):

   ============================================  ==========  ========================
   object                                         flavor      explicit flavors accepted
   ============================================  ==========  ========================
   ``xgboost.Booster``                            xgboost     xgboost
   ``xgboost.XGBModel`` (XGBClassifier, ...)      xgboost     xgboost, sklearn
   ``lightgbm.Booster``                           lightgbm    lightgbm
   ``lightgbm.LGBMModel`` (LGBMClassifier, ...)   lightgbm    lightgbm, sklearn
   anything else with ``predict`` (sklearn)       sklearn     sklearn
   ============================================  ==========  ========================
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.models.base import ModelAdapter

ACCEPTED = (
    "accepted: a joblib/pickle file of a scikit-learn estimator or Pipeline, an xgboost.Booster or "
    "XGBClassifier/XGBRegressor, a lightgbm.Booster or LGBMClassifier/LGBMRegressor; an XGBoost model "
    "saved with save_model (.json/.ubj); a LightGBM text model (Booster.save_model); a saved Spark ML "
    "PipelineModel folder"
)

#: file format -> flavor known without loading
FORMAT_FLAVOR = {"spark_folder": "spark_pipeline", "xgboost_json": "xgboost", "xgboost_ubj": "xgboost",
                 "lightgbm_text": "lightgbm"}

_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"]\x00\x00", b"\x04\x22\x4d\x18", b"\x28\xb5\x2f\xfd")
_HEAD = 4096


@dataclass
class FileKind:
    """What :func:`sniff` found.

    :param format: ``spark_folder``, ``folder``, ``empty``, ``xgboost_json``, ``xgboost_ubj``,
        ``lightgbm_text``, ``pickle``, ``json``, ``text`` or ``binary``
    :param detail: words for an error message (e.g. the first line of a text file)
    """

    format: str
    detail: str = ""


def sniff(path: str) -> FileKind:
    """Classify a model file or folder by its first bytes (see :class:`FileKind`).

    :param path: local path
    """
    if os.path.isdir(path):
        if os.path.isdir(os.path.join(path, "metadata")):
            return FileKind("spark_folder")
        return FileKind("folder", "a folder but not a saved Spark ML model (no metadata/)")
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        return FileKind("empty", "an empty file (0 bytes)")
    if head.startswith((b"tree\n", b"tree\r\n")):
        return FileKind("lightgbm_text")
    if head[:1] == b"\x80" or head.startswith(_COMPRESSED) or (head[:1] == b"x" and head[1:2] in b"\x01\x5e\x9c\xda"):
        return FileKind("pickle")
    if head[:1] == b"{" and b"learner" in head:
        if head[1:2] in (b'"', b" ", b"\n", b"\r", b"\t"):
            return FileKind("xgboost_json")
        return FileKind("xgboost_ubj")
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            top = json.loads(open(path, encoding="utf-8").read()) if os.path.getsize(path) < 1 << 20 else None
        except (ValueError, UnicodeDecodeError):
            top = None
        keys = f" with keys {sorted(top)[:8]}" if isinstance(top, dict) else ""
        return FileKind("json", f"a JSON file{keys} that is not an XGBoost model (no 'learner')")
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            first = text.strip().splitlines()[0][:60] if text.strip() else ""
            return FileKind("text", f"a text file starting with {first!r}")
    return FileKind("binary", f"a binary file starting with bytes {head[:8]!r}")


def load(path: str, flavor: str = "auto") -> ModelAdapter:
    """Load ``path`` into its adapter; ``flavor`` other than ``auto`` must fit what the file holds.

    :param path: local path of the model file
    :param flavor: ``auto``, ``sklearn``, ``xgboost`` or ``lightgbm``
    """
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    kind = sniff(path)
    if kind.format == "spark_folder":
        raise ModelError(f"model {path} is a saved Spark ML PipelineModel: use flavor 'spark_pipeline' or 'auto'")
    if kind.format in ("folder", "empty", "json", "text"):
        raise ModelError(f"model file {path} is {kind.detail}, not a model; {ACCEPTED}")
    try:
        if kind.format in ("xgboost_json", "xgboost_ubj"):
            _check_flavor(path, flavor, "an XGBoost model file", "xgboost", ("xgboost",))
            from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

            return XGBoostAdapter.load(path)
        if kind.format == "lightgbm_text":
            _check_flavor(path, flavor, "a LightGBM text model", "lightgbm", ("lightgbm",))
            from airflow_provider_spark_predict.models.lightgbm import LightGBMAdapter

            return LightGBMAdapter.load(path)
        obj = _unpickle(path, kind)
    except ModelError:
        raise
    except ImportError as err:
        raise ModelError(f"model {path} needs a module that cannot be imported here: {err}") from err
    except Exception as err:  # noqa: BLE001 - any library error means "unreadable"
        raise ModelError(
            f"model file {path} ({kind.format.replace('_', ' ')}) could not be loaded: {type(err).__name__}: {err}"
        ) from err
    return adapter_for_object(obj, path, flavor)


def _unpickle(path: str, kind: FileKind) -> Any:
    import pickle

    import joblib

    try:
        return joblib.load(path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as err:
        if kind.format == "binary":
            raise ModelError(f"model file {path} is {kind.detail}, not a model; {ACCEPTED}") from err
        raise ModelError(
            f"model file {path} looks like a joblib/pickle file but cannot be unpickled "
            f"({type(err).__name__}: {err}); is it truncated? {ACCEPTED}"
        ) from err


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _check_flavor(path: str, flavor: str, holds: str, natural: str, accepted: tuple[str, ...]) -> None:
    if flavor != "auto" and flavor not in accepted:
        raise ModelError(
            f"model file {path} holds {holds}, which is flavor {natural!r}, but flavor={flavor!r} was given: "
            f"use flavor={natural!r} or leave flavor='auto'"
        )


def _instance(obj: Any, module: str, *names: str) -> bool:
    mod = sys.modules.get(module)
    if mod is None:
        return False
    classes = tuple(c for c in (getattr(mod, n, None) for n in names) if isinstance(c, type))
    return bool(classes) and isinstance(obj, classes)


def adapter_for_object(obj: Any, path: str, flavor: str = "auto") -> ModelAdapter:
    """The adapter for an unpickled object, by its type (see the module table).

    :param obj: the object ``joblib.load`` returned
    :param path: the file it came from (for messages)
    :param flavor: ``auto`` or an explicit flavor to check against the object
    """
    what = f"a pickled {_type_name(obj)}"
    if _instance(obj, "xgboost", "Booster"):
        _check_flavor(path, flavor, what, "xgboost", ("xgboost",))
        from airflow_provider_spark_predict.models.xgboost import XGBoostAdapter

        return XGBoostAdapter.from_booster(obj, path)
    if _instance(obj, "xgboost", "XGBModel"):
        _check_flavor(path, flavor, what, "xgboost", ("xgboost", "sklearn"))
        from airflow_provider_spark_predict.models.xgboost import XGBModelAdapter

        return XGBModelAdapter(obj, path)
    if _instance(obj, "lightgbm", "Booster"):
        _check_flavor(path, flavor, what, "lightgbm", ("lightgbm",))
        from airflow_provider_spark_predict.models.lightgbm import LightGBMAdapter

        return LightGBMAdapter(obj, path)
    if _instance(obj, "lightgbm", "LGBMModel"):
        _check_flavor(path, flavor, what, "lightgbm", ("lightgbm", "sklearn"))
        from airflow_provider_spark_predict.models.lightgbm import LGBMModelAdapter

        return LGBMModelAdapter(obj, path)
    if not callable(getattr(obj, "predict", None)):
        raise ModelError(f"model file {path} holds {what}, not a model with predict(); {ACCEPTED}")
    _check_flavor(path, flavor, what, "sklearn", ("sklearn",))
    from airflow_provider_spark_predict.models.sklearn import SklearnAdapter

    return SklearnAdapter(obj, path)
