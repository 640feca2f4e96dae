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

from airflow_provider_spark_predict import embedded, exceptions
from airflow_provider_spark_predict.exceptions import JobError, SparkPredictError
from airflow_provider_spark_predict.spec import ScoringSpec

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB_MAIN = os.path.join(PACKAGE_DIR, "job", "main.py")
EMBEDDED_CONN = "spark_predict_embedded"
FLAVOR_MODULES = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "spark_pipeline": None}


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp + random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return keep[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8] if keep != text else keep


def report_folder(store_uri: str, spec: ScoringSpec) -> str:
    """``<store>/reports/<output table or path slug>/<partition path>``: the sensor looks here too."""
    target = spec.output.table or _slug(spec.output.path or "")
    part = "/".join(f"{k}={v}" for k, v in spec.output.partition.items())
    return f"{store_uri.rstrip('/')}/reports/{target}/{part}"


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
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.store_uri = (store_uri or embedded.default_store_uri()).rstrip("/")
        self.environment = environment
        self.spark_conf = dict(spark_conf or {})
        self.deploy_mode = deploy_mode
        self.storage_options = storage_options or {}
        self.submit_kwargs = dict(submit_kwargs or {})
        self._submit_hook: Any = None
        self.master: str | None = None

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

    # -- staging -----------------------------------------------------------------------------------
    def stage(self, spec: ScoringSpec) -> dict[str, Any]:
        """Stage the model (by content hash), this package's code and the environment; return facts."""
        from airflow_provider_spark_predict.staging import stage_environment, stage_file

        store = self._store()
        model_uri = spec.model.uri
        local_model = _local_path(model_uri)
        if "://" not in model_uri or model_uri.startswith("file://"):
            if not os.path.exists(local_model):
                raise exceptions.ModelError(f"model file {local_model} does not exist")
        model = stage_file(model_uri, store, kind="model", log=self.log)
        self.log.info("model %s staged as %s (%s bytes, cache %s)", model_uri, model.uri, model.size_bytes,
                      "hit" if model.cache_hit else "miss")
        name, data = package_zip()
        code_local = os.path.join(embedded.data_home(), "code", name)
        if not os.path.exists(code_local):
            os.makedirs(os.path.dirname(code_local), exist_ok=True)
            tmp = f"{code_local}.tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, code_local)
        code = stage_file(code_local, store, kind="code", log=self.log)
        required = ["pyspark", "pandas", "pyarrow", "numpy"]
        module = FLAVOR_MODULES.get(spec.model.flavor)
        if module:
            required.append(module)
        env = stage_environment(self.environment, store, required_modules=required, log=self.log)
        if env is not None:
            self.log.info("environment staged as %s (%s bytes, cache %s)", env.uri, env.size_bytes,
                          "hit" if env.cache_hit else "miss")
        return {"model": model, "code": code, "environment": env}

    # -- submission --------------------------------------------------------------------------------
    def build_conf(self, master: str, deploy_mode: str, env: Any) -> dict[str, Any]:
        """Spark conf: embedded Hive for local masters, environment archives, then the user's conf."""
        from airflow_provider_spark_predict.staging import environment_spark_conf

        conf: dict[str, Any] = {"spark.log.level": "WARN"}
        if master.startswith("local"):
            conf.update(embedded.hive_conf())
            conf["spark.pyspark.python"] = sys.executable
            conf["spark.pyspark.driver.python"] = sys.executable
        if env is not None:
            kind = (self.environment or {}).get("kind", "venv")
            conf.update(environment_spark_conf(env, master=master, deploy_mode=deploy_mode, env_kind=kind))
        conf.update(self.spark_conf)
        return conf

    def run(self, spec: ScoringSpec) -> dict[str, Any]:
        """Stage, submit and return the run report (raises the job's error if it failed)."""
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

        spec.validate()
        embedded.check_java()
        embedded.ensure_spark_submit_on_path()
        spec.run_id = spec.run_id or new_run_id()
        staged = self.stage(spec)
        spec.model.uri = staged["model"].uri
        folder = report_folder(self.store_uri, spec)
        spec.report_uri = f"{folder}/{spec.run_id}.json"
        spec_uri = f"{self.store_uri}/runs/{spec.run_id}/spec.json"
        self.write_text(spec_uri, spec.to_json())

        conn_id = self.resolve_conn_id()
        probe = SparkSubmitHook(conn_id=conn_id, deploy_mode=self.deploy_mode)
        self.master = probe._connection["master"]
        deploy_mode = probe._connection["deploy_mode"] or "client"
        conf = self.build_conf(self.master, deploy_mode, staged["environment"])
        env_vars = embedded.local_python_env() if self.master.startswith("local") else None
        self.log.info("submitting run %s to %s (%s mode): %s -> %s", spec.run_id, self.master, deploy_mode,
                      spec.input.describe(), spec.output.describe())
        self._submit_hook = SparkSubmitHook(
            conf=conf,
            conn_id=conn_id,
            py_files=_local_path(staged["code"].uri),
            name=f"spark-predict-{spec.output.table or 'path'}-{'-'.join(spec.output.partition.values())}",
            application_args=["--spec", spec_uri],
            env_vars=env_vars,
            deploy_mode=self.deploy_mode,
            **self.submit_kwargs,
        )
        submit_error: Exception | None = None
        try:
            self._submit_hook.submit(JOB_MAIN)
        except Exception as err:  # noqa: BLE001 - the report (if any) says more than the exit code
            submit_error = err
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
        if report.get("status") == "error":
            cls = getattr(exceptions, str(report.get("error_type")), None)
            if not (isinstance(cls, type) and issubclass(cls, SparkPredictError)):
                cls = JobError
            raise cls(f"{report.get('error')} (report: {spec.report_uri})")
        if submit_error is not None:
            raise JobError(f"spark-submit failed after the report was written: {submit_error}") from submit_error
        return report

    def on_kill(self) -> None:
        """Kill the Spark application (YARN app, k8s pod, standalone driver or the local spark-submit)."""
        if self._submit_hook is not None:
            self.log.info("killing the Spark application of this task")
            self._submit_hook.on_kill()
