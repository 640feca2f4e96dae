"""The package's one family of errors.

Every error raised on purpose by this package derives from :class:`SparkPredictError`, so a DAG
author can catch one type. Each subclass names a stage of the run.
"""

from __future__ import annotations


class SparkPredictError(Exception):
    """Base class of every error raised by airflow-provider-spark-predict."""


class SpecError(SparkPredictError, ValueError):
    """The scoring spec is invalid (a missing field, a bad identifier, an unsafe partition value)."""


class InputError(SparkPredictError):
    """The input is wrong: missing columns, an empty or missing partition, uncastable values."""


class ModelError(SparkPredictError):
    """The model cannot be used: missing or unreadable file, unsupported flavor, feature mismatch."""


class StagingError(SparkPredictError):
    """Packing or staging the Python environment or the model failed."""


class JobError(SparkPredictError):
    """The Spark job failed or did not produce a run report."""


class CheckFailed(SparkPredictError):
    """One or more result checks failed with policy ``fail``."""


class LocalScoringError(SparkPredictError):
    """The JVM-free scorer cannot load or score a saved Spark ML PipelineModel."""
