"""Checks made on the Airflow worker before anything is submitted: the cluster is not spent on a run
that cannot work. Only what can be known without Spark is checked here; the job re-checks on its driver.
"""

from __future__ import annotations

import importlib.util
import logging
import os

from airflow_provider_spark_predict.exceptions import ModelError
from airflow_provider_spark_predict.spec import ScoringSpec

_LIBRARY_OF_FLAVOR = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm"}


def check_model(spec: ScoringSpec, log: logging.Logger | None = None) -> str | None:
    """Load a local model file once to check it is readable, of a supported flavor, and agrees with the
    feature list. Returns the detected flavor, or ``None`` when the check was skipped (remote URI, Spark ML
    folder, or the model library is not installed on this worker).

    :param spec: the validated scoring spec (``model.uri`` a local path or ``file://`` URI)
    :param log: logger for progress lines
    """
    log = log or logging.getLogger(__name__)
    uri = spec.model.uri
    if "://" in uri and not uri.startswith("file://"):
        log.info("model %s is remote: checked on the Spark driver instead", uri)
        return None
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist")
    from airflow_provider_spark_predict.models.base import detect_flavor, load_model

    flavor = spec.model.flavor if spec.model.flavor != "auto" else detect_flavor(path)
    if flavor == "spark_pipeline":
        return flavor
    library = _LIBRARY_OF_FLAVOR.get(flavor)
    if library is None or importlib.util.find_spec(library) is None:
        log.info("model library for flavor %s is not installed here: the model is checked on the driver", flavor)
        return None
    try:
        adapter = load_model(path, flavor)
    except ModelError as err:
        if isinstance(err.__cause__, ImportError):
            # the model needs a module this worker lacks (e.g. one only in the shipped environment)
            log.info("model %s needs a module not installed here (%s): checked on the driver", path, err.__cause__)
            return None
        raise
    n = adapter.n_features
    if spec.features is not None and n is not None and n != len(spec.features):
        raise ModelError(f"model {path} expects {n} features but {len(spec.features)} feature columns were given")
    if spec.features is None and not adapter.feature_names:
        raise ModelError(f"model {path} does not record feature names; pass features=[...] explicitly")
    log.info("model %s: flavor %s, %s features, %s", path, flavor, n, adapter.library_version)
    return flavor
