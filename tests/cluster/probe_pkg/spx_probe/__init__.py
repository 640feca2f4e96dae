"""Test-only scikit-learn estimators, installed ONLY in the packed scoring venv of tests/cluster.

``ProbeRegressor.predict`` returns, for every row, a code saying where it ran:
``1`` if the interpreter is a shipped ``environment/bin/python``, ``+2`` if ``pyjokes`` (only in the
packed venv) imports from that interpreter's prefix, ``+4`` if numpy is imported from that prefix.
``7`` therefore proves the row was scored by the shipped environment.

``SlowRegressor.predict`` returns the row sum of the features after sleeping ``sleep_s`` per batch, and
touches ``<marker_dir>/started-<pid>`` first, so a test knows scoring has begun on the executors.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


def where_code() -> float:
    prefix = os.path.realpath(sys.prefix)
    code = 1.0 if sys.executable.endswith("/environment/bin/python") else 0.0
    try:
        import pyjokes

        if os.path.realpath(pyjokes.__file__).startswith(prefix + os.sep):
            code += 2.0
    except ImportError:
        pass
    if os.path.realpath(np.__file__).startswith(prefix + os.sep):
        code += 4.0
    return code


class ProbeRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y=None):  # noqa: N803 - scikit-learn convention
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def predict(self, X):  # noqa: N803
        return np.full(len(X), where_code(), dtype=np.float64)


class SlowRegressor(ProbeRegressor):
    def __init__(self, sleep_s: float = 0.5, marker_dir: str = ""):
        self.sleep_s = sleep_s
        self.marker_dir = marker_dir

    def predict(self, X):  # noqa: N803
        if self.marker_dir:
            with open(os.path.join(self.marker_dir, f"started-{os.getpid()}"), "a") as fh:
                fh.write(f"{len(X)}\n")
        time.sleep(self.sleep_s)
        return np.asarray(X, dtype=np.float64).sum(axis=1)
