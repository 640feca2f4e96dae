"""The engine interface: the steps of a run that depend on where the rows are (Spark, or this process).

:mod:`.sequence` calls these in order; an engine keeps its own state between the calls (the input it
read, the rows it scored).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_spark_predict.exceptions import InputError, ModelError
from airflow_provider_spark_predict.report import RunReport
from airflow_provider_spark_predict.run.facts import Frame
from airflow_provider_spark_predict.run.publish import Files
from airflow_provider_spark_predict.spec import ScoringSpec, TargetSpec


@dataclass
class LoadedModel:
    """The model, loaded and validated where the run decides (the Spark driver, or this process).

    :param flavor: resolved flavor
    :param library: ``name==version`` of the library that runs it
    :param features: the input columns, in the order the model reads them
    :param classes: class labels, ``None`` for regressors
    :param handle: the engine's own object (an adapter and its shipped name, a PipelineModel)
    :param has_probabilities: ``False`` for a classifier that predicts labels only (no score column)
    :param input_kind: ``matrix`` or ``frame`` (:mod:`airflow_provider_spark_predict.models.frames`);
        ``None`` for Spark ML pipelines, which read their own columns
    :param cast_rules: per feature column, what the model is given (filled in when the input is read)
    """

    flavor: str
    library: str | None
    features: list[str]
    classes: list[Any] | None
    handle: Any = None
    has_probabilities: bool = True
    input_kind: str | None = None
    cast_rules: list[dict[str, Any]] | None = None

    @property
    def is_spark_pipeline(self) -> bool:
        """A Spark ML PipelineModel reads and casts its own input columns."""
        return self.flavor == "spark_pipeline"


def resolve_features(spec: ScoringSpec, adapter: Any) -> list[str]:
    """The feature list: the spec's, else the model's; checked against the model's feature count and names."""
    features = spec.features or adapter.feature_names
    if not features:
        raise ModelError(
            f"model {spec.model.uri} does not record feature names; pass features=[...] explicitly"
        )
    n = adapter.n_features
    if n is not None and n != len(features):
        raise ModelError(
            f"model {spec.model.uri} expects {n} features but {len(features)} feature columns were given"
        )
    recorded = adapter.feature_names
    if spec.features and recorded and list(recorded) != list(spec.features):
        diff = [f"{a}!={b}" for a, b in zip(recorded, spec.features, strict=False) if a != b][:5]
        raise ModelError(
            f"feature columns differ from the names recorded in model {spec.model.uri} (first: {diff}); "
            "the order must be the training order"
        )
    return list(features)


def resolve_outputs(spec: ScoringSpec, model: LoadedModel, log: Any) -> ScoringSpec:
    """The spec with the output columns this model can give: a classifier without probabilities
    (``LinearSVC``) has no score column -- omitted with a log line, or an error naming the model when
    ``score_column`` (or ``probability_column``) was asked for explicitly.

    :param spec: the run's spec
    :param model: the loaded model
    :param log: ``engine.log``
    """
    o = spec.outputs
    if model.classes is None or model.has_probabilities:
        return spec
    what = f"model {spec.model.uri} ({model.flavor}) predicts classes without probabilities"
    if o.probability_column:
        raise ModelError(f"{what}: probability_column={o.probability_column!r} cannot be written")
    if o.score_column and o.score_column_explicit:
        raise ModelError(f"{what}: score_column={o.score_column!r} cannot be written; pass score_column=None")
    if not o.score_column:
        return spec
    log(f"{what}: score column {o.score_column!r} omitted")
    return dataclasses.replace(spec, outputs=dataclasses.replace(o, score_column=None))


def check_columns(columns: list[str], keys: list[str], features: list[str], what: str) -> None:
    """Fail before scoring when key or feature columns are missing, naming them.

    :param columns: the input's column names
    :param keys: key columns
    :param features: feature columns
    :param what: description of the input for the message
    """
    present = set(columns)
    missing_keys = [k for k in keys if k not in present]
    missing_features = [f for f in features if f not in present]
    if missing_keys or missing_features:
        parts = []
        if missing_keys:
            parts.append(f"key column(s) {missing_keys}")
        if missing_features:
            shown = missing_features[:20]
            more = f" and {len(missing_features) - 20} more" if len(missing_features) > 20 else ""
            parts.append(f"feature column(s) {shown}{more}")
        raise InputError(f"{what} is missing {' and '.join(parts)}; nothing was scored or written")


class Engine(Protocol):
    """One way of running the steps. ``name`` goes into the report (``spark``, ``in_process``)."""

    name: str

    @property
    def files(self) -> Files:
        """File operations on the output's (and the report's) filesystem."""
        ...

    def log(self, message: str) -> None:
        """A progress line."""
        ...

    def describe(self, report: RunReport) -> None:
        """Fill in where the run ran (application id, tracking URL, master)."""
        ...

    def load_model(self, spec: ScoringSpec) -> LoadedModel:
        """Load and validate the model."""
        ...

    def read_input(self, spec: ScoringSpec, model: LoadedModel) -> int:
        """Read the input partition, check its columns, keep it; return its row count (before ``filter``)."""
        ...

    def score(self, spec: ScoringSpec, model: LoadedModel) -> dict[str, Any]:
        """Plan the scoring of the input (lazily for Spark); return the strategy facts for the report."""
        ...

    def output_base(self, spec: ScoringSpec) -> str:
        """The table location (creating the table if needed) or the output path, fully qualified."""
        ...

    def write_version(self, path: str) -> None:
        """Write the scored rows to the version folder ``path``."""
        ...

    def worker_counters(self) -> tuple[int, float]:
        """Model loads and seconds inside the model's predict, over all workers, after the write."""
        ...

    def unseen_categories(self) -> dict[str, int]:
        """Categorical column -> values not seen in training (given to the model as missing), after the write."""
        ...

    def read_version(self, path: str) -> Frame:
        """The written rows of a folder (a version folder, or a published partition folder)."""
        ...

    def previous_table_partition(self, target: TargetSpec) -> dict[str, str] | None:
        """The newest partition of the output table before ``target.partition``."""
        ...

    def read_table_partition(self, target: TargetSpec, partition: dict[str, str]) -> Frame:
        """The rows of a published partition of the output table."""
        ...

    def publish_table(self, target: TargetSpec, version: str) -> str | None:
        """Point the table's partition at ``version``; return the location it pointed at before."""
        ...
