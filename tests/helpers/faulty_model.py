"""A model that fails only inside Spark tasks: a fault injected into the score+write stage.

Everything before the executors (the Airflow worker's and the driver's sample predict) sees a working
model, so the failure happens where a real executor-side fault would: while the version folder is written.
"""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression


class FailsInSparkTasks(LogisticRegression):
    """``LogisticRegression`` whose ``predict_proba`` raises inside a Spark task (``TaskContext`` set)."""

    def predict_proba(self, X: Any) -> Any:  # noqa: N803 - scikit-learn's name
        from pyspark import TaskContext

        if TaskContext.get() is not None:
            raise RuntimeError("injected executor failure while scoring")
        return super().predict_proba(X)
