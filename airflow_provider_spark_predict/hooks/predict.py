"""SparkPredictHook: stage the model, code and environment, submit the scoring job, read its report.

The hook owns the run; the operator only turns arguments into a spec and a report into a result. What
differs between Spark masters (conf, tracking, re-attach, kill) lives in
:mod:`airflow_provider_spark_predict.deploy`; code packaging in :mod:`~airflow_provider_spark_predict.staging.code`;
run identity and submission records in :mod:`airflow_provider_spark_predict.runs`. Submission goes through
the Spark provider's :class:`SparkSubmitHook`. Nothing here imports pyspark, pandas or pyarrow.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_spark_predict import embedded, exceptions, preflight, runs
from airflow_provider_spark_predict.deploy import Deployment, deployment_for, resolve_target
from airflow_provider_spark_predict.exceptions import JobError
from airflow_provider_spark_predict.report import RunReport, raise_if_error, report_folder
from airflow_provider_spark_predict.run.layout import status_uri
from airflow_provider_spark_predict.runs import new_run_id
from airflow_provider_spark_predict.spec import ScoringSpec
from airflow_provider_spark_predict.staging.store import Store
from airflow_provider_spark_predict.staging.store import local_path as _local_path

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_MAIN = os.path.join(PACKAGE_DIR, "job", "main.py")
#: Seconds between reads of the run's status file while an application is followed through the API.
STATUS_POLL_S = 10.0
FLAVOR_MODULES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "spark_pipeline": None}


class SparkPredictHook(BaseHook):
    """Run one scoring spec on Spark and return its run report.

    :param conn_id: Spark connection (``spark_default``). If it does not exist, the embedded default
        (``local[*]``, embedded Hive metastore, ``file://`` stores) is used and the log says so.
    :param store_uri: where models, environments, specs and reports are staged (``file://``, ``hdfs://``,
        ``webhdfs://``); default: ``file://`` under the embedded data folder
    :param environment: Python environment for executors (``{"kind": "venv"|"conda"|"archive", ...}``);
        ``None`` uses this interpreter (local mode, or a cluster where it exists on every node)
    :param spark_conf: extra Spark configuration
    :param deploy_mode: ``client`` or ``cluster`` (overrides the connection's extra)
    :param storage_options: fsspec options for the store (e.g. HDFS user)
    :param submit_kwargs: extra keyword arguments for :class:`SparkSubmitHook` (executor_memory,
        num_executors, yarn_queue, principal, keytab, ...)
    :param track_via_api: cluster deploy mode on YARN or Kubernetes: let spark-submit return once the
        application is accepted, then follow it through the YARN ResourceManager REST API
        (``yarn_track_via_rm_api``; the connection extra needs ``yarn_resourcemanager_webapp_address``)
        or the Kubernetes API (``track_driver_via_k8s_api``; needs the cncf.kubernetes provider and a
        namespace). The application id is recorded in the report store, so a retry after the Airflow
        worker restarted re-attaches to the running application instead of submitting it again.
        Ignored (with a warning) for other masters and for client mode.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "spark_default"
    conn_type = "spark"
    hook_name = "Spark Predict"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        store_uri: str | None = None,
        environment: dict[str, Any] | None = None,
        spark_conf: dict[str, Any] | None = None,
        deploy_mode: str | None = None,
        storage_options: dict[str, Any] | None = None,
        submit_kwargs: dict[str, Any] | None = None,
        track_via_api: bool = False,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.store_uri = (store_uri or embedded.default_store_uri()).rstrip("/")
        self.environment = environment
        self.spark_conf = dict(spark_conf or {})
        self.deploy_mode = deploy_mode
        self.storage_options = storage_options or {}
        self.submit_kwargs = dict(submit_kwargs or {})
        self.track_via_api = track_via_api
        self._submit_hook: Any = None
        self._deployment: Deployment | None = None
        self._store_cache: Store | None = None
        self.staged: dict[str, Any] = {}

    # -- connection ---------------------------------------------------------------------------------
    def resolve_deployment(self) -> Deployment:
        """Resolve the connection to its deployment backend (once) and refuse impossible modes.

        :raises SparkPredictError: a missing non-default connection, an unknown master, or a deploy mode
            the master cannot run (e.g. cluster mode on a standalone master), before anything is staged
        """
        if self._deployment is None:
            target = resolve_target(self.conn_id, self.default_conn_name, self.deploy_mode, self._logger)
            self._deployment = deployment_for(target, track_via_api=self.track_via_api, log=self._logger)
        return self._deployment

    @property
    def master(self) -> str | None:
        """The resolved Spark master (``None`` before :meth:`resolve_deployment`)."""
        return self._deployment.master if self._deployment else None

    # -- stores ------------------------------------------------------------------------------------
    def _store(self) -> Store:
        if self._store_cache is None:
            from airflow_provider_spark_predict.staging import open_store

            self._store_cache = open_store(self.store_uri, self.storage_options or None)
        return self._store_cache

    def read_text(self, uri: str) -> str | None:
        """The text at ``uri`` (a URI under the store), or ``None`` if absent."""
        store = self._store()
        return store.read_text(store.relative(uri))

    def write_text(self, uri: str, text: str) -> None:
        """Write ``text`` to ``uri`` (a URI under the store)."""
        store = self._store()
        store.write_text(store.relative(uri), text)

    @property
    def _logger(self) -> Any:
        """``self.log`` for the staging functions (they take any logger with ``info``/``warning``)."""
        return self.log

    # -- staging -----------------------------------------------------------------------------------
    def stage_model(self, spec: ScoringSpec) -> Any:
        """Stage the model file or folder by content hash (cheap when the store has it already)."""
        from airflow_provider_spark_predict.staging import stage_file

        model_uri = spec.model.uri
        local_model = _local_path(model_uri)
        if "://" not in model_uri or model_uri.startswith("file://"):
            if not os.path.exists(local_model):
                raise exceptions.ModelError(f"model file {local_model} does not exist")
        model = stage_file(model_uri, self._store(), kind="model", log=self._logger)
        self.log.info("model %s staged as %s (%s bytes, cache %s)", model_uri, model.uri, model.size_bytes,
                      "hit" if model.cache_hit else "miss")
        return model

    def stage(self, spec: ScoringSpec, model: Any = None) -> dict[str, Any]:
        """Stage the model (by content hash), this package's code and the environment; return facts.

        :param spec: the run
        :param model: the model, if already staged by :meth:`stage_model`
        """
        from airflow_provider_spark_predict.staging import stage_environment
        from airflow_provider_spark_predict.staging.code import stage_code

        store = self._store()
        if model is None:
            model = self.stage_model(spec)
        code = stage_code(store, os.path.join(embedded.data_home(), "code"), log=self._logger)
        # pyspark is not required inside a shipped environment: spark-submit puts Spark's own
        # pyspark.zip and py4j on the PYTHONPATH of the driver and of every Python worker.
        required = ["pandas", "pyarrow", "numpy"]
        module = FLAVOR_MODULES.get(spec.model.flavor)
        if module:
            required.append(module)
        env = stage_environment(self.environment, store, required_modules=required, log=self._logger)
        if env is not None:
            self.log.info("environment staged as %s (%s bytes, cache %s)", env.uri, env.size_bytes,
                          "hit" if env.cache_hit else "miss")
        return {"model": model, "code": code, "environment": env}

    # -- submission --------------------------------------------------------------------------------
    def prepare(self, spec: ScoringSpec, staged: dict[str, Any] | None = None) -> Any:
        """Stage everything, write the spec to the store and build the :class:`SparkSubmitHook`.

        Nothing is submitted; :meth:`run` calls this and then submits. ``spec.run_id``, ``spec.model.uri``
        (staged) and ``spec.report_uri`` are filled in.

        :param spec: the run (validated)
        :param staged: the result of :meth:`stage` if already done
        """
        deployment = self.resolve_deployment()
        spec.run_id = spec.run_id or new_run_id()
        staged = staged or self.stage(spec)
        self.staged = staged
        spec.model.uri = staged["model"].uri
        folder = report_folder(self.store_uri, spec.output)
        spec.report_uri = f"{folder}/{spec.run_id}.json"
        spec_uri = f"{self.store_uri}/runs/{spec.run_id}/spec.json"
        self.write_text(spec_uri, spec.to_json())
        env_kind = (self.environment or {}).get("kind", "venv")
        self._submit_hook = deployment.submit_hook(
            conf={**deployment.run_conf(spec.run_id),
                  **deployment.conf(staged["environment"], env_kind, self.spark_conf)},
            py_files=_local_path(staged["code"].uri),
            name=f"spark-predict-{spec.output.table or 'path'}-{'-'.join(spec.output.partition.values())}",
            application_args=["--spec", spec_uri],
            env_vars=deployment.env_vars(),
            **self.submit_kwargs,
        )
        return self._submit_hook

    def reattach(self, spec: ScoringSpec) -> dict[str, Any] | None:
        """After a worker restart: follow the application an earlier try submitted, if it still runs.

        Only where the backend can ask the cluster (YARN cluster mode with ``track_via_api``). Returns
        the report of that application, or ``None`` to submit afresh.

        :param spec: the run, with ``model.uri`` already the staged URI
        """
        found = self._recorded_application(spec)
        if found is None:
            return None
        record, submit_hook, active = found
        self._submit_hook = submit_hook
        spec.run_id, spec.report_uri = record["run_id"], record["report_uri"]
        if active:
            self._follow(spec, submit_hook, str(record["application_id"]))
        return self._read_report(spec, None, {})

    def _recorded_application(self, spec: ScoringSpec) -> tuple[dict[str, Any], Any, bool] | None:
        """The ``_SUBMITTED.json`` record of an earlier try whose application still runs, or ended with a
        finished report: ``(record, submit hook, still active)``; ``None`` to submit afresh."""
        deployment = self.resolve_deployment()
        record = runs.recorded_submission(self._store(), spec, self._logger) if deployment.track_via_api else None
        if record is None:
            return None
        app_id = str(record["application_id"])
        attached = deployment.attach(app_id)
        if attached is None:
            return None
        submit_hook, status, active = attached
        if not active:
            finished = runs.report_status(self._store(), record["report_uri"], self._logger)
            if finished not in runs.FINISHED_STATUSES:
                self.log.info("recorded application %s is %s (report: %s): submitting again", app_id, status,
                              finished or "none")
                return None
        self.log.info("re-attaching to application %s of run %s (%s) instead of submitting again",
                      app_id, record["run_id"], status)
        return record, submit_hook, active

    def run(self, spec: ScoringSpec, skip_if_checked: bool = False) -> dict[str, Any]:
        """Stage, submit and return the run report (raises the job's error if it failed).

        :param spec: the run
        :param skip_if_checked: if the store holds a published, checked report of this partition from a
            run with the same identity (same input, model content, output, columns), return that report
            and submit nothing (the report then has ``"resubmission_skipped"`` with the reason)
        """
        spec.validate()
        deployment = self.resolve_deployment()
        model = self._checked_model(spec)
        if skip_if_checked and (checked := self.checked_report(spec)) is not None:
            return checked
        attached = self.reattach(spec)
        if attached is not None:
            return attached
        embedded.check_java()
        embedded.ensure_spark_submit_on_path()
        staged = self.stage(spec, model=model)
        submit_hook = self.prepare(spec, staged)
        self.log.info("submitting run %s to %s (%s mode, %s backend): %s -> %s", spec.run_id, deployment.master,
                      deployment.target.deploy_mode, deployment.name, spec.input.describe(), spec.output.describe())
        submit_error: Exception | None = None
        try:
            app_id = deployment.submit(submit_hook, JOB_MAIN)
            if app_id:
                runs.record_submission(self._store(), spec, app_id, deployment.master, self._logger)
                self._follow(spec, submit_hook, app_id)
        except Exception as err:  # noqa: BLE001 - the report (if any) says more than the exit code
            submit_error = err
        return self._read_report(spec, submit_error, staged)

    def _follow(self, spec: ScoringSpec, submit_hook: Any, app_id: str) -> None:
        """Wait for a cluster-mode application through the cluster's API, logging the driver's new status
        lines (its stdout stays on the cluster) from the run's status file meanwhile."""
        from airflow_provider_spark_predict.triggers.status import StatusTail, StatusWatcher

        tail = StatusTail(status_uri(spec.report_uri), self.storage_options)
        with StatusWatcher(tail, self.log, interval_s=STATUS_POLL_S):
            self.resolve_deployment().follow(submit_hook, app_id)

    def _checked_model(self, spec: ScoringSpec) -> Any:
        """Check the model file (preflight) and stage it; ``spec.model.uri`` becomes the staged URI."""
        preflight.check_model(spec, self._logger)
        model = self.stage_model(spec)
        spec.model.uri = model.uri
        return model

    def checked_report(self, spec: ScoringSpec) -> dict[str, Any] | None:
        """``skip_if_checked``: the published, checked report of an earlier run with the same identity
        (with ``resubmission_skipped`` saying why nothing is submitted), else ``None``.

        :param spec: the run, with ``model.uri`` already the staged URI
        """
        checked = runs.find_checked_report(self._store(), spec, self._logger)
        if checked is None:
            return None
        reason = (f"partition {spec.output.describe()} was already scored and checked by run "
                  f"{checked.get('run_id')} with the same input, model {spec.model.uri} and outputs "
                  f"({checked['checked_report_uri']})")
        self.log.info("not submitting: %s", reason)
        checked["resubmission_skipped"] = reason
        return checked

    # -- deferral (YARN / Kubernetes cluster mode) ------------------------------------------------------
    def detached_deployment(self) -> Deployment:
        """The cluster-mode backend a deferred run needs (YARN through the RM REST API, Kubernetes through
        the Kubernetes API), with what its trigger needs from the connection.

        :raises SpecError: another master or deploy mode, or a missing connection extra
            (``yarn_resourcemanager_webapp_address``; ``namespace`` on Kubernetes)
        """
        if not self.track_via_api:
            self.track_via_api, self._deployment = True, None
        deployment = self.resolve_deployment()
        deployment.check_deferrable()
        return deployment

    def trigger(self, application_id: str, run_id: str, report_uri: str, poll_interval: float) -> Any:
        """The trigger that waits for ``application_id`` in the triggerer and logs the run's status lines.

        :param application_id: YARN application id or driver pod name
        :param run_id: the run
        :param report_uri: its report (handed back in the event, with ``run_id``)
        :param poll_interval: seconds between polls
        """
        return self.detached_deployment().trigger(
            application_id, poll_interval=poll_interval, context={"run_id": run_id, "report_uri": report_uri},
            status_uri=status_uri(report_uri), storage_options=self.storage_options or None)

    def prepare_detached(self, spec: ScoringSpec, skip_if_checked: bool = False) -> dict[str, Any] | None:
        """Before a deferred run: check and stage the model; with ``skip_if_checked`` return the checked
        report of the same run (nothing to submit), else ``None``.

        :param spec: the run
        :param skip_if_checked: as :meth:`run`
        """
        spec.validate()
        self.detached_deployment()
        self._checked_model(spec)
        return self.checked_report(spec) if skip_if_checked else None

    def active_submission(self, spec: ScoringSpec) -> tuple[str, str, str] | None:
        """A retry of a deferred run: ``(application id, run id, report URI)`` of the application an earlier
        try submitted (still running, or ended with a finished report), else ``None``.

        :param spec: the run, with ``model.uri`` already the staged URI (:meth:`prepare_detached`)
        """
        self.detached_deployment()
        found = self._recorded_application(spec)
        if found is None:
            return None
        record = found[0]
        return str(record["application_id"]), str(record["run_id"]), str(record["report_uri"])

    def submit_detached(self, spec: ScoringSpec) -> tuple[str, str, str]:
        """Stage and submit ``spec`` in cluster mode; return once YARN accepted it / the driver pod exists:
        ``(application id or driver pod, run id, report URI)``. The submission is recorded so a retry
        re-attaches.

        :param spec: the run, with ``model.uri`` already the staged URI (:meth:`prepare_detached`)
        :raises JobError: spark-submit gave no application id
        """
        deployment = self.detached_deployment()
        embedded.ensure_spark_submit_on_path()
        submit_hook = self.prepare(spec)  # the model is staged already: a cache hit
        self.log.info("submitting run %s to %s (cluster mode, deferrable, %s backend): %s -> %s", spec.run_id,
                      deployment.master, deployment.name, spec.input.describe(), spec.output.describe())
        app_id = deployment.submit(submit_hook, JOB_MAIN)
        if not app_id:
            raise JobError(f"spark-submit returned without an application id / driver pod for run {spec.run_id}")
        runs.record_submission(self._store(), spec, app_id, deployment.master, self._logger)
        return app_id, str(spec.run_id), str(spec.report_uri)

    def read_report(self, spec: ScoringSpec, ended: Exception | None = None) -> dict[str, Any]:
        """The run report at ``spec.report_uri`` after a deferred run (raises the job's error as :meth:`run`).

        :param spec: the run, with ``run_id`` and ``report_uri`` of the submitted application
        :param ended: why the application did not succeed (raised when its report has no error of its own)
        """
        self.resolve_deployment()
        return self._read_report(spec, ended, {})

    def run_in_process(self, spec: ScoringSpec) -> dict[str, Any]:
        """Score ``spec`` in this process without Spark (``engine="in_process"``); same report and checks.

        :param spec: the run; needs ``input.path`` and ``output.path``
        """
        return self.run_local(spec)

    def run_local(self, spec: ScoringSpec) -> dict[str, Any]:
        """Score ``spec`` in this process without Spark (``engine="in_process"``); same sequence, report
        and checks as the Spark job (:mod:`airflow_provider_spark_predict.in_process`).

        :param spec: the run; needs ``input.path`` and ``output.path``
        """
        from airflow_provider_spark_predict.in_process import run_in_process

        spec.validate()
        spec.run_id = spec.run_id or new_run_id()
        original = spec.model.uri
        preflight.check_model(spec, self._logger)
        model = self.stage_model(spec)
        spec.model.uri = model.uri
        model_path = _local_path(model.uri if model.uri.startswith("file://") else original)
        spec.report_uri = f"{report_folder(self.store_uri, spec.output)}/{spec.run_id}.json"
        self.log.info("scoring %s in this process (engine=in_process), no Spark", spec.input.describe())
        report = run_in_process(spec, model_path, self.storage_options, self._logger)
        report.report_uri = spec.report_uri
        raise_if_error(report)
        return report.to_dict()

    def _read_report(self, spec: ScoringSpec, submit_error: Exception | None, staged: dict[str, Any]) -> dict[str, Any]:
        text = self.read_text(spec.report_uri)
        if text is None:
            raise JobError(
                f"the scoring job wrote no report to {spec.report_uri}: {submit_error or 'unknown failure'}"
            ) from submit_error
        report = RunReport.from_json(text)
        report.staging = {k: (v.to_dict() if v is not None else None) for k, v in staged.items()}
        report.report_uri = spec.report_uri
        yarn_id = self.application_id()
        if yarn_id:
            report.application_id = yarn_id
        if not report.tracking_url:
            report.tracking_url = self.tracking_url(report.application_id)
        raise_if_error(report)
        if submit_error is not None:
            raise JobError(f"spark-submit failed after the report was written: {submit_error}") from submit_error
        return report.to_dict()

    def application_id(self) -> str | None:
        """The cluster's id of the submitted application (YARN), else ``None``."""
        if self._deployment is None or self._submit_hook is None:
            return None
        return self._deployment.application_id(self._submit_hook)

    def tracking_url(self, application_id: str | None) -> str | None:
        """A URL for the application when the job could not give one (its UI disabled, or cluster mode):
        the YARN ResourceManager's application page when the connection extra has
        ``yarn_resourcemanager_webapp_address``; else ``None``."""
        return self._deployment.tracking_url(application_id) if self._deployment else None

    def on_kill(self) -> None:
        """Kill the Spark application (YARN app, k8s pod, standalone driver or the local spark-submit)."""
        if self._submit_hook is not None and self._deployment is not None:
            self.log.info("killing the Spark application of this task (%s backend)", self._deployment.name)
            self._deployment.kill(self._submit_hook)
