"""SparkPredictOperator: score one date partition with a single-machine model, as one task.

Thin by design: it turns its (templated) arguments into a :class:`ScoringSpec`, hands it to
:class:`SparkPredictHook`, logs the run report as a table, fails on failed checks and returns the
report (XCom). Importing this module imports neither pyspark, pandas nor pyarrow.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom
from airflow.sdk import BaseOperator

from airflow_provider_spark_predict.exceptions import CheckFailed
from airflow_provider_spark_predict.hooks.predict import SparkPredictHook
from airflow_provider_spark_predict.operators import deferral
from airflow_provider_spark_predict.operators.outlets import attach_event_extra, output_asset
from airflow_provider_spark_predict.report import RunReport, format_report
from airflow_provider_spark_predict.spec import (
    CheckSpec,
    InputSpec,
    ModelSpec,
    OutputsSpec,
    ScoringSpec,
    StrategySpec,
    TargetSpec,
)

XCOM_TRACKING_URL = "spark_tracking_url"


class _DefaultName(str):
    """An output column name the user did not choose (the operator's default), so the job may omit it."""


#: ``score_column``'s default: omitted (with a log line) for classifiers without probabilities, whereas a
#: ``score_column`` the user names explicitly makes such a model fail
DEFAULT_SCORE_COLUMN = _DefaultName("score")
#: ``engine`` values: spark-submit, or scoring in the task's own process without Spark.
ENGINE_SPARK = "spark"
ENGINE_IN_PROCESS = "in_process"
#: Deprecated ``engine`` spellings -> their name (accepted with a DeprecationWarning for one release).
DEPRECATED_ENGINES = {"local": ENGINE_IN_PROCESS}


def engine_name(engine: str) -> str:
    """The engine's name, from its name or a deprecated spelling (which warns).

    :param engine: ``spark``, ``in_process`` or the deprecated ``local``
    :raises ValueError: any other value
    """
    if engine in DEPRECATED_ENGINES:
        new = DEPRECATED_ENGINES[engine]
        warnings.warn(f"engine={engine!r} is deprecated and will be removed in the next release: use "
                      f"engine={new!r}", DeprecationWarning, stacklevel=3)
        return new
    if engine not in (ENGINE_SPARK, ENGINE_IN_PROCESS):
        raise ValueError(f"engine must be {ENGINE_SPARK!r} or {ENGINE_IN_PROCESS!r}, got {engine!r}")
    return engine


class SparkApplicationLink(BaseOperatorLink):
    """Link to the Spark application's tracking URL (YARN RM / Spark UI) of the run."""

    name = "Spark application"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(ti_key=ti_key, key=XCOM_TRACKING_URL) or ""


class SparkPredictOperator(BaseOperator):
    """Score one input partition and write exactly one output partition, checked.

    :param model: model file (joblib/pickle sklearn, XGBoost JSON/UBJ, LightGBM text) or saved Spark ML
        PipelineModel folder; local path or store URI (templated)
    :param keys: key columns passed through (e.g. ``["pin"]``); every key must appear once in the output
    :param input_table: Hive table to read (templated); or ``input_sql`` / ``input_path``
    :param input_partition: partition of the input, e.g. ``{"dt": "{{ ds }}"}`` (templated)
    :param input_sql: a query returning keys and features (templated)
    :param input_path: a parquet/ORC folder with ``dt=...`` sub-folders (templated)
    :param input_format: ``parquet`` or ``orc`` for ``input_path``
    :param input_filter: optional SQL boolean expression on the input rows (templated)
    :param output_table: Hive table to write (created if missing) (templated); or ``output_path``
    :param output_path: folder with ``dt=...`` sub-folders to write (templated)
    :param output_partition: partition written, replaced as a whole; default ``{"dt": "{{ ds }}"}``
    :param features: feature columns in training order; ``None`` reads them from the model (templated)
    :param fill_value: value for null/NaN features; ``None`` keeps NaN (XGBoost/LightGBM handle missing)
    :param on_invalid: non-numeric feature values: ``fill`` (treated as missing) or ``fail``
    :param flavor: ``auto``, ``sklearn``, ``xgboost``, ``lightgbm`` or ``spark_pipeline``
    :param prediction_column: predicted class (argmax) or regression value
    :param score_column: probability of the predicted class (``None`` to omit); for a classifier without
        probabilities (e.g. ``LinearSVC``) the default ``score`` column is omitted with a log line, and a
        name given explicitly fails the task naming the model
    :param probability_column: all class probabilities as ``array<double>`` (``None`` to omit)
    :param label_column: business label of the predicted class (needs ``label_mapping``)
    :param label_mapping: class -> business name
    :param strategy: ``map`` (default, no shuffle) or ``grouped`` (see README)
    :param reader: ``map`` only: ``auto`` (default: the Python workers read plain parquet partitions with
        pyarrow, else Spark reads), ``spark`` or ``pyarrow`` (see README)
    :param batch_rows: Arrow batch rows (default: from the row width)
    :param num_groups: grouped strategy: number of groups (default: rows / target_group_rows)
    :param target_group_rows: grouped strategy: rows per group
    :param checks: check name -> ``{"policy": "fail"|"warn"|"off", "threshold": ..., ...}`` overriding
        the defaults (see README)
    :param allow_empty_input: write an empty partition instead of failing on an empty input
    :param keep_previous_versions: superseded partition folders kept for rollback
    :param conn_id: Spark connection (``spark_default``; missing -> embedded local default)
    :param store_uri: store for models, environments, specs and reports (templated)
    :param environment: Python environment for executors (see README) (templated)
    :param spark_conf: extra Spark configuration (templated)
    :param deploy_mode: ``client`` or ``cluster``
    :param storage_options: fsspec options for the store
    :param submit_kwargs: extra SparkSubmitHook arguments (executor_memory, num_executors, yarn_queue, ...)
    :param engine: ``spark`` (default: spark-submit) or ``in_process``: score in this task's process without
        Spark (``input_path``/``output_path`` only; for small partitions, see README). ``local`` is the
        deprecated spelling of ``in_process`` (accepted with a warning for one release).
    :param skip_if_checked: submit nothing when the store already has a published, checked report of this
        output partition from a run with the same input, model content, output and columns; return that
        report. On a retry (``try_number > 1``) this is always done, so a retry after a worker restart
        does not score a finished partition again.
    :param track_via_api: YARN/Kubernetes cluster mode: release spark-submit once the application is
        accepted and follow it through the YARN ResourceManager REST API / Kubernetes API; a retry
        re-attaches to a still running YARN application (see :class:`SparkPredictHook`)
    :param deferrable: YARN or Kubernetes cluster mode: submit, then defer to :class:`YarnApplicationTrigger`
        / :class:`KubernetesDriverPodTrigger` until the application / driver pod ends (the worker slot is free
        meanwhile; the trigger logs the driver's status lines); needs the connection extra
        ``yarn_resourcemanager_webapp_address`` (YARN) or ``namespace`` (Kubernetes, see README); a retry
        re-attaches to the still running application / driver pod
    :param poll_interval: seconds between polls of the ResourceManager / Kubernetes API while deferred

    The output table (``hive://<db.table>``) or path is declared as an Asset outlet unless ``outlets`` is
    given or the target is templated; a published partition's asset event carries its partition, rows,
    check results, PSI and run id in ``extra``.
    """

    template_fields: Sequence[str] = (
        "model",
        "input_table",
        "input_partition",
        "input_sql",
        "input_path",
        "input_filter",
        "output_table",
        "output_path",
        "output_partition",
        "features",
        "store_uri",
        "environment",
        "spark_conf",
    )
    template_fields_renderers = {"input_sql": "sql", "spark_conf": "json", "environment": "json"}
    operator_extra_links = (SparkApplicationLink(),)
    ui_color = "#f4a460"

    def __init__(
        self,
        *,
        model: str,
        keys: list[str],
        input_table: str | None = None,
        input_partition: dict[str, str] | None = None,
        input_sql: str | None = None,
        input_path: str | None = None,
        input_format: str = "parquet",
        input_filter: str | None = None,
        output_table: str | None = None,
        output_path: str | None = None,
        output_partition: dict[str, str] | None = None,
        features: list[str] | None = None,
        fill_value: float | None = None,
        on_invalid: str = "fill",
        flavor: str = "auto",
        prediction_column: str = "prediction",
        score_column: str | None = DEFAULT_SCORE_COLUMN,
        probability_column: str | None = None,
        label_column: str | None = None,
        label_mapping: dict[Any, str] | None = None,
        strategy: str = "map",
        reader: str = "auto",
        batch_rows: int | None = None,
        num_groups: int | None = None,
        target_group_rows: int = 200_000,
        checks: dict[str, dict[str, Any]] | None = None,
        allow_empty_input: bool = False,
        keep_previous_versions: int = 1,
        conn_id: str = "spark_default",
        store_uri: str | None = None,
        environment: dict[str, Any] | None = None,
        spark_conf: dict[str, Any] | None = None,
        deploy_mode: str | None = None,
        storage_options: dict[str, Any] | None = None,
        submit_kwargs: dict[str, Any] | None = None,
        skip_if_checked: bool = False,
        engine: str = "spark",
        track_via_api: bool = False,
        deferrable: bool = False,
        poll_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs and (asset := output_asset(output_table, output_path)) is not None:
            kwargs["outlets"] = [asset]
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.model = model
        self.keys = keys
        self.input_table = input_table
        self.input_partition = input_partition
        self.input_sql = input_sql
        self.input_path = input_path
        self.input_format = input_format
        self.input_filter = input_filter
        self.output_table = output_table
        self.output_path = output_path
        self.output_partition = output_partition if output_partition is not None else {"dt": "{{ ds }}"}
        self.features = features
        self.fill_value = fill_value
        self.on_invalid = on_invalid
        self.flavor = flavor
        self.prediction_column = prediction_column
        self.score_column = score_column
        self.probability_column = probability_column
        self.label_column = label_column
        self.label_mapping = label_mapping
        self.strategy = strategy
        self.reader = reader
        self.batch_rows = batch_rows
        self.num_groups = num_groups
        self.target_group_rows = target_group_rows
        self.checks = checks
        self.allow_empty_input = allow_empty_input
        self.keep_previous_versions = keep_previous_versions
        self.conn_id = conn_id
        self.store_uri = store_uri
        self.environment = environment
        self.spark_conf = spark_conf
        self.deploy_mode = deploy_mode
        self.storage_options = storage_options
        self.submit_kwargs = submit_kwargs
        self.skip_if_checked = skip_if_checked
        self.engine = engine_name(engine)
        self.track_via_api = track_via_api
        self._hook: SparkPredictHook | None = None
        self._spec: ScoringSpec | None = None
        self._report: dict[str, Any] | None = None

    def build_spec(self) -> ScoringSpec:
        """Build and validate the scoring spec from the (rendered) arguments."""
        spec = ScoringSpec(
            input=InputSpec(
                table=self.input_table,
                partition=dict(self.input_partition or {}),
                sql=self.input_sql,
                path=self.input_path,
                format=self.input_format,
                filter=self.input_filter,
            ),
            model=ModelSpec(uri=self.model, flavor=self.flavor),
            output=TargetSpec(
                table=self.output_table,
                path=self.output_path,
                partition=dict(self.output_partition),
                keep_previous_versions=self.keep_previous_versions,
            ),
            keys=list(self.keys),
            features=list(self.features) if self.features else None,
            fill_value=self.fill_value,
            on_invalid=self.on_invalid,
            outputs=OutputsSpec(
                prediction_column=self.prediction_column,
                score_column=str(self.score_column) if self.score_column is not None else None,
                score_column_explicit=(self.score_column is not None
                                       and not isinstance(self.score_column, _DefaultName)),
                probability_column=self.probability_column,
                label_column=self.label_column,
                label_mapping=dict(self.label_mapping) if self.label_mapping else None,
            ),
            strategy=StrategySpec(
                name=self.strategy,
                reader=self.reader,
                batch_rows=self.batch_rows,
                num_groups=self.num_groups,
                target_group_rows=self.target_group_rows,
            ),
            checks={k: CheckSpec(**v) for k, v in (self.checks or {}).items()},
            allow_empty_input=self.allow_empty_input,
        )
        return spec.validate()

    def get_hook(self) -> SparkPredictHook:
        return SparkPredictHook(
            conn_id=self.conn_id,
            store_uri=self.store_uri,
            environment=self.environment,
            spark_conf=self.spark_conf,
            deploy_mode=self.deploy_mode,
            storage_options=self.storage_options,
            submit_kwargs=self.submit_kwargs,
            track_via_api=self.track_via_api,
        )

    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.build_spec()
        self.log.info("scoring %s with %s into %s", spec.input.describe(), spec.model.uri, spec.output.describe())
        self._hook = self.get_hook()
        ti = context.get("ti")
        try_number = int(getattr(ti, "try_number", 1) or 1)
        skip = self.skip_if_checked or try_number > 1
        if skip and not self.skip_if_checked:
            self.log.info("try %s: a partition already scored and checked by the same run is not scored again",
                          try_number)
        self._spec = spec
        if self.engine == ENGINE_IN_PROCESS:
            result = self._hook.run_in_process(spec)
        elif self.deferrable:
            result = deferral.defer_run(self, self._hook, spec, self.poll_interval, skip_if_checked=skip)
        else:
            result = self._hook.run(spec, skip_if_checked=skip)
        return self._finish(spec, result, context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the deferred application / driver pod ended: read the report, succeed or fail as
        ``execute``."""
        spec = self.build_spec()
        self._hook = self.get_hook()
        self.log.info("%s %s ended %s/%s", event.get("kind", "application"), event.get("application_id"),
                      event.get("state"), event.get("final_status"))
        return self._finish(spec, deferral.resume_report(self._hook, spec, event), context)

    def _finish(self, spec: ScoringSpec, result: dict[str, Any], context: Any) -> dict[str, Any]:
        ti = context.get("ti")
        self._spec = spec
        report = RunReport.from_dict(result)
        self._report = report.to_dict()
        self.log.info("\n%s", format_report(report))
        if report.tracking_url and ti is not None:
            ti.xcom_push(key=XCOM_TRACKING_URL, value=report.tracking_url)
        for check in report.checks:
            if check.status == "warned":
                self.log.warning("check %s", check.message)
        failed = report.failed_checks
        if failed or report.status == "failed_checks":
            raise CheckFailed(
                f"{len(failed)} check(s) failed for {spec.output.describe()}; the partition was NOT "
                f"published (the previous one is unchanged): " + "; ".join(c.message for c in failed)
            )
        attach_event_extra(list(self.outlets), context, self._report, self.log)
        return self._report

    def on_kill(self) -> None:
        if self._hook is not None:
            self._hook.on_kill()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: input partition, model file and environment archive in; output partition out.

        Returns ``OperatorLineage`` when the OpenLineage provider is installed, else ``None``.
        """
        from airflow_provider_spark_predict.lineage import operator_lineage

        if self._spec is None:
            return None
        return operator_lineage(self._spec, self._report or {}, log=self.log)
