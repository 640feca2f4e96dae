"""SparkPredictHook: stage the model, code and environment, submit the scoring job, read its report.

The hook owns the work; the operator only turns arguments into a spec and a report into a result.
Submission goes through the Spark provider's :class:`SparkSubmitHook` (it builds the spark-submit
command, streams its output into the task log, tracks YARN/k8s/standalone drivers and kills them
``on_kill``). Nothing here imports pyspark, pandas or pyarrow.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_spark_predict import embedded, exceptions, preflight
from airflow_provider_spark_predict.exceptions import JobError, SparkPredictError
from airflow_provider_spark_predict.report import CHECKED_MARKER, report_folder
from airflow_provider_spark_predict.spec import ScoringSpec

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_MAIN = os.path.join(PACKAGE_DIR, "job", "main.py")
EMBEDDED_CONN = "spark_predict_embedded"
FLAVOR_MODULES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "spark_pipeline": None}


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp + random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def package_zip() -> tuple[str, bytes]:
    """Zip this package (for ``--py-files``) so executors can import the model cache; name carries its hash."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(PACKAGE_DIR):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".typed")):
                    full = os.path.join(root, name)
                    arc = os.path.relpath(full, os.path.dirname(PACKAGE_DIR))
                    info = zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0))
                    with open(full, "rb") as fh:
                        zf.writestr(info, fh.read())
    data = buf.getvalue()
    return f"airflow_provider_spark_predict-{hashlib.sha256(data).hexdigest()[:16]}.zip", data


def _local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


#: Record the hook writes after a cluster-mode submission that it tracks through the cluster's API.
SUBMITTED_RECORD = "_SUBMITTED.json"
#: Spec fields that decide what rows a run writes: a published run with the same values is a re-run.
IDENTITY_FIELDS = ("input", "model", "output", "keys", "features", "fill_value", "on_invalid", "outputs")
#: YARN application states of a running application (ResourceManager REST API).
YARN_ACTIVE = frozenset({"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING"})


def run_identity(spec: ScoringSpec | dict[str, Any]) -> dict[str, Any]:
    """What decides the rows of a run: input, staged model (its URI carries the content hash), output
    target and partition, keys, features, missing-value handling and output columns."""
    data = spec.to_dict() if isinstance(spec, ScoringSpec) else spec
    ident = {k: data.get(k) for k in IDENTITY_FIELDS}
    output = dict(ident.get("output") or {})
    output.pop("keep_previous_versions", None)
    ident["output"] = output
    return json.loads(json.dumps(ident, sort_keys=True, default=str))


