"""Common base of the local stage implementations: param access, allowlist checks, the row function type."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from airflow_provider_spark_predict.exceptions import LocalScoringError
from airflow_provider_spark_predict.sparkml.loader import effective_params

#: A compiled stage: updates the row dict in place; returns False when Spark would drop the row.
#: ``hints`` maps a column name to its Spark type name (``int``, ``long``, ``double``, ``string``...).
RowFn = Callable[[dict[str, Any], dict[str, str]], bool]

#: Params that never change how a fitted stage scores (fit-time settings, column roles of training).
FIT_ONLY_PARAMS = frozenset(
    {
        "labelCol",
        "weightCol",
        "maxIter",
        "tol",
        "regParam",
        "elasticNetParam",
        "fitIntercept",
        "standardization",
        "aggregationDepth",
        "family",
        "lowerBoundsOnCoefficients",
        "upperBoundsOnCoefficients",
        "lowerBoundsOnIntercepts",
        "upperBoundsOnIntercepts",
        "maxBlockSizeInMB",
        "solver",
        "loss",
        "epsilon",
        "maxDepth",
        "maxBins",
        "minInstancesPerNode",
        "minWeightFractionPerNode",
        "minInfoGain",
        "maxMemoryInMB",
        "cacheNodeIds",
        "checkpointInterval",
        "impurity",
        "seed",
        "subsamplingRate",
        "featureSubsetStrategy",
        "numTrees",
        "bootstrap",
        "stepSize",
        "lossType",
        "validationTol",
        "validationIndicatorCol",
        "strategy",
        "relativeError",
        "stringOrderType",
    }
)


class LocalStage:
    """One fitted Spark ML stage, re-implemented in plain Python.

    Subclasses set :attr:`SPARK_CLASSES` and :attr:`SCORING_PARAMS` (the params they implement), read
    their data in ``__init__`` and return a row function from :meth:`compile`.

    :param meta: parsed stage metadata.
    :param folder: the stage folder.
    """

    SPARK_CLASSES: ClassVar[tuple[str, ...]] = ()
    SCORING_PARAMS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, meta: dict[str, Any], folder: Path) -> None:
        self.meta = meta
        self.folder = folder
        self.spark_class: str = meta["class"]
        self.uid: str = meta.get("uid", "?")
        self.params = effective_params(meta)
        self.check_params()

    # ------------------------------------------------------------------ params
    @property
    def short_class(self) -> str:
        """The Spark class name without its package."""
        return self.spark_class.rsplit(".", 1)[-1]

    def refuse(self, param: str | None, why: str) -> LocalScoringError:
        """Build the load-time refusal error naming the stage class, uid and param.

        :param param: the param refused, if any.
        :param why: the reason.
        :return: the error to raise.
        """
        where = f"{self.short_class} (uid {self.uid})"
        if param:
            where += f", param {param!r}"
        return LocalScoringError(f"cannot score locally: {where}: {why}")

    def check_params(self) -> None:
        """Refuse explicitly set params that are neither implemented nor fit-only.

        :raises LocalScoringError: for an unknown explicitly set param.
        """
        for name in self.meta.get("paramMap") or {}:
            if name not in self.SCORING_PARAMS and name not in FIT_ONLY_PARAMS:
                raise self.refuse(name, "this param is not supported by the local scorer")

    def param(self, name: str, default: Any = None) -> Any:
        """Effective value of a param.

        :param name: param name.
        :param default: value when unset.
        :return: the value.
        """
        return self.params.get(name, default)

    def require_value(self, name: str, allowed: Iterable[Any], default: Any = None) -> Any:
        """Return a param value, refusing values the local scorer does not reproduce.

        :param name: param name.
        :param allowed: accepted values.
        :param default: value when unset.
        :return: the value.
        :raises LocalScoringError: for another value.
        """
        value = self.params.get(name, default)
        allowed = list(allowed)
        if value not in allowed:
            raise self.refuse(name, f"value {value!r} is not supported (supported: {allowed})")
        return value

    def in_out_cols(self) -> tuple[list[str], list[str]]:
        """Input and output columns from ``inputCol(s)`` / ``outputCol(s)`` (set ones win).

        :return: (input columns, output columns).
        :raises LocalScoringError: when they are missing or of different lengths.
        """
        set_params = self.meta.get("paramMap") or {}
        if "inputCols" in set_params:
            ins = list(set_params["inputCols"])
            outs = list(set_params.get("outputCols") or [])
        elif "inputCol" in set_params:
            ins = [set_params["inputCol"]]
            outs = [self.params["outputCol"]] if "outputCol" in self.params else []
        else:
            raise self.refuse("inputCol", "no input column set")
        if len(ins) != len(outs):
            raise self.refuse("outputCols", "input and output columns differ in number")
        return ins, outs

    # ------------------------------------------------------------------ interface
    @property
    def input_columns(self) -> list[str]:
        """Columns this stage reads."""
        raise NotImplementedError

    @property
    def output_columns(self) -> list[str]:
        """Columns this stage adds, in Spark's order."""
        raise NotImplementedError

    def vector_outputs(self) -> set[str]:
        """Output columns holding vectors."""
        return set()

    def compile(self) -> RowFn:
        """Return the row function of this stage."""
        raise NotImplementedError