def is_standalone(master: str) -> bool:
    """True for a Spark standalone master (``spark://``) or a ``local-cluster[...]`` test master."""
    return master.startswith(("spark://", "local-cluster"))


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
        self.master: str | None = None
        self.resolved_deploy_mode: str | None = None
        self.staged: dict[str, Any] = {}

    # -- connection ---------------------------------------------------------------------------------
    def resolve_conn_id(self) -> str:
        """The connection to submit with; falls back to the embedded ``local[*]`` default if missing."""
        try:
            self.get_connection(self.conn_id)
            return self.conn_id
        except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends
            if self.conn_id != self.default_conn_name:
                raise SparkPredictError(f"Spark connection {self.conn_id!r} does not exist") from None
        self.log.warning(
            "Spark connection %s does not exist: using the embedded default (local[*], embedded Hive "
            "metastore under %s)", self.conn_id, embedded.data_home(),
        )
        os.environ.setdefault(f"AIRFLOW_CONN_{EMBEDDED_CONN.upper()}", json.dumps({"conn_type": "spark", "host": "local[*]"}))
        return EMBEDDED_CONN

    # -- stores ------------------------------------------------------------------------------------
    def _store(self) -> Any:
        from airflow_provider_spark_predict.staging import open_store

        return open_store(self.store_uri, self.storage_options or None)

    def write_text(self, uri: str, text: str) -> None:
        import fsspec

        with fsspec.open(uri, "w", auto_mkdir=True, **self.storage_options) as fh:
            fh.write(text)

    def read_text(self, uri: str) -> str | None:
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri, **self.storage_options)
        if not fs.exists(path):
            return None
        with fs.open(path, "r") as fh:
            return fh.read()

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
        from airflow_provider_spark_predict.staging import stage_environment, stage_file

        store = self._store()
        if model is None:
            model = self.stage_model(spec)
        name, data = package_zip()
        code_local = os.path.join(embedded.data_home(), "code", name)
        if not os.path.exists(code_local):
            os.makedirs(os.path.dirname(code_local), exist_ok=True)
            tmp = f"{code_local}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, code_local)
        code = stage_file(code_local, store, kind="code", log=self._logger)
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

    # -- re-runs -----------------------------------------------------------------------------------
    def find_checked_report(self, spec: ScoringSpec) -> dict[str, Any] | None:
        """The published, checked report of an earlier run of the same partition with the same identity
        (:func:`run_identity`: input, staged model, output, keys, features, outputs), else ``None``.

        :param spec: the run, with ``model.uri`` already the staged (content-hashed) URI
        """
        uri = f"{report_folder(self.store_uri, spec.output)}/{CHECKED_MARKER}"
        text = self.read_text(uri)
        if text is None:
            self.log.info("no checked report at %s: scoring", uri)
            return None
        try:
            report = json.loads(text)
        except ValueError:
            self.log.warning("checked report %s is not JSON: scoring again", uri)
            return None
        if report.get("status") != "succeeded" or not report.get("published"):
            return None
        previous = run_identity(report.get("spec") or {})
        current = run_identity(spec)
        if previous != current:
            changed = sorted(k for k in current if previous.get(k) != current.get(k))
            self.log.info("checked report %s is of a different run (changed: %s): scoring", uri, changed)
            return None
        report["checked_report_uri"] = uri
        return report

    # -- submission --------------------------------------------------------------------------------
    def resolve_master(self) -> tuple[str, str, str]:
        """Resolve the connection to ``(conn_id, master, deploy_mode)`` and refuse unsupported modes.

        :raises SparkPredictError: cluster deploy mode on a standalone master (Spark itself refuses
            Python applications there: "Cluster deploy mode is currently not supported for python
            applications on standalone clusters"), before anything is staged or submitted
        """
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        conn_id = self.resolve_conn_id()
        probe = SparkSubmitHook(conn_id=conn_id, deploy_mode=self.deploy_mode)
        master = str(probe._connection["master"])
        deploy_mode = probe._connection["deploy_mode"] or "client"
        if deploy_mode not in ("client", "cluster"):
            raise SparkPredictError(f"deploy_mode must be 'client' or 'cluster', got {deploy_mode!r}")
        if deploy_mode == "cluster" and is_standalone(master):
            raise SparkPredictError(
                f"cluster deploy mode is not possible on the standalone master {master}: Spark does not run "
                "Python applications in cluster mode on standalone clusters. Use deploy_mode='client' "
                "(the driver then runs on the Airflow worker) or a YARN/Kubernetes master."
            )
        if deploy_mode == "cluster" and master.startswith("local"):
            raise SparkPredictError(f"cluster deploy mode makes no sense with the local master {master}")
        self.master, self.resolved_deploy_mode = master, deploy_mode
        return conn_id, master, deploy_mode

    def build_conf(self, master: str, deploy_mode: str, env: Any) -> dict[str, Any]:
        """Spark conf: embedded Hive for local masters, environment archives, then the user's conf."""
        from airflow_provider_spark_predict.staging import environment_spark_conf

        conf: dict[str, Any] = {"spark.log.level": "WARN"}
        if master.startswith("local") and "spark.hadoop.hive.metastore.uris" not in self.spark_conf:
            conf.update(embedded.hive_conf())  # starts the embedded metastore service if needed
        if master.startswith("local") or (env is None and is_standalone(master) and deploy_mode == "client"):
            # local, or no shipped environment on a standalone cluster: this interpreter for the driver and
            # the Python workers (it exists at the same path on every worker of a one-machine or identically
            # provisioned standalone cluster)
            conf["spark.pyspark.python"] = sys.executable
            conf["spark.pyspark.driver.python"] = sys.executable
        if env is not None:
            kind = (self.environment or {}).get("kind", "venv")
            conf.update(environment_spark_conf(env, master=master, deploy_mode=deploy_mode, env_kind=kind))
        conf.update(self.spark_conf)
        return conf

    def _tracking_kwargs(self, master: str, deploy_mode: str) -> dict[str, Any]:
        if not self.track_via_api:
            return {}
        if deploy_mode == "cluster" and master.startswith("yarn"):
            return {"yarn_track_via_rm_api": True}
        if deploy_mode == "cluster" and master.startswith("k8s://"):
            return {"track_driver_via_k8s_api": True}
        self.log.warning("track_via_api applies to YARN/Kubernetes cluster mode only; ignored for %s (%s mode)",
                         master, deploy_mode)
        return {}

    def prepare(self, spec: ScoringSpec, staged: dict[str, Any] | None = None) -> Any:
        """Stage everything, write the spec to the store and build the :class:`SparkSubmitHook`.

        Nothing is submitted; :meth:`run` calls this and then submits. ``spec.run_id``, ``spec.model.uri``
        (staged) and ``spec.report_uri`` are filled in.

        :param spec: the run (validated)
        :param staged: the result of :meth:`stage` if already done
        """
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        conn_id, master, deploy_mode = self.resolve_master()
        spec.run_id = spec.run_id or new_run_id()
        staged = staged or self.stage(spec)
        self.staged = staged
        spec.model.uri = staged["model"].uri
        folder = report_folder(self.store_uri, spec.output)
        spec.report_uri = f"{folder}/{spec.run_id}.json"
        spec_uri = f"{self.store_uri}/runs/{spec.run_id}/spec.json"
        self.write_text(spec_uri, spec.to_json())
        conf = self.build_conf(master, deploy_mode, staged["environment"])
        env_vars = embedded.local_python_env() if master.startswith("local") else None
        kwargs = {**self._tracking_kwargs(master, deploy_mode), **self.submit_kwargs}
        self._submit_hook = SparkSubmitHook(
            conf=conf,
            conn_id=conn_id,
            py_files=_local_path(staged["code"].uri),
            name=f"spark-predict-{spec.output.table or 'path'}-{'-'.join(spec.output.partition.values())}",
            application_args=["--spec", spec_uri],
            env_vars=env_vars,
            deploy_mode=self.deploy_mode,
            **kwargs,
        )
        return self._submit_hook

    def _submitted_uri(self, spec: ScoringSpec) -> str:
        return f"{report_folder(self.store_uri, spec.output)}/{SUBMITTED_RECORD}"

    def _record_submission(self, spec: ScoringSpec, app_id: str) -> None:
        record = {"run_id": spec.run_id, "application_id": app_id, "report_uri": spec.report_uri,
                  "master": self.master, "identity": run_identity(spec),
                  "submitted_at": datetime.now(UTC).isoformat()}
        self.write_text(self._submitted_uri(spec), json.dumps(record, sort_keys=True, indent=1))
        self.log.info("recorded application %s of run %s in %s", app_id, spec.run_id, self._submitted_uri(spec))

    def _follow(self, submit_hook: Any, app_id: str) -> None:
        """Wait for a cluster-mode application that spark-submit left running (YARN RM / k8s API)."""
        if submit_hook._is_kubernetes:
            phase = submit_hook._poll_k8s_driver_via_api()
            if phase not in (None, "Succeeded"):
                raise JobError(f"driver pod {app_id} ended in phase {phase}")
        else:
            submit_hook._start_yarn_application_status_tracking(app_id)

    def reattach(self, spec: ScoringSpec, master: str, deploy_mode: str) -> dict[str, Any] | None:
        """After a worker restart: follow the application an earlier try submitted, if it still runs.

        Only with ``track_via_api`` on YARN cluster mode (the RM says whether the recorded application
        is still active). Returns the report of that application, or ``None`` to submit afresh.
        """
        if not (self.track_via_api and deploy_mode == "cluster" and master.startswith("yarn")):
            return None
        text = self.read_text(self._submitted_uri(spec))
        if text is None:
            return None
        record = json.loads(text)
        if record.get("identity") != run_identity(spec):
            return None
        app_id = str(record["application_id"])
        probe = self.prepare_probe()
        status = probe.query_yarn_application_status(app_id)
        if status.upper() not in YARN_ACTIVE:
            text = self.read_text(record["report_uri"])
            finished = json.loads(text).get("status") if text else None
            if finished not in ("succeeded", "failed_checks"):
                self.log.info("recorded application %s is %s (report: %s): submitting again", app_id, status,
                              finished or "none")
                return None
        self.log.info("re-attaching to application %s of run %s (%s) instead of submitting again",
                      app_id, record["run_id"], status)
        self._submit_hook = probe
        probe._yarn_application_id = app_id
        if status.upper() in YARN_ACTIVE:
            self._follow(probe, app_id)
        spec.run_id, spec.report_uri = record["run_id"], record["report_uri"]
        return self._read_report(spec, None, {})

    def prepare_probe(self) -> Any:
        """A :class:`SparkSubmitHook` on the resolved connection with the tracking options (no conf)."""
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        conn_id = self.resolve_conn_id()
        kwargs = self._tracking_kwargs(self.master or "", self.resolved_deploy_mode or "client")
        return SparkSubmitHook(conn_id=conn_id, deploy_mode=self.deploy_mode, **kwargs)

    def run(self, spec: ScoringSpec, skip_if_checked: bool = False) -> dict[str, Any]:
        """Stage, submit and return the run report (raises the job's error if it failed).

        :param spec: the run
        :param skip_if_checked: if the store holds a published, checked report of this partition from a
            run with the same identity (same input, model content, output, columns), return that report
            and submit nothing (the report then has ``"resubmission_skipped"`` with the reason)
        """
        spec.validate()
        _, master, deploy_mode = self.resolve_master()
        preflight.check_model(spec, self._logger)
        model = self.stage_model(spec)
        spec.model.uri = model.uri
        if skip_if_checked:
            checked = self.find_checked_report(spec)
            if checked is not None:
                reason = (f"partition {spec.output.describe()} was already scored and checked by run "
                          f"{checked.get('run_id')} with the same input, model {model.uri} and outputs "
                          f"({checked['checked_report_uri']})")
                self.log.info("not submitting: %s", reason)
                checked["resubmission_skipped"] = reason
                return checked
        attached = self.reattach(spec, master, deploy_mode)
        if attached is not None:
            return attached
        embedded.check_java()
        embedded.ensure_spark_submit_on_path()
        staged = self.stage(spec, model=model)
        submit_hook = self.prepare(spec, staged)
        self.log.info("submitting run %s to %s (%s mode): %s -> %s", spec.run_id, master, deploy_mode,
                      spec.input.describe(), spec.output.describe())
        submit_error: Exception | None = None
        try:
            submit_hook.submit(JOB_MAIN)
            app_id = submit_hook._yarn_application_id or submit_hook._kubernetes_driver_pod
            if app_id and (submit_hook._should_track_yarn_application_via_rm_api()
                           or submit_hook._should_track_driver_via_k8s_api()):
                self._record_submission(spec, app_id)
                self._follow(submit_hook, app_id)
        except Exception as err:  # noqa: BLE001 - the report (if any) says more than the exit code
            submit_error = err
        return self._read_report(spec, submit_error, staged)

    def run_local(self, spec: ScoringSpec) -> dict[str, Any]:
        """Score ``spec`` in this process without Spark (``engine="local"``); same report and checks.

        :param spec: the run; needs ``input.path`` and ``output.path``
        """
        import fsspec

        from airflow_provider_spark_predict.inprocess import score_in_process

        spec.validate()
        spec.run_id = spec.run_id or new_run_id()
        original = spec.model.uri
        preflight.check_model(spec, self._logger)
        model = self.stage_model(spec)
        spec.model.uri = model.uri
        model_path = _local_path(model.uri) if model.uri.startswith("file://") else _local_path(original)
        fs, _ = fsspec.core.url_to_fs(spec.input.path or "", **self.storage_options)
        self.log.info("scoring %s in this process (engine=local), no Spark", spec.input.describe())
        return score_in_process(spec, model_path, self.store_uri, fs, self._logger)

    def _read_report(self, spec: ScoringSpec, submit_error: Exception | None, staged: dict[str, Any]) -> dict[str, Any]:
        text = self.read_text(spec.report_uri)
        if text is None:
            raise JobError(
                f"the scoring job wrote no report to {spec.report_uri}: {submit_error or 'unknown failure'}"
            ) from submit_error
        report = json.loads(text)
        report["staging"] = {k: (v.to_dict() if v is not None else None) for k, v in staged.items()}
        report["report_uri"] = spec.report_uri
        yarn_id = getattr(self._submit_hook, "_yarn_application_id", None)
        if yarn_id:
            report["application_id"] = yarn_id
        if not report.get("tracking_url"):
            report["tracking_url"] = self.tracking_url(report.get("application_id"))
        if report.get("status") == "error":
            cls = getattr(exceptions, str(report.get("error_type")), None)
            if not (isinstance(cls, type) and issubclass(cls, SparkPredictError)):
                cls = JobError
            raise cls(f"{report.get('error')} (report: {spec.report_uri})")
        if submit_error is not None:
            raise JobError(f"spark-submit failed after the report was written: {submit_error}") from submit_error
        return report

    def tracking_url(self, application_id: str | None) -> str | None:
        """A URL for the application when the job could not give one (its UI disabled, or cluster mode):
        the YARN ResourceManager's application page when the connection extra has
        ``yarn_resourcemanager_webapp_address``; else ``None``."""
        if not application_id or not (self.master or "").startswith("yarn"):
            return None
        try:
            extra = self.get_connection(self.resolve_conn_id()).extra_dejson
        except Exception:  # noqa: BLE001 - no connection, no URL
            return None
        rm = extra.get("yarn_resourcemanager_webapp_address")
        return f"{str(rm).rstrip('/')}/cluster/app/{application_id}" if rm else None

    def on_kill(self) -> None:
        """Kill the Spark application (YARN app, k8s pod, standalone driver or the local spark-submit)."""
        if self._submit_hook is not None:
            self.log.info("killing the Spark application of this task")
            hook = self._submit_hook
            if getattr(hook, "_yarn_track_via_rm_api", False) and hook._yarn_application_id:
                hook._kill_yarn_application(hook._yarn_application_id)
            else:
                hook.on_kill()
